"""TpuVm: a Cloud TPU VM (or a queued resource) that runs a workload from workloads/ at boot.

The workload code goes to the results bucket as objects under ``_workloads/<stack>/`` (never inlined into
metadata); the startup script (workloads/tpu_vm_startup.sh.j2) copies it, installs PyTorch/XLA, runs the
heartbeat and writes the JSON result under ``gs://<bucket>/<stack>/<run-id>/``.

Capacity: on-demand; spot (``schedulingConfig.spot``); a reservation (``schedulingConfig.reserved``);
queued (``tpu.V2QueuedResource``). pulumi-gcp's queued-resource node spec carries only runtime version,
accelerator type, description and network, so a queued TPU VM gets no startup workload, service account or
labels (config warns) and flex-start is rejected (no provisioning-model field). Deliberately not done:
multi-slice, data disks, ssh keys (use `gcloud compute tpus tpu-vm ssh`).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pulumi
import pulumi_gcp as gcp

from . import naming
from .config import StackConfig

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ROOT / "workloads"
# PyTorch/XLA release pinned with its torch (pytorch/xla README: torch==X torch_xla[tpu]==X); plus the GCS
# client the heartbeat uses to write gs:// results.
PIP_PACKAGES = ["torch==2.8.0", "'torch_xla[tpu]==2.8.0'", "google-cloud-storage==2.19.0"]
TIMEOUTS = pulumi.CustomTimeouts(create="30m", delete="30m")


def workload_files() -> list[Path]:
    return sorted(p for p in WORKLOADS.glob("*.py"))


def render_startup(config: StackConfig, vm_name: str, workloads_uri: str, results_prefix: str) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    template = env.from_string((WORKLOADS / "tpu_vm_startup.sh.j2").read_text())
    w = config.workload
    assert w is not None
    return template.render(
        vm_name=vm_name, stack=config.stack, workloads_uri=workloads_uri, results_prefix=results_prefix,
        pip_packages=PIP_PACKAGES, backend="xla", dtype=w.dtype, shape=",".join(map(str, w.shape)),
        iterations=w.iterations, accelerator=config.shape.name,
    )


class TpuVm(pulumi.ComponentResource):
    vm: gcp.tpu.V2Vm | None = None
    queued: gcp.tpu.V2QueuedResource | None = None
    ip: pulumi.Output[str]

    def __init__(self, name: str, config: StackConfig, *, service_account: pulumi.Input[str],
                 results_bucket: pulumi.Input[str], labels: pulumi.Input[dict],
                 depends_on: list[pulumi.Resource], opts: pulumi.ResourceOptions | None = None):
        super().__init__("tpustack:tpu:TpuVm", name, None, opts)
        shape = config.shape
        vm_name = naming.resource_name(config.stack, limit=63)
        network = {"network": config.network.network, "enable_external_ips": not config.network.private_nodes}
        if config.network.subnetwork:
            network["subnetwork"] = config.network.subnetwork
        if config.capacity.type == "queued":
            self.queued = gcp.tpu.V2QueuedResource(
                f"{name}-queued",
                name=vm_name,
                project=config.project,
                zone=config.zone,
                tpu={"node_specs": [{
                    "parent": f"projects/{config.project}/locations/{config.zone}",
                    "node_id": vm_name,
                    "node": {"runtime_version": shape.runtime_version, "accelerator_type": shape.accelerator_type,
                             "description": f"tpustack stack {config.stack}",
                             "network_config": dict(network)},
                }]},
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on, custom_timeouts=TIMEOUTS,
                                            delete_before_replace=True),
            )
            self.ip = pulumi.Output.from_input("")
            self.register_outputs({"name": vm_name, "queuedResource": self.queued.name})
            return

        objects = []
        workloads_prefix = f"_workloads/{naming.label_value(config.stack)}"
        for path in workload_files():
            objects.append(gcp.storage.BucketObject(
                f"{name}-wl-{path.stem.strip('_').replace('_', '-')}",
                bucket=results_bucket,
                name=f"{workloads_prefix}/workloads/{path.name}",
                source=pulumi.FileAsset(str(path.relative_to(ROOT))),
                content_type="text/x-python",
                opts=pulumi.ResourceOptions(parent=self),
            ))
        startup = pulumi.Output.from_input(results_bucket).apply(lambda b: render_startup(
            config, vm_name, f"gs://{b}/{workloads_prefix}", f"gs://{b}/{naming.label_value(config.stack)}"))
        scheduling = {"spot": True} if config.capacity.type == "spot" else (
            {"reserved": True} if config.capacity.type == "reservation" else None)
        self.vm = gcp.tpu.V2Vm(
            f"{name}-vm",
            name=vm_name,
            project=config.project,
            zone=config.zone,
            accelerator_type=shape.accelerator_type,
            runtime_version=shape.runtime_version,
            scheduling_config=scheduling,
            service_account={"email": service_account,
                             "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
            network_config=network,
            shielded_instance_config={"enable_secure_boot": True},
            labels=labels,
            metadata={"startup-script": startup},
            description=f"tpustack stack {config.stack}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*depends_on, *objects],
                                        custom_timeouts=TIMEOUTS, delete_before_replace=True),
        )
        self.ip = self.vm.network_endpoints.apply(lambda eps: eps[0]["ip_address"] if eps else "")
        self.register_outputs({"name": self.vm.name, "ip": self.ip})
