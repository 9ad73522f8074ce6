"""Hyperdisk ML weights (issue 20, item 1; ``tpustack:model.weights: hyperdisk-ml``): a ReadOnlyMany volume GKE
Volume Populator fills once per cluster from the model's gs:// folder, attached read-only by every server.

Every name the weights app renders is checked against the pinned facts: the GCPDataSource, its PVC and the
transfer ComputeClass against GKE's Volume Populator pages (tests/fixtures/volume_populator/facts.json), the
StorageClass against the Persistent Disk CSI driver's own parameter, disk-type, topology and mount-flag
definitions and its machine compatibility map (tests/fixtures/pdcsi/facts.json, recorded from
gcp-compute-persistent-disk-csi-driver at the commit it names). The program is run under the mock engine for the
fill's IAM grant; bad settings are refused with field and fix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tpustack import render
from tpustack.config import derived
from tpustack.config.cold_start import unit_estimate
from tpustack.core import catalog, names, weights
from tpustack.render import volumes
from tpustack.render import weights as render_weights

from helpers.mocks import PROJECT_NUMBER
from helpers.project import (
    BASE,
    cfg_of,
    edited,
    load,
    named,
    plan_config,
    planned,
    problems_of,
    rendered,
    vllm_pods,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
VP = json.loads((FIXTURES / "volume_populator" / "facts.json").read_text())
PD = json.loads((FIXTURES / "pdcsi" / "facts.json").read_text())
SHIPPED = "gke-vllm-v6e-autoscale"
MODEL = {
    "id": "meta-llama/Llama-3.1-8B-Instruct",
    "paramsB": 8.03,
    "stage": "gs://my-models/meta-llama/Llama-3.1-8B-Instruct",
    "weights": "hyperdisk-ml",
}
GCS_MODEL = {
    "id": "gs://weights-bucket/llama-3.1-8b",
    "paramsB": 8.03,
    "contextLength": 131072,
    "weights": "hyperdisk-ml",
}
RAPID = {"releaseChannel": "RAPID"}


def doc(**over) -> dict:
    return edited(BASE, **{"model": MODEL, "gke": RAPID, **over})


def weights_app(r) -> dict[str, dict]:
    return {o["kind"]: o for o in r.apps["weights"]}


def claim_of(r) -> str:
    return weights_app(r)["PersistentVolumeClaim"]["metadata"]["name"]


@pytest.fixture(scope="module")
def shipped():
    return rendered(SHIPPED)


# ----- what the weights app renders, against the pinned facts ------------------------------------------------------
class TestAgainstThePinnedFacts:
    def test_the_app_holds_the_five_objects_of_the_gke_page(self, shipped):
        assert sorted(weights_app(shipped)) == sorted(
            ["ComputeClass", "StorageClass", "ServiceAccount", VP["datasource"]["kind"], "PersistentVolumeClaim"]
        )

    def test_the_data_source_is_the_documented_custom_resource(self, shipped):
        ds = weights_app(shipped)[VP["datasource"]["kind"]]
        assert ds["apiVersion"] == VP["datasource"]["apiVersion"]
        assert set(ds["spec"]) == set(VP["datasource"]["spec"])
        assert set(ds["spec"]["cloudStorage"]) == set(VP["datasource"]["spec"]["cloudStorage"])
        assert ds["spec"]["cloudStorage"]["uri"] == "gs://my-tpu-project-models/meta-llama/Llama-3.1-8B-Instruct/"
        assert ds["spec"]["cloudStorage"]["uri"].endswith(VP["datasource"]["uri_folder_ends_with"])
        # namespaced, beside its PVC and the workload (the page: "must be in the same namespace")
        pvc = weights_app(shipped)["PersistentVolumeClaim"]
        assert ds["metadata"]["namespace"] == pvc["metadata"]["namespace"] == names.namespace(SHIPPED)

    def test_the_claim_is_read_only_many_and_names_the_data_source(self, shipped):
        app = weights_app(shipped)
        pvc, ds = app["PersistentVolumeClaim"], app[VP["datasource"]["kind"]]
        assert pvc["spec"]["accessModes"] == VP["pvc"]["accessModes"]
        ref = pvc["spec"]["dataSourceRef"]
        assert ref == {
            "apiGroup": VP["pvc"]["dataSourceRef_apiGroup"],
            "kind": ds["kind"],
            "name": ds["metadata"]["name"],
        }
        size = int(pvc["spec"]["resources"]["requests"]["storage"].removesuffix("Gi"))
        assert size > VP["pvc"]["min_size_gib_exclusive"]
        cfg = load_shipped()
        assert size > cfg.served.weights_gib  # the weights fit, with room
        unknown = set(pvc["metadata"].get("annotations", {})) - {names.PULUMI_TIMEOUT, names.DEPENDS_ON}
        assert unknown <= set(VP["pvc"]["annotations"]), unknown

    def test_the_transfer_compute_class_is_the_predefined_one(self, shipped):
        cc = weights_app(shipped)["ComputeClass"]
        assert cc["metadata"]["name"] == VP["transfer_compute_class"]["name"] == weights.TRANSFER_COMPUTE_CLASS
        fams = [p["machineFamily"] for p in cc["spec"]["priorities"]]
        assert fams == VP["transfer_compute_class"]["machineFamilies"] == list(catalog.HDML_TRANSFER_FAMILIES)
        assert cc["spec"]["nodePoolAutoCreation"] == {"enabled": True}
        # its nodes never run as the Compute Engine default service account
        assert cc["spec"]["nodePoolConfig"]["serviceAccount"] == names.account_email(SHIPPED, "node", "my-tpu-project")

    def test_the_storage_class_speaks_the_pd_csi_drivers_parameters(self, shipped):
        sc = weights_app(shipped)["StorageClass"]
        assert sc["provisioner"] == PD["provisioner"] == VP["storage_class_sample"]["provisioner"]
        assert set(sc["parameters"]) <= set(PD["storage_class_parameters"]), sc["parameters"]
        assert sc["parameters"]["type"] in PD["disk_types"] and sc["parameters"]["type"] == "hyperdisk-ml"
        assert re.fullmatch(r"\d+Mi", sc["parameters"][weights.THROUGHPUT_PARAMETER])
        for opt in sc["mountOptions"]:
            assert any(re.fullmatch(p, opt) for p in PD["mount_option_patterns"]), opt
        (term,) = sc["allowedTopologies"]
        (expr,) = term["matchLabelExpressions"]
        assert expr["key"] == PD["topology_key"] == VP["storage_class_sample"]["topology_key"]
        assert expr["values"] == ["us-east5-a"]  # the accelerator pool's zone
        for k in ("allowVolumeExpansion", "reclaimPolicy", "volumeBindingMode"):
            assert sc[k] == VP["storage_class_sample"][k], k

    def test_tpustacks_facts_are_the_drivers_and_the_pages(self):
        assert frozenset(PD["hyperdisk_ml_families"]) == catalog.HYPERDISK_ML_FAMILIES
        assert PD["min_throughput_mibps_per_gib"] == weights.MIN_THROUGHPUT_MIBPS_PER_GIB
        assert VP["min_gke_version"] == weights.GKE_FOR_VOLUME_POPULATOR
        assert PD["provisioner"] == weights.PD_CSI_PROVISIONER
        assert {weights.THROUGHPUT_PARAMETER, weights.MULTI_ZONE_PARAMETER} <= set(PD["storage_class_parameters"])
        assert (
            int(VP["storage_class_sample"]["parameters"]["provisioned-throughput-on-create"].removesuffix("Mi"))
            == weights.THROUGHPUT_MIBPS_DEFAULT
        )
        assert f"{weights.DATASOURCE_GROUP}/{weights.DATASOURCE_VERSION}" == VP["datasource"]["apiVersion"]

    def test_every_serving_machine_of_the_shipped_stack_attaches_it(self):
        cfg = load_shipped()
        for u in cfg.units:
            assert u.shape.machine_type.split("-")[0] in PD["hyperdisk_ml_families"], u.shape.machine_type

    def test_the_app_passes_schema_and_cross_checks(self, shipped):
        # render() raised on any schema or cross-check problem; the checks themselves see these objects
        assert not list(volumes.check_claims(load_shipped(), shipped))
        assert not list(volumes.check_depends_on(load_shipped(), shipped))


def load_shipped():
    return cfg_of(SHIPPED)


# ----- the servers ------------------------------------------------------------------------------------------------
class TestServers:
    def test_vllm_mounts_the_claim_read_only_as_its_model(self, shipped):
        (pod,) = vllm_pods(shipped.objects())
        (vol,) = [v for v in pod["volumes"] if v["name"] == "model"]
        assert vol == {"name": "model", "persistentVolumeClaim": {"claimName": claim_of(shipped), "readOnly": True}}
        vllm = next(c for c in pod["containers"] if c["name"] == "vllm")
        (mount,) = [m for m in vllm["volumeMounts"] if m["name"] == "model"]
        assert mount == {"name": "model", "mountPath": render_weights.MODEL_MOUNT_PATH, "readOnly": True}
        assert vllm["args"][0] == render_weights.MODEL_MOUNT_PATH
        # a staged Hub model keeps its Hub id as the served name
        assert "--served-model-name=meta-llama/Llama-3.1-8B-Instruct" in vllm["args"]
        assert not any(
            v.get("csi", {}).get("volumeAttributes", {}).get("bucketName") == "my-tpu-project-models"
            for v in pod["volumes"]
        )

    def test_a_multi_host_slice_mounts_it_on_leader_and_workers(self):
        cfg = load(doc(accelerator="v6e-16", model={**GCS_MODEL}))
        r = render.render(cfg)
        (lws,) = [o for o in r.objects() if o["kind"] == "LeaderWorkerSet"]
        for part in ("leaderTemplate", "workerTemplate"):
            pod = lws["spec"]["leaderWorkerTemplate"][part]["spec"]
            (vol,) = [v for v in pod["volumes"] if v["name"] == "model"]
            assert vol["persistentVolumeClaim"] == {"claimName": claim_of(r), "readOnly": True}

    def test_one_volume_per_cluster_for_every_variant_and_zones_of_their_classes(self):
        variants = [
            {"name": "tpu", "accelerator": "v6e-4", "capacity": ["spot"], "replicas": 1},
            {"name": "gpu", "accelerator": "h100-1", "capacity": ["spot"], "replicas": 1},
        ]
        cfg = load(
            doc(
                model=GCS_MODEL,
                variants=variants,
                accelerator=None,
                capacity=None,
                zones=["us-east5-a", "us-east5-b"],
                gke={"releaseChannel": "RAPID", "minMasterVersion": "1.34.1-gke.1127000"},
            )
        )
        r = render.render(cfg)
        app = r.apps["weights"]
        assert [o["kind"] for o in app].count("PersistentVolumeClaim") == 1
        sc = weights_app(r)["StorageClass"]
        assert sc["parameters"][weights.MULTI_ZONE_PARAMETER] == "true"
        assert sc["allowedTopologies"][0]["matchLabelExpressions"][0]["values"] == ["us-east5-a", "us-east5-b"]
        claims = {
            v["persistentVolumeClaim"]["claimName"]
            for p in vllm_pods(r.objects())
            for v in p["volumes"]
            if "persistentVolumeClaim" in v
        }
        assert claims == {claim_of(r)}
        assert len(vllm_pods(r.objects())) == 2

    def test_a_change_to_the_volume_fills_a_new_one_and_moves_the_servers(self):
        """A filled disk cannot change: folder, size, throughput and zones name it, so a changed stack creates a
        new PVC (and data source and StorageClass) and its servers mount that, while the same stack renders the
        same names."""

        def names_of(**over):
            r = render.render(load(doc(**over)))
            app = weights_app(r)
            (pod,) = vllm_pods(r.objects())
            (vol,) = [v for v in pod["volumes"] if v["name"] == "model"]
            assert vol["persistentVolumeClaim"]["claimName"] == claim_of(r)
            assert app["PersistentVolumeClaim"]["spec"]["dataSourceRef"]["name"] == claim_of(r)
            return claim_of(r), app["StorageClass"]["metadata"]["name"]

        first = names_of()
        assert names_of() == first
        changed = [
            names_of(model={**MODEL, "stage": "gs://my-models/other/Llama-3.1-8B-Instruct"}),
            names_of(model={**MODEL, "hyperdiskMl": {"sizeGib": 40}}),
            names_of(model={**MODEL, "hyperdiskMl": {"throughputMibps": 4800}}),
            names_of(zones=["us-east5-b"]),
        ]
        for claim, sc in changed:
            assert claim != first[0] and sc != first[1], (claim, sc)
        assert len({c for c, _ in changed}) == len(changed)

    def test_the_volume_holds_the_checkpoint_not_the_quantized_weights(self):
        """Served at fp8, a bf16 checkpoint still copies at bf16: the disk is sized for what the folder holds."""
        bf16 = load(doc())
        fp8 = load(doc(model={**MODEL, "dtype": "fp8"}))
        assert fp8.served.weights_gib < bf16.served.weights_gib
        assert derived.hyperdisk_size_gib(fp8) == derived.hyperdisk_size_gib(bf16) > bf16.served.checkpoint_gib
        lines = problems_of(doc(model={**MODEL, "dtype": "fp8", "hyperdiskMl": {"sizeGib": 10}}))
        named(lines, "tpustack:model.hyperdiskMl.sizeGib", "as stored")

    def test_other_paths_render_no_weights_app(self):
        for path in ("gcs-fuse", "runai-streamer"):
            r = render.render(load(doc(model={**GCS_MODEL, "weights": path})))
            assert "weights" not in r.apps, path

    def test_the_claim_waits_for_what_it_names_inside_its_group(self, shipped):
        pvc = weights_app(shipped)["PersistentVolumeClaim"]
        refs = pvc["metadata"]["annotations"][names.DEPENDS_ON].split(",")
        held = {volumes.reference(o) for o in shipped.apps["weights"]}
        assert set(refs) <= held and len(refs) == 4
        # deleted before its GCPDataSource: the GKE page says the PVC's deletion sticks otherwise
        assert volumes.reference(weights_app(shipped)[VP["datasource"]["kind"]]) in refs
        assert int(pvc["metadata"]["annotations"][names.PULUMI_TIMEOUT]) >= 1200

    def test_a_dangling_name_is_a_problem(self):
        r = render.render(load_shipped())  # its own objects, changed below
        app = weights_app(r)
        app["PersistentVolumeClaim"]["metadata"]["annotations"][names.DEPENDS_ON] += ",/namespaces/x/Secret/y"
        app["PersistentVolumeClaim"]["spec"]["dataSourceRef"]["name"] = "nope"
        app[VP["datasource"]["kind"]]["spec"]["cloudStorage"]["serviceAccountName"] = "nobody"
        (dep,) = [o for o in r.apps["serving"] if o["kind"] == "Deployment"]
        for v in dep["spec"]["template"]["spec"]["volumes"]:
            if v["name"] == "model":
                v["persistentVolumeClaim"]["readOnly"] = False
        cfg = load_shipped()
        found = [p.reason for p in (*volumes.check_depends_on(cfg, r), *volumes.check_claims(cfg, r))]
        assert any("/namespaces/x/Secret/y" in f for f in found), found
        assert any("GCPDataSource nope (datalayer.gke.io)" in f for f in found), found
        assert any("nobody" in f for f in found), found
        assert any("writable" in f for f in found), found


# ----- the fill's identity, under the mock engine -----------------------------------------------------------------
class TestIdentity:
    def test_the_fill_ksa_reads_the_model_bucket_as_its_own_principal(self):
        p = planned(SHIPPED)
        (m,) = [r for r in p.resources if r.name.endswith("fill-model-objectViewer")]
        assert m.type == "gcp:storage/bucketIAMMember:BucketIAMMember"
        assert m.inputs["bucket"] == "my-tpu-project-models" and m.inputs["role"] == VP["iam"]["role"]
        want = (
            VP["iam"]["member"]
            .replace("PROJECT_NUMBER", "<number of project my-tpu-project>")
            .replace("PROJECT_ID", "my-tpu-project")
            .replace("NAMESPACE", names.namespace(SHIPPED))
            .replace("KSA_NAME", render_weights.FILL_KSA)
        )
        assert m.inputs["member"] == want
        assert any(d.endswith("::gke-cluster") for d in m.depends_on)  # the identity pool exists with the cluster

    def test_the_member_takes_the_projects_number(self):
        assert names.wi_principal(PROJECT_NUMBER, "p", "ns", "sa") == (
            VP["iam"]["member"]
            .replace("PROJECT_NUMBER", PROJECT_NUMBER)
            .replace("PROJECT_ID", "p")
            .replace("NAMESPACE", "ns")
            .replace("KSA_NAME", "sa")
        )

    def test_no_grant_without_a_volume(self):
        p = plan_config(doc(model={**MODEL, "weights": "gcs-fuse"}))
        assert not [r for r in p.resources if "fill-model" in r.name]

    def test_the_serving_app_waits_for_the_grant(self):
        p = plan_config(doc())
        (k8s,) = [r for r in p.resources if r.type == "tpustack:serving:Serving"]
        (grant,) = [r for r in p.resources if r.name.endswith("fill-model-objectViewer")]
        assert grant.urn in k8s.depends_on


# ----- the estimate ----------------------------------------------------------------------------------------------
def test_the_estimate_reads_the_weights_at_the_provisioned_throughput():
    cfg = load(doc(model={**MODEL, "hyperdiskMl": {"throughputMibps": 4800}}))
    est = unit_estimate(cfg, cfg.units[0])
    assert est is not None and est.weight_path == weights.HYPERDISK_ML
    (phase,) = [ph for ph in est.phases if ph.name == "weights_loaded"]
    assert phase.seconds == pytest.approx(cfg.served.weight_bytes / (4800 * 1024 * 1024))
    assert "throughputMibps" in phase.basis and "upper bound" in phase.basis


# ----- refused, with field and fix, before any resource ---------------------------------------------------------
class TestRefused:
    def test_a_cluster_that_may_predate_the_populator(self):
        named(problems_of(doc(gke=None)), "tpustack:gke.minMasterVersion", "Volume Populator", "1.33.3-gke.1136000")

    def test_a_machine_that_cannot_attach_it(self):
        lines = problems_of(doc(accelerator="v4-8"))
        named(lines, "tpustack:model.weights", "ct4p-hightpu-4t", "gcs-fuse")

    def test_a_volume_smaller_than_the_weights(self):
        lines = problems_of(doc(model={**MODEL, "hyperdiskMl": {"sizeGib": 10}}))
        named(lines, "tpustack:model.hyperdiskMl.sizeGib", "15.0 GiB", "gs://my-models/")

    def test_throughput_below_the_drivers_floor_for_the_size(self):
        lines = problems_of(doc(model={**MODEL, "hyperdiskMl": {"sizeGib": 60000, "throughputMibps": 400}}))
        named(lines, "tpustack:model.hyperdiskMl.throughputMibps", "7,200 MiB/s")

    def test_settings_without_the_path(self):
        m = {k: v for k, v in MODEL.items() if k != "weights"}
        named(problems_of(doc(model={**m, "hyperdiskMl": {}})), "tpustack:model.hyperdiskMl", "hyperdisk-ml")

    @pytest.mark.parametrize(
        "settings, key",
        [
            ({"throughputMibps": "fast"}, "throughputMibps"),
            ({"throughputMibps": 10**9}, "throughputMibps"),
            ({"throughputMibps": 2_097_153}, "throughputMibps"),
            ({"throughputMibps": 399}, "throughputMibps"),
            ({"sizeGib": 4}, "sizeGib"),
            ({"sizeGib": 70000}, "sizeGib"),
            ({"throughput": 400}, "throughput"),
            ("fast", ""),
        ],
    )
    def test_bad_values(self, settings, key):
        lines = problems_of(doc(model={**MODEL, "hyperdiskMl": settings}))
        want = "tpustack:model.hyperdiskMl" + (f".{key}" if key else "")
        assert any(ln.startswith(want) and "Fix:" in ln for ln in lines), lines

    def test_a_hub_model_without_staging(self):
        m = {k: v for k, v in MODEL.items() if k != "stage"}
        named(problems_of(doc(model=m)), "tpustack:model.weights", "gs://")

    def test_a_model_of_unknown_size_needs_its_size_stated(self):
        unknown = {"id": "gs://weights-bucket/mystery", "contextLength": 4096, "weights": "hyperdisk-ml"}
        named(problems_of(doc(model=unknown, hfToken=None)), "tpustack:model.hyperdiskMl.sizeGib", "unknown")
        stated = problems_of(doc(model={**unknown, "hyperdiskMl": {"sizeGib": 100}}, hfToken=None))
        assert not any(ln.startswith("tpustack:model.hyperdiskMl") for ln in stated), stated


def test_the_default_never_picks_the_disk():
    """Hyperdisk ML costs a volume and a transfer: only a stack that asks for it gets it."""
    cfg = load(doc(model={**GCS_MODEL, "weights": None}))
    assert {derived.weight_path(cfg, u) for u in cfg.units} != {weights.HYPERDISK_ML}
    assert "weights" not in render.render(cfg).apps
