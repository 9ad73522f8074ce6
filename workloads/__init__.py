"""Workloads that run on TPU VMs and in pods (heartbeat, serving benchmark, result normalizer)."""
