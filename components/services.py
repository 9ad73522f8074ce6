"""ProjectServices: the Google APIs a stack uses, enabled and never disabled on destroy.

Enabling an API returns before it works everywhere: for minutes afterwards calls can answer 403
"API has not been used in project ... or it is disabled" (pulumi/pulumi#12163,
hashicorp/terraform-provider-google#2129). The provider's own guide for google_project_service
("Using the time provider") waits with a time_sleep resource after enablement; we do the same with
pulumiverse-time's `Sleep`, keyed on the set of services so it waits only when that set changes (a
re-`up` of an existing stack does not sleep). Every resource that calls one of these APIs depends on
``ready``.

Deliberately not done: disabling APIs on destroy (other stacks and users of the project rely on them:
`disable_on_destroy=False`, `disable_dependent_services=False`), and project creation or billing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time

# The wait the provider guide's example uses; long enough for the 403 window reported in the issues above.
PROPAGATION = "60s"


@dataclass(frozen=True, kw_only=True)
class ProjectServicesArgs:
    project: str
    services: list[str]


class ProjectServices(pulumi.ComponentResource):
    services: dict[str, gcp.projects.Service]
    ready: pulumi.Resource

    def __init__(self, name: str, args: ProjectServicesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tpustack:project:ProjectServices", name, None, opts)
        wanted = sorted(set(args.services))
        self.services = {
            api: gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=args.project,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in wanted
        }
        self.ready = time.Sleep(
            f"{name}-propagation",
            create_duration=PROPAGATION,
            triggers={"services": ",".join(wanted)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.services.values())),
        )
        self.register_outputs({"services": wanted})
