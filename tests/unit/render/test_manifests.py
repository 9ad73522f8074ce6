"""Serving manifests: render -> yaml -> Kubernetes schema -> cross-checks, for every shipped stack and variant.

Layer (a) of the test design: pure functions, no Pulumi runtime. The Serving component under the mock
engine is in test_serving.py.
"""

from __future__ import annotations

import copy
import json
import re

import jinja2
import kubernetes_validate
import pytest

import tpustack
from tpustack import render
from tpustack.config import StackConfig, derived, load_config
from tpustack.config.autoscaling import scaling
from tpustack.config.project import SECRET_PLACEHOLDER, read_stack_file
from tpustack.core import engines, images
from tpustack.core import k8s as objects
from tpustack.core import names as k8s_keys
from tpustack.core.errors import ConfigError
from tpustack.core.k8s import CLUSTER_SCOPED
from tpustack.render import context as render_context
from tpustack.render import schema
from tpustack.render.checks import cross_problems

from helpers.project import BASE, PROJECT, SECRETS, STACKS, as_engine_values

TOKEN = SECRET_PLACEHOLDER.format(key="hfToken")
GKE_STACKS = [s for s in STACKS if load_config(*read_stack_file(PROJECT, s), s).target == "gke"]


def stack_cfg(stack: str) -> StackConfig:
    return load_config(*read_stack_file(PROJECT, stack), stack)


def make(stack: str = "t", **over) -> StackConfig:
    """BASE (conftest) with top-level keys replaced: make(accelerator="h100-8", engine={...})."""
    doc = copy.deepcopy(BASE)
    for k, v in over.items():
        key = f"tpustack:{k}"
        if v is None:
            doc.pop(key, None)
        else:
            doc[key] = v
    return load_config(as_engine_values(doc), {k for k in SECRETS if k in doc}, stack)


_CACHE: dict[str, render.Rendered] = {}


def rendered(stack: str) -> render.Rendered:
    if stack not in _CACHE:
        _CACHE[stack] = render.render(stack_cfg(stack))
    return _CACHE[stack]


def one(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, [(o["kind"], o["metadata"]["name"]) for o in objs]
    return found[0]


def container(obj, name, part="template"):
    spec = obj["spec"]
    pod = spec["leaderWorkerTemplate"][part]["spec"] if obj["kind"] == "LeaderWorkerSet" else spec["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == name), pod


def env_of(c):
    return {e["name"]: e for e in c.get("env", [])}


def problems_of(excinfo) -> list[str]:
    return excinfo.value.lines()


def assert_names_field_and_fix(lines: list, field: str, *words: str) -> None:
    lines = [str(p) for p in lines]
    hits = [p for p in lines if p.startswith(field + ":")]
    assert hits, f"no problem names {field}: {lines}"
    assert all("Fix:" in p for p in hits), hits
    for w in words:
        assert any(w in p for p in hits), (w, hits)


# ----- every shipped stack renders and validates -------------------------------------------------------------
class TestShippedStacksValidate:
    def test_there_are_serving_stacks(self):
        assert {"gke-vllm-v6e", "gke-vllm-gpu", "gke-vllm-v6e-multihost", "gke-jetstream-v5e"} <= set(GKE_STACKS)

    @pytest.mark.parametrize("stack", GKE_STACKS)
    def test_every_object_validates_against_the_cluster_schema(self, stack):
        r = rendered(stack)
        assert r.objects(), stack
        minor = schema.validation_minor(r.cluster_minor)
        custom = set(schema.CRD_FIELDS) | set(schema.CRD_SCHEMAS)
        core = [o for o in r.objects() if (o["apiVersion"], o["kind"]) not in custom]
        for o in core:  # independently of render(): the library's strict schema of that minor
            assert kubernetes_validate.validate(o, minor, strict=True) == minor, o["kind"]
        # ComputeClass and StorageClass are cluster-scoped; the metrics adapter (autoscaling app) is cluster-wide,
        # in custom-metrics
        stacks = [o for objs in (v for k, v in r.apps.items() if k != "autoscaling") for o in objs]
        namespaced = [o for o in stacks if o["kind"] not in CLUSTER_SCOPED]
        assert all("namespace" not in o["metadata"] for o in stacks if o["kind"] in CLUSTER_SCOPED)
        assert all(o["metadata"]["namespace"] == k8s_keys.namespace(stack) for o in namespaced)
        for o in r.apps.get("autoscaling", []):
            assert o["metadata"].get("namespace") in (None, "custom-metrics", "kube-system"), o["kind"]

    @pytest.mark.parametrize("stack", GKE_STACKS)
    def test_apps_and_workload_kinds(self, stack):
        cfg, r = stack_cfg(stack), rendered(stack)
        kind = "LeaderWorkerSet" if cfg.primary.shape.multi_host else "Deployment"
        serving = r.apps["serving"]
        if cfg.variants or cfg.disaggregation:  # per variant (or P/D role) its workload, PDB and monitoring (and
            n = len(r.units)  # a P/D role its headless metrics Service); one Service over all of them
            per_unit = ["Deployment", "PodDisruptionBudget", "PodMonitoring"] + (
                ["Service"] if cfg.disaggregation else []
            )
            assert [o["kind"] for o in serving] == per_unit * n + ["Service"]
            assert [o["kind"] for o in r.apps["capacity"]] == ["ComputeClass"] * n
            assert [o["kind"] for o in r.apps["gateway"]] == ["Gateway", "HTTPRoute", "InferenceObjective"]
            # the gateway reader, then the pod reader (cold start)
            readers = ["Role", "RoleBinding"] * 2
            assert [o["kind"] for o in r.apps["benchmark"]] == [*readers, "ConfigMap", "ConfigMap", "Job"]
            return
        hpa = ["HorizontalPodAutoscaler"] if scaling(cfg) is not None else []
        assert [o["kind"] for o in serving] == [kind, "Service", "PodDisruptionBudget", "PodMonitoring", *hpa]
        assert ("autoscaling" in r.apps) == bool(hpa)
        # the Job that readies the weights in GCS: JetStream's conversion, or vLLM's staging (model.stage)
        assert ("checkpoint" in r.apps) == (cfg.engine.name == "jetstream-maxtext" or cfg.model.stage is not None)
        assert [o["kind"] for o in r.apps["benchmark"]] == ["Role", "RoleBinding", "ConfigMap", "ConfigMap", "Job"]

    @pytest.mark.parametrize("stack", GKE_STACKS)
    def test_render_is_deterministic(self, stack):
        again = render.render(stack_cfg(stack))
        assert json.dumps(again.apps, sort_keys=True) == json.dumps(rendered(stack).apps, sort_keys=True)

    def test_non_gke_stacks_have_no_objects(self):
        for s in set(STACKS) - set(GKE_STACKS):
            assert render.render(stack_cfg(s)).objects() == []

    def test_cluster_minor_follows_channel_and_pin(self):
        assert derived.cluster_minor(stack_cfg("gke-vllm-v6e")) == derived.CHANNEL_MINOR["REGULAR"]
        assert derived.cluster_minor(stack_cfg("gke-vllm-v6e-multihost")) == derived.CHANNEL_MINOR["RAPID"]
        assert derived.cluster_minor(make(gke={"minMasterVersion": "1.31.4-gke.1000"})) == "1.31"


# ----- variants: each one renders and validates ----------------------------------------------------------------
VARIANTS = {
    "tpu-v5e-4": dict(accelerator="v5litepod-4"),
    "gpu-l4": dict(accelerator="l4-1", model={"id": "google/gemma-2-2b-it", "paramsB": 2.6, "contextLength": 8192}),
    "a100-tp": dict(
        accelerator="a100-80gb-2",
        engine={"name": "vllm", "tensorParallel": 2, "vllm": {"gpuMemoryUtilization": 0.9, "quantization": "fp8"}},
    ),
    "loadbalancer-hpa": dict(
        engine={"name": "vllm", "serviceType": "LoadBalancer", "hpaMaxReplicas": 3}, gke={"autoscalingMaxNodes": 3}
    ),
    "gcs-weights": dict(
        model={"id": "gs://weights-bucket/llama-3.1-8b", "paramsB": 8.03, "contextLength": 131072}, hfToken=None
    ),
    "no-cache-no-drain": dict(
        engine={
            "name": "vllm",
            "compileCache": False,
            "drainSeconds": 0,
            "vllm": {"enablePrefixCaching": False, "extraArgs": ["--seed=7"]},
        }
    ),
    "privileged": dict(engine={"name": "vllm", "privileged": True}),
    "multihost-hpa": dict(
        accelerator="v5litepod-16",
        model={"id": "meta-llama/Llama-3.3-70B-Instruct", "paramsB": 70.6},
        engine={"name": "vllm", "hpaMaxReplicas": 1},
    ),
    "jetstream-gcs": dict(
        accelerator="v6e-8",
        model={
            "id": "gs://ckpt/llama3.1-8b/items",
            "paramsB": 8.03,
            "contextLength": 131072,
            "maxtextName": "llama3.1-8b",
        },
        engine={"name": "jetstream-maxtext", "maxtext": {"scanLayers": True}},
        hfToken=None,
        benchmark={"tool": "jetstream-benchmark"},
    ),
    "heartbeat-tpu": dict(
        engine=None, benchmark=None, model=None, hfToken=None, workload={"dtype": "bfloat16", "iterations": 50}
    ),
    "heartbeat-gpu": dict(accelerator="h100-1", engine=None, benchmark=None, model=None, hfToken=None, workload={}),
    "no-benchmark": dict(benchmark=None),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_renders_valid_objects(variant):
    r = render.render(make(variant, **VARIANTS[variant]))
    assert r.objects()
    assert not list(schema.schema_problems(r))
    assert not list(cross_problems(make(variant, **VARIANTS[variant]), r))


def test_every_template_is_used_by_some_stack_or_variant():
    used = set()
    for s in GKE_STACKS:
        used |= set(rendered(s).sources.values())
    for v, over in VARIANTS.items():
        used |= set(render.render(make(v, **over)).sources.values())
    templates = tpustack.package_dir("manifests")
    files = {f"manifests/{p.relative_to(templates).as_posix()}" for p in templates.rglob("*.yaml.j2")}
    assert files == used


def test_templates_are_strict_about_missing_values():
    cfg = make()
    ctx = render_context.service_context(cfg, [render_context.serving_context(cfg, cfg.primary)], grouped=False)
    as_dict = {k: getattr(ctx, k) for k in ctx.__dataclass_fields__ if k != "service_ports"}
    with pytest.raises(jinja2.UndefinedError):
        render.render_template("serving/service.yaml.j2", as_dict)


class TestVariantFields:
    def test_gpu_uses_nvidia_gpu_and_gpu_selector(self):
        cfg = make(accelerator="h100-8")
        dep = one(render.render(cfg).apps["serving"], "Deployment")
        c, pod = container(dep, "vllm")
        assert c["resources"]["requests"] == c["resources"]["limits"] == {k8s_keys.GPU_RESOURCE: 8}
        assert pod["nodeSelector"][k8s_keys.GPU_ACCELERATOR_LABEL] == "nvidia-h100-80gb"
        assert k8s_keys.TPU_ACCELERATOR_LABEL not in pod["nodeSelector"]
        assert "VLLM_XLA_CACHE_PATH" not in env_of(c)  # no XLA on GPUs
        assert c["image"] == images.VLLM_GPU.image

    def test_tpu_to_gpu_is_a_one_line_change(self):
        """The seed's promise: the same experiment moves between accelerators by changing one line."""
        tpu = one(render.render(make(accelerator="v6e-8")).apps["serving"], "Deployment")
        gpu = one(render.render(make(accelerator="h100-8")).apps["serving"], "Deployment")
        ct, _ = container(tpu, "vllm")
        cg, _ = container(gpu, "vllm")
        assert ct["command"] == cg["command"] and ct["args"] == cg["args"]
        assert ct["startupProbe"] == cg["startupProbe"] and ct["ports"] == cg["ports"]

    def test_engine_args_follow_config(self):
        cfg = make(
            engine={
                "name": "vllm",
                "vllm": {
                    "maxModelLen": 2048,
                    "maxNumSeqs": 64,
                    "maxNumBatchedTokens": 4096,
                    "enablePrefixCaching": False,
                    "quantization": "int8",
                    "extraArgs": ["--seed=3"],
                },
            }
        )
        c, _ = container(one(render.render(cfg).apps["serving"], "Deployment"), "vllm")
        for a in (
            "--max-model-len=2048",
            "--max-num-seqs=64",
            "--max-num-batched-tokens=4096",
            "--no-enable-prefix-caching",
            "--quantization=int8",
            "--seed=3",
            "--tensor-parallel-size=8",
        ):
            assert a in c["args"], a
        assert c["args"][0] == "meta-llama/Llama-3.1-8B-Instruct"  # `vllm serve MODEL`: positional since 0.x

    def test_hpa_and_loadbalancer(self):
        r = render.render(make(**VARIANTS["loadbalancer-hpa"]))
        svc, hpa = one(r.apps["serving"], "Service"), one(r.apps["serving"], "HorizontalPodAutoscaler")
        assert svc["spec"]["type"] == "LoadBalancer"
        assert hpa["spec"]["maxReplicas"] == 3 and hpa["spec"]["minReplicas"] == 1
        assert "replicas" not in one(r.apps["serving"], "Deployment")["spec"]  # the HPA owns it

    def test_gcs_weights_mount_read_only_and_no_token(self):
        r = render.render(make(**VARIANTS["gcs-weights"]))
        c, pod = container(one(r.apps["serving"], "Deployment"), "vllm")
        assert c["args"][0] == "/models" and "--served-model-name=llama-3.1-8b" in c["args"]
        vol = next(v for v in pod["volumes"] if v["name"] == "model")
        assert vol["csi"]["readOnly"] is True
        assert vol["csi"]["volumeAttributes"]["bucketName"] == "weights-bucket"
        assert "only-dir=llama-3.1-8b" in vol["csi"]["volumeAttributes"]["mountOptions"]
        assert "HUGGING_FACE_HUB_TOKEN" not in env_of(c) and not r.secrets

    def test_drain_is_shorter_than_grace_and_startup_budget_is_sized(self):
        cfg = stack_cfg("gke-vllm-v6e-multihost")
        lws = one(rendered("gke-vllm-v6e-multihost").apps["serving"], "LeaderWorkerSet")
        c, pod = container(lws, "vllm-leader", "leaderTemplate")
        assert int(c["lifecycle"]["preStop"]["exec"]["command"][1]) < pod["terminationGracePeriodSeconds"]
        allowed = c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
        # 70.6B bf16 = 131.5 GiB of weights: the budget grows with them.
        assert allowed == derived.startup_minutes(cfg) * 60 > derived.COMPILE_MINUTES * 60
        assert int(lws["metadata"]["annotations"][k8s_keys.PULUMI_TIMEOUT]) > allowed

    def test_heartbeat_job_runs_the_workload_command(self):
        cfg = make(**VARIANTS["heartbeat-tpu"])
        job = one(render.render(cfg).apps["heartbeat"], "Job")
        c, pod = container(job, "heartbeat")
        assert c["command"] == ["python3", "-m", "tpustack.workloads.heartbeat"]
        assert c["args"][:5] == [
            "--backend=xla",
            "--dtype=bfloat16",
            "--shape=128,4096,16384",
            "--iterations=50",
            "--accelerator=v6e-8",
        ]
        assert c["args"][5] == f"--out=gs://{cfg.results_bucket}/t/$(POD_NAME)/heartbeat.json"
        assert env_of(c)["PYTHONPATH"]["value"] == "/opt/tpustack/code"
        assert c["resources"]["limits"] == {k8s_keys.TPU_RESOURCE: 8}
        gpu = one(render.render(make(**VARIANTS["heartbeat-gpu"])).apps["heartbeat"], "Job")
        assert container(gpu, "heartbeat")[0]["args"][0] == "--backend=cuda"

    def test_workload_configmap_restores_the_package(self):
        r = rendered("gke-vllm-v6e")
        code = render.payload(render.BENCH_ENTRY)
        cm = one(r.apps["benchmark"], "ConfigMap", "tpustack-workloads")
        job = one(r.apps["benchmark"], "Job")
        items = next(v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "workloads")
        paths = {i["path"] for i in items["configMap"]["items"]}
        assert paths == {f.path for f in code.files}
        assert "tpustack/workloads/serving_bench.py" in paths and "tpustack/core/errors.py" in paths
        assert (
            cm["data"]["tpustack--workloads--serving_bench.py"]
            == (tpustack.package_dir("workloads") / "serving_bench.py").read_text()
        )
        c, _ = container(job, "serving-bench")
        assert c["command"][:3] == ["python3", "-m", "tpustack.workloads.serving_bench"]

    def test_benchmark_spec_points_at_the_service(self):
        r = rendered("gke-vllm-v6e")
        spec = json.loads(one(r.apps["benchmark"], "ConfigMap", "serving-bench-spec")["data"]["spec.json"])
        svc = one(r.apps["serving"], "Service")
        assert spec["server"]["base_url"] == (
            f"http://{svc['metadata']['name']}.tpustack-gke-vllm-v6e.svc.cluster.local:{svc['spec']['ports'][0]['port']}"
        )
        assert spec["results_uri"].startswith(f"gs://{stack_cfg('gke-vllm-v6e').results_bucket}/gke-vllm-v6e/")
        assert re.fullmatch(r"sha256:[0-9a-f]{16}", spec["metadata"]["git_revision"])
        job = one(r.apps["benchmark"], "Job")
        c, pod = container(job, "serving-bench")
        assert c["command"][-2:] == ["--spec", "/opt/tpustack/spec/spec.json"]
        assert "nodeSelector" not in pod and c["image"] == spec["metadata"]["tool_image"]


# ----- match GKE's and the engines' own samples where config says the same thing ----------------------------------
class TestMatchesSamples:
    """Expected values are copied from the samples (file named in each test); only fields config controls."""

    def test_vllm_tpu_sample(self):
        # GoogleCloudPlatform/kubernetes-engine-samples ai-ml/vllm-tpu/vllm-llama3-70b.yaml
        cfg = make(
            accelerator="v6e-8",
            model={"id": "meta-llama/Llama-3.1-70B", "paramsB": 70.6},
            engine={
                "name": "vllm",
                "serviceType": "LoadBalancer",
                "vllm": {"maxModelLen": 4096, "maxNumBatchedTokens": 512, "maxNumSeqs": 128},
            },
        )
        r = render.render(cfg)
        dep = one(r.apps["serving"], "Deployment")
        c, pod = container(dep, "vllm")
        # Deliberately different: `vllm serve MODEL` (images.VLLM_TPU.command; the sample's
        # `python3 -m vllm.entrypoints.openai.api_server --model=` predates the pinned 0.32.0 CLI).
        assert c["command"] == list(images.VLLM_TPU.command)
        assert c["args"][0] == "meta-llama/Llama-3.1-70B"
        sample_args = [
            "--host=0.0.0.0",
            "--port=8000",
            "--tensor-parallel-size=8",
            "--max-model-len=4096",
            "--download-dir=/data",
            "--max-num-batched-tokens=512",
            "--max-num-seqs=128",
        ]
        assert set(sample_args) <= set(c["args"])
        assert "secretKeyRef" in env_of(c)[engines.HF_TOKEN_ENV]["valueFrom"]
        assert "VLLM_XLA_CACHE_PATH" in env_of(c)
        assert c["ports"][0]["containerPort"] == 8000
        assert c["resources"]["limits"] == {"google.com/tpu": 8}
        assert {
            "cloud.google.com/gke-tpu-topology": "2x4",
            "cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice",
        }.items() <= pod["nodeSelector"].items()
        assert {"name": "dshm", "mountPath": "/dev/shm"} in c["volumeMounts"]
        assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in pod["volumes"]
        assert dep["spec"]["template"]["metadata"]["annotations"] == {
            "gke-gcsfuse/volumes": "true",
            "gke-gcsfuse/cpu-limit": "0",
            "gke-gcsfuse/memory-limit": "0",
            "gke-gcsfuse/ephemeral-storage-limit": "0",
        }
        svc = one(r.apps["serving"], "Service")
        assert svc["spec"]["type"] == "LoadBalancer"
        assert svc["spec"]["ports"] == [{"name": "http", "protocol": "TCP", "port": 8000, "targetPort": 8000}]
        # Deliberately different: pinned image (sample: vllm/vllm-tpu:latest), HTTP /health probes (sample:
        # tcpSocket readiness only), the XLA cache on its own GCS FUSE prefix (sample: /data).
        assert not c["image"].endswith(":latest") and c["readinessProbe"]["httpGet"]["path"] == "/health"

    def test_vllm_tpu_pod_monitoring_and_hpa_samples(self):
        # kubernetes-engine-samples ai-ml/vllm-tpu/vllm_pod_monitor.yaml and vllm-hpa.yaml
        r = render.render(make(engine={"name": "vllm", "hpaMaxReplicas": 2}, gke={"autoscalingMaxNodes": 2}))
        pm = one(r.apps["serving"], "PodMonitoring")
        assert pm["spec"]["endpoints"] == [{"path": "/metrics", "port": 8000, "interval": "15s"}]
        hpa = one(r.apps["serving"], "HorizontalPodAutoscaler")
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "vllm"}
        assert hpa["spec"]["minReplicas"] == 1 and hpa["spec"]["maxReplicas"] == 2
        assert hpa["spec"]["metrics"] == [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "prometheus.googleapis.com|vllm:num_requests_waiting|gauge"},
                    "target": {"type": "AverageValue", "averageValue": "10"},
                },
            }
        ]

    def test_vllm_gpu_sample(self):
        # kubernetes-engine-samples ai-ml/llm-serving-llama/vllm/vllm-llama4-scout-17b-16e-instruct.yaml
        r = render.render(make(accelerator="h100-8"))
        c, pod = container(one(r.apps["serving"], "Deployment"), "vllm")
        assert c["command"] == list(images.VLLM_GPU.command)
        assert {"--host=0.0.0.0", "--tensor-parallel-size=8"} <= set(c["args"])
        assert c["resources"]["requests"]["nvidia.com/gpu"] == c["resources"]["limits"]["nvidia.com/gpu"] == 8
        assert pod["nodeSelector"]["cloud.google.com/gke-accelerator"] == "nvidia-h100-80gb"
        assert "secretKeyRef" in env_of(c)[engines.HF_TOKEN_ENV]["valueFrom"]
        assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in pod["volumes"]
        assert one(r.apps["serving"], "Service")["spec"]["type"] == "ClusterIP"

    def test_lws_vllm_tpu_sample(self):
        # kubernetes-sigs/lws docs/examples/vllm/TPU/lws.yaml (v5e 4x4, Llama-3.3-70B, port 8080, TP 16)
        cfg = make(
            accelerator="v5litepod-16",
            model={"id": "meta-llama/Llama-3.3-70B-Instruct", "paramsB": 70.6},
            engine={"name": "vllm", "port": 8080},
            benchmark=None,
        )
        r = render.render(cfg)
        lws = one(r.apps["serving"], "LeaderWorkerSet")
        lwt = lws["spec"]["leaderWorkerTemplate"]
        assert lwt["size"] == 4 and lwt["restartPolicy"] == "RecreateGroupOnPodRestart"
        assert lws["spec"]["rolloutStrategy"]["type"] == "RollingUpdate"
        assert lwt["leaderTemplate"]["metadata"]["labels"]["role"] == "leader"
        leader, lpod = container(lws, "vllm-leader", "leaderTemplate")
        worker, wpod = container(lws, "vllm-worker", "workerTemplate")
        for pod in (lpod, wpod):
            assert {
                "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                "cloud.google.com/gke-tpu-topology": "4x4",
            }.items() <= pod["nodeSelector"].items()
        for c in (leader, worker):
            assert str(c["resources"]["limits"]["google.com/tpu"]) == "4"
            assert {"mountPath": "/dev/shm", "name": "dshm"} in c["volumeMounts"]
        # the sample's script path moved (examples/online_serving -> examples/ray_serving) before the pinned 0.32.0
        script = f"bash {engines.VLLM_RAY_BOOTSTRAP}"
        assert f"{script} leader --ray_cluster_size=$(LWS_GROUP_SIZE)" in leader["command"][2]
        assert "exec vllm serve" in leader["command"][2]
        assert leader["args"][0] == "meta-llama/Llama-3.3-70B-Instruct"
        assert {"--port=8080", "--tensor-parallel-size=16"} <= set(leader["args"])
        # tpu-inference picks its multi-host executor only with TPU_MULTIHOST_BACKEND=ray, on every pod
        for c in (leader, worker):
            assert {k: env_of(c)[k]["value"] for k in engines.TPU_MULTIHOST_ENV} == dict(engines.TPU_MULTIHOST_ENV)
        assert leader["ports"][0]["containerPort"] == 8080
        assert worker["command"] == ["sh", "-c", f"{script} worker --ray_address=$(LWS_LEADER_ADDRESS)"]
        svc = one(r.apps["serving"], "Service")
        assert svc["spec"]["selector"] == {"leaderworkerset.sigs.k8s.io/name": "vllm", "role": "leader"}
        assert svc["spec"]["type"] == "ClusterIP"
        assert svc["spec"]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP", "targetPort": 8080}]
        # Deliberately different: the stack's XLA cache over GCS FUSE, written by the leader only (the GKE multi-host
        # sample keeps it on local disk because several writers race; tests/unit/render/test_compile_cache.py)
        for c, pod, read_only in ((leader, lpod, False), (worker, wpod, True)):
            cache = next(v for v in pod["volumes"] if v["name"] == "xla-cache")
            assert "emptyDir" not in cache and cache["csi"]["readOnly"] is read_only
            assert env_of(c)[engines.XLA_CACHE_ENV]["value"] == "/xla-cache"
        assert lwt["leaderTemplate"]["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"
        # Deliberately different: HF_TOKEN from a secretKeyRef (sample: a literal $HF_TOKEN), maxSurge 0
        # (sample: 1; there is no spare slice to surge onto), pinned image.
        assert "secretKeyRef" in env_of(worker)[engines.HF_TOKEN_ENV]["valueFrom"]

    def test_jetstream_maxtext_sample(self):
        # GoogleCloudPlatform/ai-on-gke tutorials-and-examples/inference-servers/jetstream/maxtext/
        # single-host-inference/kubectl/deployment.yaml (v5e 2x4, maxengine-server + jetstream-http v0.2.2)
        r = rendered("gke-jetstream-v5e")
        dep = one(r.apps["serving"], "Deployment")
        engine, pod = container(dep, "maxengine-server")
        http, _ = container(dep, "jetstream-http")
        assert [c["name"] for c in pod["containers"]] == ["maxengine-server", "jetstream-http"]
        # Deliberately different: no public maxengine-server serves Llama 3.1 (v0.2.2 is MaxText jetstream-v0.2.2),
        # so the image is the stack's own build of pinned sources; jetstream-http v0.2.3 has /healthcheck.
        assert engine["image"] == "us-west4-docker.pkg.dev/my-tpu-project/tpustack/jetstream-maxtext:" + (
            images.JETSTREAM_IMAGE_TAG
        )
        assert images.facts_for(engine["image"]) is images.JETSTREAM_ENGINE
        assert http["image"] == "us-docker.pkg.dev/cloud-tpu-images/inference/jetstream-http:v0.2.3"
        assert engine["command"] == ["python3", "-m", "MaxText.maxengine_server", "MaxText/configs/base.yml"]
        assert engine["workingDir"] == "/deps"
        # MaxText asserts tokenizer_type=tiktoken for the Llama 3 tiktoken asset (pyconfig.py:255-258)
        assert {"tokenizer_path=assets/tokenizer_llama3.tiktoken", "tokenizer_type=tiktoken"} <= set(engine["args"])
        assert http["readinessProbe"]["httpGet"] == {"path": "/", "port": 8000}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert engine[probe]["httpGet"] == {"path": "/healthcheck", "port": 8000}
        # the server waits for the checkpoint Job's marker before it starts
        (init,) = pod["initContainers"]
        assert init["command"][-1].endswith("/gke-jetstream-v5e/maxtext/llama3.1-8b/READY")
        sample_args = [
            "per_device_batch_size=4",
            "max_prefill_predict_length=1024",
            "max_target_length=2048",
            "async_checkpointing=false",
            "ici_fsdp_parallelism=1",
            "scan_layers=false",
            "weight_dtype=bfloat16",
            "attention=dot_product",
            "prometheus_port=9100",
        ]
        assert set(sample_args) <= set(engine["args"])
        assert 9000 in [p["containerPort"] for p in engine["ports"]]
        assert [p["containerPort"] for p in http["ports"]] == [8000]
        assert engine["resources"]["requests"] == engine["resources"]["limits"] == {"google.com/tpu": 8}
        assert {
            "cloud.google.com/gke-tpu-topology": "2x4",
            "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
        }.items() <= pod["nodeSelector"].items()
        svc = one(r.apps["serving"], "Service")
        assert {"protocol": "TCP", "name": "jetstream-http", "port": 8000, "targetPort": 8000} in svc["spec"]["ports"]
        assert {"protocol": "TCP", "name": "jetstream-grpc", "port": 9000, "targetPort": 9000} in svc["spec"]["ports"]
        # Deliberately different: unprivileged (sample: privileged: true), tensor parallelism over all 8 chips
        # (sample: ici_tensor_parallelism=1, ici_autoregressive_parallelism=-1), a real checkpoint path.
        assert engine["securityContext"]["privileged"] is False
        assert "ici_tensor_parallelism=8" in engine["args"]

    def test_checkpoint_converter_sample(self):
        # MaxText end_to_end/tpu/llama3.1/8b/3_test_llama3.1_8b.sh: llama_or_mistral_ckpt --huggingface-checkpoint
        # then generate_param_only_checkpoint force_unroll=true (not ai-on-gke's checkpoint_converter.sh, whose
        # Hugging Face path looks for Meta .pth files where Hugging Face keeps none).
        cfg = stack_cfg("gke-jetstream-v5e")
        r = rendered("gke-jetstream-v5e")
        job = one(r.apps["checkpoint"], "Job")
        c, pod = container(job, "convert")
        engine, _ = container(one(r.apps["serving"], "Deployment"), "maxengine-server")
        assert c["image"] == engine["image"] and c["workingDir"] == "/deps"
        assert pod["restartPolicy"] == "Never" and "ttlSecondsAfterFinished" not in job["spec"]
        out = f"gs://{cfg.results_bucket}/gke-jetstream-v5e/maxtext/llama3.1-8b"  # the stack's own folder
        env = env_of(c)
        assert env["OUT"]["value"] == out and env["MODEL_NAME"]["value"] == "llama3.1-8b"
        assert env["JAX_PLATFORMS"]["value"] == "cpu"
        assert env["HF_REPO"]["value"] == "meta-llama/Llama-3.1-8B-Instruct"
        assert "secretKeyRef" in env[engines.HF_TOKEN_ENV]["valueFrom"]
        script = c["command"][2]
        assert "--huggingface-checkpoint=true" in script and "python3 -m MaxText.llama_or_mistral_ckpt" in script
        assert "allow_patterns=['*.safetensors', '*.json']" in script
        assert f"run_name={images.MAXTEXT_UNSCANNED_RUN}" in script and "force_unroll=true" in script
        assert script.index("generate_param_only_checkpoint") < script.rindex("READY")  # marker last
        # The server loads what the Job writes: <out>/<run_name>/checkpoints/0/items
        assert f"load_parameters_path={out}/unscanned/checkpoints/0/items" in engine["args"]
        # pulumi up waits for the Job (longer than Pulumi's 10-minute default)
        assert int(job["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]) > 1800


# ----- the Hugging Face token ----------------------------------------------------------------------------------
class TestTokenOnlyInTheSecret:
    @pytest.mark.parametrize("stack", GKE_STACKS)
    def test_no_rendered_object_holds_the_token(self, stack):
        r = rendered(stack)
        assert not [s for o in r.objects() for s in objects.walk_strings(o) if "secret:tpustack" in s]
        assert all(o["kind"] != "Secret" for o in r.objects())  # the Secret is a typed resource (serving.py)

    @pytest.mark.parametrize("stack", GKE_STACKS)
    def test_pods_read_it_through_secret_key_ref(self, stack):
        r = rendered(stack)
        refs = 0
        for o in r.objects():
            for _, pod in objects.pod_specs(o):
                for c in pod["containers"]:
                    for e in c.get("env", []):
                        if "TOKEN" in e["name"]:
                            assert "value" not in e, (o["kind"], c["name"])
                            assert e["valueFrom"]["secretKeyRef"] == {
                                "name": k8s_keys.HF_SECRET,
                                "key": k8s_keys.HF_SECRET_KEY,
                            }
                            refs += 1
                for v in pod.get("volumes", []):
                    if "secret" in v:  # the checkpoint converter reads the token from a file
                        assert v["secret"]["secretName"] == k8s_keys.HF_SECRET
                        assert [i["key"] for i in v["secret"]["items"]] == [k8s_keys.HF_SECRET_KEY]
                        refs += 1
        assert refs >= 1
        assert r.secrets == {k8s_keys.HF_SECRET: {k8s_keys.HF_SECRET_KEY}}


# ----- every cross-check fires on a broken config (or a broken template) with field + fix ----------------------
def _mutated(stack: str, mutate) -> list[str]:
    """Cross-check problems after `mutate(rendered)` edits the objects as a broken template would."""
    r = render.render(stack_cfg(stack))
    mutate(r)
    return [str(p) for p in [*cross_problems(stack_cfg(stack), r), *schema.schema_problems(r)]]


class TestCrossChecksFire:
    def test_tensor_parallel_vs_chips(self):
        def mutate(r):
            c, _ = container(one(r.apps["serving"], "Deployment"), "vllm")
            c["args"] = [a.replace("--tensor-parallel-size=8", "--tensor-parallel-size=4") for a in c["args"]]

        assert_names_field_and_fix(
            _mutated("gke-vllm-v6e", mutate), "tpustack:engine.tensorParallel", "tensor parallel 4", "8 chips"
        )

    def test_tensor_parallel_config_rule_holds_even_around_the_loader(self):
        cfg = stack_cfg("gke-vllm-v6e")
        broken = cfg.model_copy(update={"engine": cfg.engine.model_copy(update={"tensor_parallel": 4})})
        with pytest.raises(ConfigError) as e:
            render.render(broken)
        assert_names_field_and_fix(problems_of(e), "tpustack:engine.tensorParallel", "8 chips")

    def test_maxtext_parallelism_vs_chips(self):
        def mutate(r):
            c, _ = container(one(r.apps["serving"], "Deployment"), "maxengine-server")
            c["args"] = [a.replace("ici_tensor_parallelism=8", "ici_tensor_parallelism=4") for a in c["args"]]

        assert_names_field_and_fix(
            _mutated("gke-jetstream-v5e", mutate), "tpustack:engine.tensorParallel", "does not cover the 8 chips"
        )

    def test_tpu_request_vs_chips_per_node(self):
        def mutate(r):
            lws = one(r.apps["serving"], "LeaderWorkerSet")
            c, _ = container(lws, "vllm-worker", "workerTemplate")
            c["resources"]["requests"][k8s_keys.TPU_RESOURCE] = 8
            c["resources"]["limits"][k8s_keys.TPU_RESOURCE] = 8

        assert_names_field_and_fix(
            _mutated("gke-vllm-v6e-multihost", mutate),
            "tpustack:accelerator",
            "ct6e-standard-4t",
            "requests = limits = 4",
        )

    def test_gpu_resource_on_tpu_nodes(self):
        def mutate(r):
            c, _ = container(one(r.apps["serving"], "Deployment"), "vllm")
            c["resources"] = {"limits": {k8s_keys.GPU_RESOURCE: 8}, "requests": {k8s_keys.GPU_RESOURCE: 8}}

        assert_names_field_and_fix(_mutated("gke-vllm-v6e", mutate), "tpustack:accelerator", "nvidia.com/gpu")

    def test_one_tpu_container_per_pod(self):
        def mutate(r):
            c, _ = container(one(r.apps["serving"], "Deployment"), "jetstream-http")
            c["resources"] = {"requests": {k8s_keys.TPU_RESOURCE: 8}, "limits": {k8s_keys.TPU_RESOURCE: 8}}

        assert_names_field_and_fix(
            _mutated("gke-jetstream-v5e", mutate),
            "manifests/jetstream-maxtext/deployment.yaml.j2",
            "2 containers requesting TPUs",
        )

    def test_selectors_vs_pool_labels(self):
        def mutate(r):
            _, pod = container(one(r.apps["serving"], "Deployment"), "vllm")
            pod["nodeSelector"][k8s_keys.TPU_TOPOLOGY_LABEL] = "4x4"
            pod["nodeSelector"]["team"] = "ml"

        lines = _mutated("gke-vllm-v6e", mutate)
        assert_names_field_and_fix(
            lines,
            "tpustack:accelerator",
            "topology=4x4",
            f"select {k8s_keys.TPU_TOPOLOGY_LABEL}=2x4",
            "team=ml",
            "no such label",
        )

    def test_pool_labels_come_from_the_pool_definition(self):
        cfg = stack_cfg("gke-vllm-gpu")
        labels = derived.accelerator_pool(cfg, cfg.primary).node_labels
        assert derived.pool_labels(cfg.stack).items() <= labels.items()
        assert labels[k8s_keys.SPOT_LABEL] == "true"  # the stack asks for spot capacity
        _, pod = container(one(rendered("gke-vllm-gpu").apps["serving"], "Deployment"), "vllm")
        assert pod["nodeSelector"].items() <= labels.items()

    def test_unpinned_image(self):
        cfg = stack_cfg("gke-vllm-gpu")
        broken = cfg.model_copy(update={"engine": cfg.engine.model_copy(update={"image": "vllm/vllm-openai:latest"})})
        with pytest.raises(ConfigError) as e:
            render.render(broken)
        assert_names_field_and_fix(problems_of(e), "tpustack:engine.image", "not pinned", "never latest")

    def test_referenced_secret_must_exist(self):
        def mutate(r):
            r.secrets.clear()  # as if the stack created no token Secret

        assert_names_field_and_fix(
            _mutated("gke-vllm-v6e", mutate),
            "tpustack:hfToken",
            "hf-token",
            "pulumi config set --secret tpustack:hfToken",
        )

    def test_privileged_tpu_container_without_the_flag(self):
        def mutate(r):
            c, _ = container(one(r.apps["serving"], "Deployment"), "vllm")
            c["securityContext"] = {"privileged": True}

        assert_names_field_and_fix(
            _mutated("gke-vllm-v6e", mutate), "tpustack:engine.privileged", "is privileged", "GKE >= 1.28"
        )

    def test_old_gke_needs_privileged_tpus(self):
        with pytest.raises(ConfigError) as e:
            render.render(make(gke={"minMasterVersion": "1.27.8-gke.100"}))
        assert_names_field_and_fix(problems_of(e), "tpustack:gke.minMasterVersion", "1.27", "privileged true")
        assert render.render(make(gke={"minMasterVersion": "1.27"}, engine={"name": "vllm", "privileged": True}))

    def test_service_port_vs_container_port(self):
        def mutate(r):
            one(r.apps["serving"], "Service")["spec"]["ports"][0]["targetPort"] = 9999

        assert_names_field_and_fix(_mutated("gke-vllm-gpu", mutate), "tpustack:engine.port", "9999")

    def test_service_selector_vs_pod_labels(self):
        def mutate(r):
            one(r.apps["serving"], "Service")["spec"]["selector"] = {"app": "nope"}

        assert_names_field_and_fix(
            _mutated("gke-vllm-v6e-multihost", mutate), "tpustack:engine.port", "no serving pod carries"
        )

    def test_probe_port(self):
        def mutate(r):
            c, _ = container(one(r.apps["serving"], "Deployment"), "vllm")
            c["livenessProbe"]["httpGet"]["port"] = 1234

        assert_names_field_and_fix(_mutated("gke-vllm-gpu", mutate), "tpustack:engine.port", "livenessProbe")

    def test_grace_shorter_than_drain(self):
        def mutate(r):
            _, pod = container(one(r.apps["serving"], "Deployment"), "vllm")
            pod["terminationGracePeriodSeconds"] = 10

        assert_names_field_and_fix(
            _mutated("gke-vllm-v6e", mutate), "tpustack:engine.drainSeconds", "drains 30 s", "grace period is 10 s"
        )

    def test_startup_probe_shorter_than_budget(self):
        def mutate(r):
            c, _ = container(one(r.apps["serving"], "Deployment"), "vllm")
            c["startupProbe"]["failureThreshold"] = 3

        assert_names_field_and_fix(_mutated("gke-vllm-v6e", mutate), "tpustack:engine.startupMinutes", "30 s")

    def test_pulumi_wait_shorter_than_startup(self):
        def mutate(r):
            one(r.apps["serving"], "Deployment")["metadata"]["annotations"][k8s_keys.PULUMI_TIMEOUT] = "600"

        assert_names_field_and_fix(
            _mutated("gke-vllm-v6e", mutate), "tpustack:engine.startupMinutes", k8s_keys.PULUMI_TIMEOUT
        )

    def test_lws_size_vs_hosts(self):
        def mutate(r):
            one(r.apps["serving"], "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]["size"] = 2

        assert_names_field_and_fix(
            _mutated("gke-vllm-v6e-multihost", mutate), "tpustack:accelerator", "groups 2 pods", "size to 4"
        )

    def test_configmap_over_one_mib(self):
        def mutate(r):
            one(r.apps["benchmark"], "ConfigMap", "tpustack-workloads")["data"]["big.py"] = "#" * (1 << 20)

        assert_names_field_and_fix(
            _mutated("gke-vllm-v6e", mutate), "manifests/_lib/workloads-configmap.yaml.j2", "1 MiB"
        )

    def test_schema_rejects_unknown_core_field(self):
        def mutate(r):
            c, _ = container(one(r.apps["serving"], "Deployment"), "vllm")
            c["gpuCount"] = 8

        assert_names_field_and_fix(
            _mutated("gke-vllm-gpu", mutate), "manifests/vllm/deployment.yaml.j2", "schema", "gpuCount"
        )

    def test_schema_checks_custom_resources_and_their_pod_templates(self):
        def mutate(r):
            lws = one(r.apps["serving"], "LeaderWorkerSet")
            lws["spec"]["leaderWorkerTemplate"]["groupSize"] = 4
            c, _ = container(lws, "vllm-worker", "workerTemplate")
            c["resources"]["limits"]["google.com/tpu"] = [4]
            one(r.apps["serving"], "PodMonitoring")["spec"]["endpoints"][0]["every"] = "15s"

        lines = [p for p in _mutated("gke-vllm-v6e-multihost", mutate) if "schema" in p]
        assert any("leaderWorkerTemplate.groupSize: unknown field" in p for p in lines), lines
        assert any("workerTemplate.spec.containers.0.resources.limits" in p for p in lines), lines
        assert any("endpoints[0].every: unknown field" in p for p in lines), lines


class TestConfigRulesBeforeRendering:
    def test_hpa_beyond_pool_capacity(self):
        with pytest.raises(ConfigError) as e:
            render.render(make(engine={"name": "vllm", "hpaMaxReplicas": 4}))
        assert_names_field_and_fix(
            problems_of(e), "tpustack:engine.hpaMaxReplicas", "at most 1", "autoscalingMaxNodes to 4"
        )

    def test_hpa_below_replicas(self):
        with pytest.raises(ConfigError) as e:
            render.render(make(engine={"name": "vllm", "replicas": 2, "hpaMaxReplicas": 1}))
        assert_names_field_and_fix(problems_of(e), "tpustack:engine.hpaMaxReplicas", "below")

    def test_jetstream_port(self):
        over = dict(VARIANTS["jetstream-gcs"])
        over["engine"] = {"name": "jetstream-maxtext", "port": 8080}
        with pytest.raises(ConfigError) as e:
            render.render(make(**over))
        assert_names_field_and_fix(problems_of(e), "tpustack:engine.port", "listens on 8000")

    def test_jetstream_model_the_converter_cannot_take(self):
        base = stack_cfg("gke-jetstream-v5e")
        gemma = base.model_copy(
            update={
                "model": base.model.model_copy(
                    update={"id": "google/gemma-7b", "maxtext_name": "gemma-7b", "context_length": 8192}
                )
            }
        )
        with pytest.raises(ConfigError) as e:
            render.render(gemma)
        assert_names_field_and_fix(problems_of(e), "tpustack:model.id", "gs:// path of the unscanned")
        odd = base.model_copy(update={"model": base.model.model_copy(update={"maxtext_name": "llama3.2-1b"})})
        with pytest.raises(ConfigError) as e:
            render.render(odd)
        assert_names_field_and_fix(problems_of(e), "tpustack:model.maxtextName", "llama3.1-8b")
        no_token = base.model_copy(update={"hf_token": None})
        with pytest.raises(ConfigError) as e:
            render.render(no_token)
        assert_names_field_and_fix(problems_of(e), "tpustack:hfToken", "pulumi config set --secret")

    def test_heartbeat_on_multi_host(self):
        with pytest.raises(ConfigError) as e:
            render.render(make(accelerator="v6e-16", **{k: v for k, v in VARIANTS["heartbeat-tpu"].items()}))
        assert_names_field_and_fix(problems_of(e), "tpustack:workload", "4 hosts")


class TestTunedDefaults:
    """Published settings fill what a stack leaves unset, only where the recipe measured that model and shape."""

    def seventy_b(self, accelerator: str, vllm: dict) -> dict:
        return dict(
            accelerator=accelerator,
            model={"id": "meta-llama/Llama-3.1-70B-Instruct"},
            engine={"name": "vllm", "vllm": {"maxModelLen": 4096, **vllm}},
        )

    def args(self, cfg) -> list[str]:
        r = render.render(cfg)
        dep = next(o for o in r.apps["serving"] if o["kind"] in ("Deployment", "LeaderWorkerSet"))
        name = "vllm" if dep["kind"] == "Deployment" else "vllm-leader"
        part = "template" if dep["kind"] == "Deployment" else "leaderTemplate"
        return container(dep, name, part)[0]["args"]

    def test_the_recipe_fills_unset_knobs_on_its_shape(self):
        # tpu-recipes inference/trillium/vLLM/Llama3.x (v6e-8, TP 8): 512 / 256 / 0.98 / async scheduling
        a = self.args(make(**self.seventy_b("v6e-8", {"maxNumSeqs": 64})))
        assert {"--max-num-batched-tokens=512", "--gpu-memory-utilization=0.98", "--async-scheduling"} <= set(a)
        assert "--max-num-seqs=64" in a and "--max-num-seqs=256" not in a  # the stack's own value wins

    def test_not_on_a_shape_the_recipe_did_not_measure(self):
        a = self.args(make(**self.seventy_b("v6e-16", {}), benchmark=None))
        assert not [x for x in a if x.startswith(("--max-num-batched-tokens", "--gpu-memory-utilization"))]
        assert "--async-scheduling" not in a
