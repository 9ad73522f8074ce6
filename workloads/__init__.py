"""``tpustack.workloads``: code that runs on TPU VMs and in pods (heartbeat, serving benchmark runner, result
normalizers, GCS writes). Imports nothing but the standard library and ``tpustack.core``; the rest of the
package is never shipped to a pod (tpustack.render.payload collects what each entry point imports)."""
