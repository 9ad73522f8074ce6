"""tpustack:model.weights (issue 20, item 1): a gs:// model reaches vLLM through tuned GCS FUSE or the Run:ai
streamer, chosen per serving unit (default: the streamer on GPU, FUSE on TPU), shown in the cold-start estimate;
bad choices are refused with field and fix before any resource."""

from __future__ import annotations

from tpustack import render
from tpustack.config import derived
from tpustack.config.cold_start import unit_estimate
from tpustack.core import weights

from helpers.project import BASE, edited, load, plan_config, problems_of, vllm_pods

GCS = {"id": "gs://weights-bucket/llama-3.1-8b", "paramsB": 8.03, "contextLength": 131072}
VARIANTS = [
    {"name": "tpu", "accelerator": "v6e-4", "capacity": ["spot"], "replicas": 1},
    {"name": "gpu", "accelerator": "h100-1", "capacity": ["spot"], "replicas": 1},
]


def doc(**over) -> dict:
    return edited(BASE, **{"model": GCS, "hfToken": None, **over})


def config(**over):
    return load(doc(**over))


def problems(**over) -> list[str]:
    return problems_of(doc(**over))


def model_volume(pod: dict) -> dict | None:
    return next((v for v in pod.get("volumes", []) if v["name"] == "model"), None)


class TestChoice:
    def test_default_is_the_streamer_on_gpu_and_fuse_on_tpu(self):
        cfg = config(
            variants=VARIANTS,
            accelerator=None,
            capacity=None,
            gke={"releaseChannel": "RAPID", "minMasterVersion": "1.34.1-gke.1127000"},
        )
        paths = {u.variant: derived.weight_path(cfg, u) for u in cfg.units}
        assert paths == {"tpu": weights.GCS_FUSE, "gpu": weights.RUNAI_STREAMER}

    def test_a_stated_path_holds_on_every_unit(self):
        cfg = config(model={**GCS, "weights": "runai-streamer"})
        assert {derived.weight_path(cfg, u) for u in cfg.units} == {weights.RUNAI_STREAMER}

    def test_a_hub_model_reads_the_hub(self):
        d = {**BASE}
        cfg = load(d)
        assert derived.weight_path(cfg, cfg.units[0]) == weights.HUB

    def test_the_estimate_names_the_units_path(self):
        cfg = config(model={**GCS, "weights": "runai-streamer"})
        est = unit_estimate(cfg, cfg.units[0])
        assert est is not None and est.weight_path == weights.RUNAI_STREAMER


class TestRender:
    def test_fuse_is_tuned_read_only_and_prefetched_on_a_recent_cluster(self):
        objs = render.render(config(gke={"releaseChannel": "RAPID"})).objects()
        (vol,) = [model_volume(p) for p in vllm_pods(objs) if model_volume(p)]
        csi = vol["csi"]
        assert csi["readOnly"] is True
        attrs = csi["volumeAttributes"]
        assert attrs["bucketName"] == "weights-bucket"
        assert attrs["mountOptions"] == weights.mount_options("llama-3.1-8b")
        assert "file-cache:parallel-downloads-per-file:100" in attrs["mountOptions"]
        assert attrs["metadataCacheTTLSeconds"] == "-1" and attrs["gcsfuseMetadataPrefetchOnMount"] == "true"

    def test_no_prefetch_where_the_cluster_may_predate_it(self):
        objs = render.render(config(gke={"releaseChannel": "STABLE"})).objects()
        (vol,) = [model_volume(p) for p in vllm_pods(objs) if model_volume(p)]
        assert "gcsfuseMetadataPrefetchOnMount" not in vol["csi"]["volumeAttributes"]
        assert vol["csi"]["volumeAttributes"]["metadataStatCacheCapacity"] == "-1"

    def test_the_streamer_passes_the_uri_and_mounts_no_bucket(self):
        cfg = config(model={**GCS, "weights": "runai-streamer"})
        objs = render.render(cfg).objects()
        (pod,) = vllm_pods(objs)
        args = pod["containers"][0]["args"]
        assert args[0] == GCS["id"] and "--load-format=runai_streamer" in args
        assert "--served-model-name=llama-3.1-8b" in args
        assert model_volume(pod) is None
        # nothing else on FUSE here (the compile cache is the results bucket's, or a local dir)
        ann = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["metadata"].get("annotations", {})
        uses_fuse = any("csi" in v for v in pod.get("volumes", []))
        assert ("gke-gcsfuse/volumes" in ann) == uses_fuse

    def test_the_workload_identity_reads_the_model_bucket_either_way(self):
        for path in weights.GCS_PATHS:
            p = plan_config(doc(model={**GCS, "weights": path}, gke={"releaseChannel": "RAPID"}))
            members = [
                r
                for r in p.resources
                if r.type == "gcp:storage/bucketIAMMember:BucketIAMMember"
                and r.inputs.get("bucket") == "weights-bucket"
            ]
            assert members, path


class TestRefused:
    def test_a_hub_model_with_a_gcs_path(self):
        lines = problems(model={"id": "meta-llama/Llama-3.1-8B-Instruct", "paramsB": 8.03, "weights": "gcs-fuse"})
        hits = [ln for ln in lines if ln.startswith("tpustack:model.weights:")]
        assert hits and "gs://" in hits[0] and "Fix:" in hits[0], lines

    def test_an_unknown_path(self):
        lines = problems(model={**GCS, "weights": "nfs"})
        assert any(ln.startswith("tpustack:model.weights") and "runai-streamer" in ln for ln in lines), lines

    def test_jetstream_reads_its_checkpoint_itself(self):
        lines = problems(
            accelerator="v6e-8",
            model={
                "id": "gs://ckpt/llama3.1-8b/items",
                "paramsB": 8.03,
                "contextLength": 131072,
                "maxtextName": "llama3.1-8b",
                "weights": "runai-streamer",
            },
            engine={"name": "jetstream-maxtext"},
            benchmark={"tool": "jetstream-benchmark"},
        )
        hits = [ln for ln in lines if ln.startswith("tpustack:model.weights:")]
        assert hits and "jetstream" in hits[0].lower() and "Fix:" in hits[0], lines


def test_the_config_offers_exactly_the_gcs_paths():
    import typing

    from tpustack.config.sections import ModelConfig

    (literal, _none) = typing.get_args(ModelConfig.model_fields["weights"].annotation)
    assert set(typing.get_args(literal)) == set(weights.GCS_PATHS)


# ----- model.stage: Hub weights copied into GCS once ------------------------------------------------------------
HUB_ID = "meta-llama/Llama-3.1-8B-Instruct"
STAGE = "gs://acme-models/meta-llama/Llama-3.1-8B-Instruct"


def staged_doc(**over) -> dict:
    return edited(BASE, **{"model": {"id": HUB_ID, "paramsB": 8.03, "stage": STAGE}, **over})


def staged(**over):
    return load(staged_doc(**over))


class TestStage:
    def test_the_job_runs_before_the_servers_on_the_system_pool(self):
        r = render.render(staged())
        (job,) = [o for o in r.apps["checkpoint"] if o["kind"] == "Job"]
        pod = job["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        assert c["command"] == ["python3", "-m", "tpustack.workloads.stage_weights"]
        assert c["args"] == ["--repo", HUB_ID, "--dest", STAGE, "--local-dir", "/data/hf"]
        assert "nodeSelector" not in pod and "tolerations" not in pod  # no accelerator node
        assert "google.com/tpu" not in c["resources"].get("requests", {})
        token = [e for e in c["env"] if e["name"] == "HF_TOKEN"]
        assert token and "valueFrom" in token[0] and "value" not in token[0]
        cms = [o for o in r.apps["checkpoint"] if o["kind"] == "ConfigMap"]
        assert [cm["metadata"]["name"] for cm in cms] == ["tpustack-stage-workloads"]
        assert "tpustack--workloads--stage_weights.py" in cms[0]["data"]

    def test_servers_read_the_staged_copy_under_the_hub_name(self):
        cfg = staged()
        assert derived.weight_path(cfg, cfg.units[0]) == weights.GCS_FUSE
        (pod,) = vllm_pods(render.render(cfg).objects())
        args = pod["containers"][0]["args"]
        assert args[0] == "/models" and f"--served-model-name={HUB_ID}" in args
        assert not any(a.startswith("--download-dir") for a in args)
        attrs = model_volume(pod)["csi"]["volumeAttributes"]
        assert attrs["bucketName"] == "acme-models" and "only-dir=meta-llama/Llama-3.1-8B-Instruct" in attrs[
            "mountOptions"
        ].split(",")

    def test_streamed_from_the_staged_copy(self):
        cfg = staged(model={"id": HUB_ID, "paramsB": 8.03, "stage": STAGE, "weights": "runai-streamer"})
        (pod,) = vllm_pods(render.render(cfg).objects())
        args = pod["containers"][0]["args"]
        assert args[0] == STAGE and "--load-format=runai_streamer" in args

    def test_the_workload_may_create_only_under_the_staging_folder(self):
        p = plan_config(staged_doc())
        members = [
            r.inputs
            for r in p.resources
            if r.type == "gcp:storage/bucketIAMMember:BucketIAMMember" and r.inputs.get("bucket") == "acme-models"
        ]
        by_role = {m["role"]: m for m in members}
        assert set(by_role) == {"roles/storage.objectViewer", "roles/storage.objectCreator"}
        cond = by_role["roles/storage.objectCreator"]["condition"]["expression"]
        assert cond == (
            'resource.name.startsWith("projects/_/buckets/acme-models/objects/meta-llama/Llama-3.1-8B-Instruct/")'
        )
        # no replace or delete anywhere in that bucket
        assert not any(m["role"] in ("roles/storage.objectUser", "roles/storage.objectAdmin") for m in members)

    def test_without_stage_no_job_and_no_write_grant(self):
        r = render.render(load(BASE))
        assert "checkpoint" not in r.apps


class TestStageRefused:
    def test_a_gcs_model(self):
        lines = problems(model={**GCS, "stage": STAGE})
        assert any(ln.startswith("tpustack:model.stage:") and "already in GCS" in ln for ln in lines), lines

    def test_not_a_gs_path(self):
        for bad in ("s3://b/p", "gs://acme-models", "gs://Bad_Bucket/x", "acme-models/p"):
            lines = problems_of(staged_doc(model={"id": HUB_ID, "paramsB": 8.03, "stage": bad}))
            assert any(ln.startswith("tpustack:model.stage") and "gs://BUCKET/PATH" in ln for ln in lines)

    def test_the_results_bucket(self):
        lines = problems_of(
            staged_doc(model={"id": HUB_ID, "paramsB": 8.03, "stage": "gs://my-tpu-project-tpustack-results/w"})
        )
        hits = [ln for ln in lines if ln.startswith("tpustack:model.stage:")]
        assert hits and "results bucket" in hits[0], lines

    def test_jetstream_converts_its_own(self):
        lines = problems_of(
            staged_doc(
                accelerator="v6e-8",
                model={"id": HUB_ID, "paramsB": 8.03, "stage": STAGE, "maxtextName": "llama3.1-8b"},
                engine={"name": "jetstream-maxtext"},
                benchmark={"tool": "jetstream-benchmark"},
            )
        )
        hits = [ln for ln in lines if ln.startswith("tpustack:model.stage:")]
        assert hits and "MaxText" in hits[0], lines


def test_a_stage_path_that_could_break_the_iam_condition_is_refused():
    for bad in ('gs://acme-models/a"||true||"', "gs://acme-models/a b", "gs://acme-models/é"):
        lines = problems_of(staged_doc(model={"id": HUB_ID, "paramsB": 8.03, "stage": bad}))
        assert any(ln.startswith("tpustack:model.stage") for ln in lines), bad
