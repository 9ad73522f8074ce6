"""TpuVm: a Cloud TPU VM (or a queued resource) that runs a workload at boot.

The workload code (a pod payload, tpustack.render.payload) goes to the results bucket as objects under
``_workloads/<stack>/`` (never inlined into metadata); the startup script (``manifests/tpu-vm/startup.sh.j2``,
rendered before any resource) copies it, installs PyTorch/XLA, runs the heartbeat and writes the JSON result
under ``gs://<bucket>/<stack>/<run-id>/``. Without a workload the VM boots bare (for ssh).

Capacity: on-demand; spot (``schedulingConfig.spot``); a reservation (``schedulingConfig.reserved``); queued
(``tpu.V2QueuedResource``). pulumi-gcp's queued-resource node spec carries only runtime version, accelerator
type, description and network, so a queued TPU VM gets no startup workload, service account or labels (config
warns) and flex-start is rejected (no provisioning-model field). Deliberately not done: multi-slice, data
disks, ssh keys (use `gcloud compute tpus tpu-vm ssh`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_gcp as gcp

from tpustack.core import names
from tpustack.core.capacity import CapacityType

from .base import inherited_depends_on

TIMEOUTS = pulumi.CustomTimeouts(create="30m", delete="30m")


@dataclass(frozen=True)
class WorkloadObject:
    """One file of the workload payload as a bucket object."""

    slug: str  # resource name suffix
    object_name: str  # name in the bucket
    content: str


@dataclass(frozen=True, kw_only=True)
class TpuVmArgs:
    project: str
    zone: str
    vm_name: str
    accelerator_type: str
    runtime_version: str
    capacity: CapacityType  # on-demand, spot, reservation or queued (flex-start: config rules refuse it here)
    description: str
    network: str
    subnetwork: str | None
    external_ips: bool
    service_account: pulumi.Input[str]
    labels: pulumi.Input[dict[str, str]]
    results_bucket: pulumi.Input[str]
    startup_script: str | None = None
    workload_objects: list[WorkloadObject] = field(default_factory=list)


class TpuVm(pulumi.ComponentResource):
    name: pulumi.Output[str]
    ip: pulumi.Output[str]

    def __init__(self, name: str, args: TpuVmArgs, opts: pulumi.ResourceOptions | None = None):
        if args.capacity not in CapacityType.values() or args.capacity == CapacityType.FLEX_START:
            raise ValueError(
                f"TpuVm: capacity {args.capacity!r} is not one a TPU VM can use (on-demand, spot, reservation, "
                "queued; flex-start needs a queued resource with a provisioning model, which pulumi-gcp lacks)"
            )
        capacity = CapacityType(args.capacity)
        super().__init__("tpustack:tpu:TpuVm", name, None, opts)
        deps = inherited_depends_on(opts)
        network: dict[str, Any] = {"network": args.network, "enable_external_ips": args.external_ips}
        if args.subnetwork:
            network["subnetwork"] = args.subnetwork
        if capacity is CapacityType.QUEUED:
            queued = gcp.tpu.V2QueuedResource(
                f"{name}-queued",
                name=args.vm_name,
                project=args.project,
                zone=args.zone,
                tpu=cast(
                    gcp.tpu.V2QueuedResourceTpuArgsDict,
                    {
                        "node_specs": [
                            {
                                "parent": f"projects/{args.project}/locations/{args.zone}",
                                "node_id": args.vm_name,
                                "node": {
                                    "runtime_version": args.runtime_version,
                                    "accelerator_type": args.accelerator_type,
                                    "description": args.description,
                                    "network_config": dict(network),
                                },
                            }
                        ]
                    },
                ),
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=deps, custom_timeouts=TIMEOUTS, delete_before_replace=True
                ),
            )
            self.name = queued.name
            self.ip = pulumi.Output.from_input("")
            self.register_outputs({"name": args.vm_name, "queuedResource": queued.name})
            return

        objects = [
            gcp.storage.BucketObject(
                f"{name}-wl-{obj.slug}",
                bucket=args.results_bucket,
                name=obj.object_name,
                source=pulumi.StringAsset(obj.content),
                content_type="text/x-python",
                opts=pulumi.ResourceOptions(parent=self, depends_on=deps),
            )
            for obj in args.workload_objects
        ]
        scheduling: gcp.tpu.V2VmSchedulingConfigArgsDict | None = None
        if capacity is CapacityType.SPOT:
            scheduling = {"spot": True}
        elif capacity is CapacityType.RESERVATION:
            scheduling = {"reserved": True}
        vm = gcp.tpu.V2Vm(
            f"{name}-vm",
            name=args.vm_name,
            project=args.project,
            zone=args.zone,
            accelerator_type=args.accelerator_type,
            runtime_version=args.runtime_version,
            scheduling_config=scheduling,
            service_account={
                "email": args.service_account,
                "scopes": [names.CLOUD_PLATFORM_SCOPE],
            },
            network_config=cast(gcp.tpu.V2VmNetworkConfigArgsDict, network),
            shielded_instance_config={"enable_secure_boot": True},
            labels=args.labels,
            metadata={"startup-script": args.startup_script} if args.startup_script else None,
            description=args.description,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*deps, *objects], custom_timeouts=TIMEOUTS, delete_before_replace=True
            ),
        )
        self.name = vm.name
        self.ip = vm.network_endpoints.apply(lambda eps: eps[0]["ip_address"] if eps else "")
        self.register_outputs({"name": vm.name, "ip": self.ip})
