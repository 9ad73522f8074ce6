"""Serving: a stack's Kubernetes side on its GKE cluster, through the cluster's Kubernetes provider.

Children (names ``<name>-<slug>``), all with the cluster's provider and after what the caller's
``opts.depends_on`` names (the node pools, the Workload Identity binding):
  - the stack's Namespace;
  - the Kubernetes service account the pods run as, annotated with the workload GSA for Workload Identity;
  - the Hugging Face token as a typed Secret, ``stringData`` from the Pulumi secret: the token exists nowhere
    else; pods read it with secretKeyRef;
  - for a multi-host slice, the LeaderWorkerSet controller: a Helm release of the official chart, pinned;
  - with serving variants behind GKE Inference Gateway: the InferenceObjective CRD (llm-d.ai/v1alpha2, llm-d-router
    v0.10.0) and llm-d-router's llm-d-router-gateway Helm chart (InferencePool + endpoint picker), pinned;
  - each rendered app (capacity, checkpoint, weights, autoscaling, serving, gateway, benchmark, heartbeat;
    tpustack.render) as its own ``kubernetes:yaml/v2:ConfigGroup`` of plain objects, so `pulumi preview` and
    `tpustack plan` list them. The weights app (the Hyperdisk ML volume) waits for the checkpoint (the weights it
    copies); the serving app for its ComputeClasses, the checkpoint, the weights and the LWS controller; the
    gateway for the serving app and the pool; the benchmark for the gateway (or the serving app).

The objects arrive rendered, schema-validated and cross-checked (before any resource of the stack was declared).
With an HPA, the autoscaling app is the Custom Metrics Stackdriver Adapter (cluster-wide: namespace
custom-metrics, RBAC, APIServices), before the serving app. Deliberately not done here: Ray clusters managed
by KubeRay, and anything outside the stack's namespace, ``lws-system`` and ``custom-metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.yaml.v2 import ConfigGroup

from tpustack.core import engines, names, router

from .base import inherited_depends_on

APP_ORDER = ("capacity", "checkpoint", "weights", "autoscaling", "serving", "gateway", "benchmark", "heartbeat")


@dataclass(frozen=True, kw_only=True)
class InferencePoolArgs:
    """GKE Inference Gateway's pool over the serving variants: llm-d-router's llm-d-router-gateway Helm chart
    (InferencePool, its endpoint picker with tpustack's EndpointPickerConfig in ``values``, GKE's health-check and
    backend policies) and the InferenceObjective CRD GKE does not install (tpustack.core.router)."""

    release: str  # the chart names the InferencePool after its release, the picker "<release>-epp"
    values: dict
    chart: str = router.ROUTER_CHART
    version: str = router.ROUTER_CHART_VERSION
    objective_crd: str = router.OBJECTIVE_CRD


@dataclass(frozen=True, kw_only=True)
class ServingArgs:
    provider: k8s.Provider  # the cluster's Kubernetes provider
    namespace: str
    service_account: str
    labels: dict[str, str]
    workload_service_account: pulumi.Input[str]  # GSA email the KSA acts as
    apps: dict[str, list[dict]]  # rendered objects per app
    hf_secret: str | None = None
    hf_secret_key: str | None = None
    hf_token: pulumi.Input[str] | None = None  # a Pulumi secret
    lws_controller: bool = False
    endpoint: str | None = None
    extra_outputs: dict[str, str] = field(default_factory=dict)
    pool: InferencePoolArgs | None = None


class Serving(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    service_account: k8s.core.v1.ServiceAccount
    hf_secret: k8s.core.v1.Secret | None
    lws_controller: k8s.helm.v3.Release | None
    apps: dict[str, ConfigGroup]
    endpoint: str | None  # in-cluster URL of the engine's Service

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None):
        if args.hf_secret is not None and args.hf_token is None:
            raise ValueError("Serving: hf_secret is set but no hf_token was passed")
        unknown = sorted(set(args.apps) - set(APP_ORDER))
        if unknown:
            raise ValueError(f"Serving: apps {unknown} have no place in the apply order {APP_ORDER}")
        super().__init__("tpustack:serving:Serving", name, None, opts)
        depends_on = inherited_depends_on(opts)
        self._provider = args.provider
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata={"name": args.namespace, "labels": args.labels}, opts=self._child(depends_on)
        )
        base: list[pulumi.Resource] = [*depends_on, self.namespace]
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-ksa",
            metadata={
                "name": args.service_account,
                "namespace": args.namespace,
                "labels": args.labels,
                "annotations": {names.WI_ANNOTATION: args.workload_service_account},
            },
            opts=self._child(base),
        )
        base.append(self.service_account)
        self.hf_secret = None
        if args.hf_secret is not None and args.hf_token is not None:
            self.hf_secret = k8s.core.v1.Secret(
                f"{name}-hf-token",
                metadata={"name": args.hf_secret, "namespace": args.namespace, "labels": args.labels},
                type="Opaque",
                string_data={args.hf_secret_key or "token": pulumi.Output.secret(args.hf_token)},
                opts=self._child(base),
            )
            base.append(self.hf_secret)
        self._controllers(name, args, depends_on, base)
        self.apps = {}
        for app in APP_ORDER:
            objs = args.apps.get(app)
            if objs:
                self.apps[app] = ConfigGroup(f"{name}-{app}", objs=objs, opts=self._child(base + self._app_deps(app)))

        self.endpoint = args.endpoint
        self.register_outputs(
            {"namespace": args.namespace, "endpoint": self.endpoint, "apps": sorted(self.apps), **args.extra_outputs}
        )

    def _child(self, deps: list[pulumi.Resource]) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=list(deps))

    def _controllers(
        self, name: str, args: ServingArgs, depends_on: list[pulumi.Resource], base: list[pulumi.Resource]
    ) -> None:
        """The LWS controller (multi-host slices) and the Inference Gateway's pool chart and objective CRD."""
        self.lws_controller = None
        if args.lws_controller:
            self.lws_controller = k8s.helm.v3.Release(
                f"{name}-lws",
                name="lws",
                chart=engines.LWS_CHART,
                version=engines.LWS_CHART_VERSION,
                namespace=engines.LWS_NAMESPACE,
                create_namespace=True,
                values={"image": {"manager": {"tag": engines.LWS_IMAGE_TAG, "pullPolicy": "IfNotPresent"}}},
                opts=self._child(depends_on),
            )
        self.objective_crd = self.pool = None
        if args.pool is not None:
            self.objective_crd = k8s.yaml.v2.ConfigFile(
                f"{name}-objective-crd", file=args.pool.objective_crd, opts=self._child(depends_on)
            )
            self.pool = k8s.helm.v3.Release(
                f"{name}-pool",
                name=args.pool.release,
                chart=args.pool.chart,
                version=args.pool.version,
                namespace=args.namespace,
                values=args.pool.values,
                # Moving the chart (GAIE inferencepool -> llm-d-router-gateway) changes the picker Deployment's
                # immutable selector (inferencepool: ... -> llm-d-router-gateway: ...), which a Helm upgrade cannot
                # patch: a new chart replaces the release, the old one first (same release name).
                opts=pulumi.ResourceOptions.merge(
                    self._child(base), pulumi.ResourceOptions(replace_on_changes=["chart"], delete_before_replace=True)
                ),
            )

    def _app_deps(self, app: str) -> list[pulumi.Resource]:
        """What an app waits for besides the namespace, KSA and Secret: the weights app for the checkpoint; the
        serving app for its ComputeClasses, the checkpoint, the weights and the LWS controller; the gateway for
        the serving app and the pool; the benchmark for the gateway (or the serving app)."""
        deps: list[pulumi.Resource] = []
        if app == "weights":
            deps += [self.apps[a] for a in ("checkpoint",) if a in self.apps]
        elif app == "serving":
            deps += [self.apps[a] for a in ("capacity", "checkpoint", "weights") if a in self.apps]
            if self.lws_controller is not None:
                deps.append(self.lws_controller)
        elif app == "gateway":
            deps += [self.apps[a] for a in ("serving",) if a in self.apps]
            deps += [r for r in (self.pool, self.objective_crd) if r is not None]
        elif app == "benchmark":
            deps += [self.apps[a] for a in ("gateway",) if a in self.apps] or [
                self.apps[a] for a in ("serving",) if a in self.apps
            ]
        return deps
