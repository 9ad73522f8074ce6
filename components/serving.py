"""Serving: a stack's Kubernetes side on its GKE cluster, through the cluster's Kubernetes provider.

Children (names ``<name>-<slug>``), all with the cluster's provider and after the resources the caller
passes in ``depends_on`` (the node pools, the Workload Identity binding):
  - the ``tpustack`` Namespace;
  - the Kubernetes service account the pods run as, annotated with the workload GSA for Workload Identity;
  - the Hugging Face token as a typed Secret, ``stringData`` from the Pulumi secret: the token exists
    nowhere else; pods read it with secretKeyRef;
  - for a multi-host slice, the LeaderWorkerSet controller: a Helm release of the official chart, pinned;
  - each app of ``components/manifests.py`` (checkpoint, serving, benchmark, heartbeat) as its own
    ``kubernetes:yaml/v2:ConfigGroup`` of plain objects, so `pulumi preview` and `tpustack plan` list them.
    The serving app waits for the checkpoint and the LWS controller, the benchmark for the serving app.

Everything is rendered, schema-validated and cross-checked before the first child is declared. Deliberately
not done here: the Custom Metrics Stackdriver Adapter the opt-in HPA needs, GKE Inference Gateway, Ray
clusters managed by KubeRay, and anything outside the ``tpustack`` and ``lws-system`` namespaces.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.yaml.v2 import ConfigGroup

from . import k8s_keys, manifests, naming
from .config import StackConfig
from .errors import ConfigError, problem

# kubernetes-sigs/lws site/content/en/docs/installation/_index.md ("Install by Helm"): chart
# oci://registry.k8s.io/lws/charts/lws, release lws in lws-system. The chart's values default the
# controller image tag to "main" (charts/lws/values.yaml image.manager.tag), so the tag is pinned too.
LWS_CHART = "oci://registry.k8s.io/lws/charts/lws"
LWS_CHART_VERSION = "0.10.0"
LWS_IMAGE_TAG = "v0.10.0"
LWS_NAMESPACE = "lws-system"

APP_ORDER = ("checkpoint", "serving", "benchmark", "heartbeat")


class Serving(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    service_account: k8s.core.v1.ServiceAccount
    hf_secret: k8s.core.v1.Secret | None
    lws_controller: k8s.helm.v3.Release | None
    apps: dict[str, ConfigGroup]
    rendered: manifests.Rendered
    endpoint: str | None  # in-cluster URL of the engine's Service

    def __init__(self, name: str, config: StackConfig, *, provider: k8s.Provider,
                 workload_sa_email: pulumi.Input[str], hf_token: pulumi.Input[str] | None,
                 depends_on: list[pulumi.Resource], opts: pulumi.ResourceOptions | None = None):
        # Validate before declaring anything, so a bad config leaves no half-made component behind.
        rendered = manifests.render(config)
        if k8s_keys.HF_SECRET in rendered.secrets and hf_token is None:
            raise ConfigError([problem("tpustack:hfToken", "the manifests read the Hugging Face token but none "
                                       "was passed to Serving", "pass hf_token=pulumi.Output.secret(...) from "
                                       "the config's hfToken")], config.stack)
        super().__init__("tpustack:serving:Serving", name, None, opts)
        self.rendered = rendered

        def child(deps: list[pulumi.Resource]) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(deps))

        labels = {k8s_keys.LABEL_PART_OF: "tpustack", k8s_keys.LABEL_MANAGED_BY: "pulumi",
                  k8s_keys.LABEL_STACK: naming.label_value(config.stack)}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata={"name": k8s_keys.NAMESPACE, "labels": labels},
            opts=child(depends_on))
        base: list[pulumi.Resource] = [*depends_on, self.namespace]
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-ksa",
            metadata={"name": k8s_keys.SERVING_KSA, "namespace": k8s_keys.NAMESPACE, "labels": labels,
                      "annotations": {k8s_keys.WI_ANNOTATION: workload_sa_email}},
            opts=child(base))
        base.append(self.service_account)
        self.hf_secret = None
        if k8s_keys.HF_SECRET in rendered.secrets and hf_token is not None:
            self.hf_secret = k8s.core.v1.Secret(
                f"{name}-hf-token",
                metadata={"name": k8s_keys.HF_SECRET, "namespace": k8s_keys.NAMESPACE, "labels": labels},
                type="Opaque",
                string_data={k8s_keys.HF_SECRET_KEY: pulumi.Output.secret(hf_token)},
                opts=child(base))
            base.append(self.hf_secret)

        self.lws_controller = None
        if any(o.get("kind") == "LeaderWorkerSet" for o in rendered.objects()):
            self.lws_controller = k8s.helm.v3.Release(
                f"{name}-lws",
                name="lws",
                chart=LWS_CHART,
                version=LWS_CHART_VERSION,
                namespace=LWS_NAMESPACE,
                create_namespace=True,
                values={"image": {"manager": {"tag": LWS_IMAGE_TAG, "pullPolicy": "IfNotPresent"}}},
                opts=child(depends_on))

        self.apps = {}
        for app in APP_ORDER:
            objs = rendered.apps.get(app)
            if not objs:
                continue
            deps = list(base)
            if app == "serving":
                deps += [self.apps[a] for a in ("checkpoint",) if a in self.apps]
                if self.lws_controller is not None:
                    deps.append(self.lws_controller)
            if app == "benchmark" and "serving" in self.apps:
                deps.append(self.apps["serving"])
            self.apps[app] = ConfigGroup(f"{name}-{app}", objs=objs, opts=child(deps))

        self.endpoint = None
        if config.engine is not None:
            self.endpoint = (f"http://{manifests.SERVER_NAMES[config.engine.name]}.{k8s_keys.NAMESPACE}"
                             f".svc.cluster.local:{config.engine.port}")
        self.register_outputs({"namespace": k8s_keys.NAMESPACE, "endpoint": self.endpoint,
                               "apps": sorted(self.apps), "clusterMinor": rendered.cluster_minor})
