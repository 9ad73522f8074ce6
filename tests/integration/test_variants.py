"""Serving variants behind GKE Inference Gateway (issue: one model service on whichever accelerator has capacity).

The shipped stack gke-vllm-any plans a TPU-first / GPU-fallback service; its custom resources validate against
the pinned CRD schemas; the cross-checks prove each variant's pods can land on what its ComputeClass provisions
and that the InferencePool selects every variant and nothing else; bad combinations fail before any resource.
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tpustack import render
from tpustack.config import load_config
from tpustack.config.project import read_stack_file
from tpustack.core import names
from tpustack.core.errors import BenchmarkError, ConfigError
from tpustack.render import gateway as gateway_render
from tpustack.render import schema
from tpustack.render.selection import selection_problems as variant_problems
from workloads import serving_bench

from helpers.project import PROJECT, SECRETS, as_engine_values, by_type, plan_config, planned

STACK = "gke-vllm-any"


def cfg_any():
    return load_config(*read_stack_file(PROJECT, STACK), STACK)


def base_doc() -> dict:
    values, _ = read_stack_file(PROJECT, STACK)
    return copy.deepcopy(values)


def load(doc: dict):
    return load_config(as_engine_values(doc), SECRETS | {"tpustack:hfToken"}, "t")


# ----- the shipped stack ------------------------------------------------------------------------------------------
class TestShippedStack:
    def test_plans_tpu_first_gpu_fallback_behind_the_gateway(self):
        p = planned(STACK)
        kinds = [(m["kind"], m["metadata"]["name"]) for m in p.manifests]
        assert ("ComputeClass", "tps-gke-vllm-any-tpu") in kinds and ("ComputeClass", "tps-gke-vllm-any-gpu") in kinds
        assert ("Deployment", "vllm-tpu") in kinds and ("Deployment", "vllm-gpu") in kinds
        assert {"Gateway", "HTTPRoute", "InferenceObjective"} <= {k for k, _ in kinds}
        (release,) = [r for r in p.resources if r.type == "kubernetes:helm.sh/v3:Release"]
        assert release.inputs["chart"] == "oci://ghcr.io/llm-d/charts/llm-d-router-gateway"
        assert release.inputs["version"] == "v0.10.0" and release.inputs["name"] == names.POOL_NAME
        values = release.inputs["values"]
        assert values["provider"] == {"name": "gke"}
        assert values["router"]["modelServers"]["matchLabels"] == {names.LABEL_SERVING: "vllm"}
        # no declared accelerator pool: GKE creates them from the classes; the cluster runs GKE's Gateway controller
        pools = [r for r in by_type(p, "gcp:container/nodePool:NodePool") if r.inputs["name"] != "system"]
        assert pools == []
        (cluster,) = by_type(p, "gcp:container/cluster:Cluster")
        assert cluster.inputs["gatewayApiConfig"] == {"channel": "CHANNEL_STANDARD"}
        (subnet,) = by_type(p, "gcp:compute/subnetwork:Subnetwork")
        assert subnet.inputs["purpose"] == "REGIONAL_MANAGED_PROXY" and subnet.inputs["role"] == "ACTIVE"

    def test_priorities_in_the_users_order(self):
        classes = {m["metadata"]["name"]: m for m in planned(STACK).manifests if m["kind"] == "ComputeClass"}
        tpu = classes["tps-gke-vllm-any-tpu"]["spec"]
        assert [("spot" in p, "flexStart" in p) for p in tpu["priorities"]] == [
            (True, False),
            (False, True),
            (False, False),
        ]
        # GKE: a TPU priority needs type, count and topology
        assert all(p["tpu"] == {"type": "tpu-v6e-slice", "count": 4, "topology": "2x2"} for p in tpu["priorities"])
        gpu = classes["tps-gke-vllm-any-gpu"]["spec"]
        assert gpu["priorities"][0] == {
            "machineType": "a3-highgpu-1g",
            "gpu": {"type": "nvidia-h100-80gb", "count": 1},
            "spot": True,
            # the stack's image preload (tpustack:gke.imagePreload) on every priority
            "storage": {
                "secondaryBootDisks": [
                    {
                        "diskImageName": "tpustack-vllm-v0-32-0",
                        "project": "my-tpu-project",
                        "mode": "CONTAINER_IMAGE_CACHE",
                    }
                ]
            },
        }
        for spec in (tpu, gpu):
            assert spec["whenUnsatisfiable"] == "DoNotScaleUp" and spec["nodePoolAutoCreation"] == {"enabled": True}
            assert (
                spec["nodePoolConfig"]["serviceAccount"]
                == "tps-gke-vllm-any-node@my-tpu-project.iam.gserviceaccount.com"
            )

    def test_custom_resources_validate_against_the_pinned_schemas(self):
        r = render.render(cfg_any())
        custom = [o for o in r.objects() if (o["apiVersion"], o["kind"]) in schema.CRD_SCHEMAS]
        assert {o["kind"] for o in custom} == {"ComputeClass", "Gateway", "HTTPRoute", "InferenceObjective"}
        for o in custom:
            assert list(schema.crd_errors(o) or []) == [], o["kind"]
        # the pool the chart makes from our values validates against InferencePool v1 (v1.5.0 fields)
        assert list(schema.crd_errors(gateway_render.expected_pool(cfg_any())) or []) == []

    def test_schemas_are_strict(self):
        r = render.render(cfg_any())
        cc = copy.deepcopy(next(o for o in r.objects() if o["kind"] == "ComputeClass"))
        cc["spec"]["priorities"][0]["tpuu"] = {}
        route = copy.deepcopy(next(o for o in r.objects() if o["kind"] == "HTTPRoute"))
        route["spec"]["rules"][0]["backendRefs"][0]["kind"] = 7
        gw = copy.deepcopy(next(o for o in r.objects() if o["kind"] == "Gateway"))
        gw["spec"]["listeners"][0]["protocl"] = "HTTP"
        for broken in (cc, route, gw):
            assert list(schema.crd_errors(broken) or []), broken["kind"]

    def test_benchmark_goes_through_the_gateway(self):
        r = render.render(cfg_any())
        (cm,) = [o for o in r.apps["benchmark"] if o["metadata"]["name"] == "serving-bench-spec"]
        spec = json.loads(next(iter(cm["data"].values())))
        assert spec["server"]["gateway"] == {
            "namespace": names.namespace(STACK),
            "name": "inference-gateway",
            "port": 80,
        }
        assert [v["name"] for v in spec["metadata"]["variants"]] == ["tpu", "gpu"]
        role = next(o for o in r.apps["benchmark"] if o["kind"] == "Role")
        assert role["rules"] == [
            {"apiGroups": ["gateway.networking.k8s.io"], "resources": ["gateways"], "verbs": ["get"]}
        ]

    def test_cost_per_variant_and_worst_case(self):
        items = {i["urn"]: i for i in planned(STACK).cost["items"]}
        tpu, gpu = items["variant:tpu@us-east5"], items["variant:gpu@us-east5"]
        # v6e: spot 1.4033, flex-start 1.35, on-demand 2.70 per chip-hour (tpustack/cost/prices.yaml), 4 chips
        assert tpu["by_capacity"] == pytest.approx({"spot": 4 * 1.4033, "flex-start": 4 * 1.35, "on-demand": 4 * 2.7})
        assert tpu["hourly_usd"] == pytest.approx(4 * 2.7)  # worst case counted in the total
        assert gpu["hourly_usd"] == max(v for v in gpu["by_capacity"].values())


# ----- the cross-checks can fail ----------------------------------------------------------------------------------
class TestCrossChecks:
    def test_a_variant_the_pool_does_not_select_is_caught(self):
        cfg = cfg_any()
        r = render.render(cfg)
        dep = next(o for o in r.apps["serving"] if o["metadata"]["name"] == "vllm-gpu")
        del dep["spec"]["template"]["metadata"]["labels"][names.LABEL_SERVING]
        assert any("misses ['gpu']" in p.reason for p in variant_problems(cfg, r))

    def test_another_pod_the_pool_would_select_is_caught(self):
        cfg = cfg_any()
        r = render.render(cfg)
        job = next(o for o in r.apps["benchmark"] if o["kind"] == "Job")
        job["spec"]["template"]["metadata"]["labels"][names.LABEL_SERVING] = "vllm"
        assert any("not a serving variant" in p.reason for p in variant_problems(cfg, r))

    def test_a_class_that_provisions_other_chips_is_caught(self):
        cfg = cfg_any()
        r = render.render(cfg)
        cc = next(o for o in r.apps["capacity"] if o["metadata"]["name"].endswith("-tpu"))
        cc["spec"]["priorities"][1]["tpu"]["count"] = 8
        cc["spec"]["priorities"][2]["tpu"].pop("topology")
        found = [p.key for p in variant_problems(cfg, r)]
        assert "tpustack:variants[0].capacity[1]" in found and "tpustack:variants[0].capacity[2]" in found

    def test_a_pod_without_its_class_is_caught(self):
        cfg = cfg_any()
        r = render.render(cfg)
        dep = next(o for o in r.apps["serving"] if o["metadata"]["name"] == "vllm-tpu")
        dep["spec"]["template"]["spec"]["nodeSelector"].pop(names.COMPUTE_CLASS_LABEL)
        assert any("does not select ComputeClass" in p.reason for p in variant_problems(cfg, r))


# ----- bad combinations, before any resource ----------------------------------------------------------------------
def variant_doc(**changes) -> dict:
    doc = base_doc()
    for k, v in changes.items():
        if v is None:
            doc.pop(f"tpustack:{k}", None)
        else:
            doc[f"tpustack:{k}"] = v
    return doc


BAD = [
    (
        "tpu-only-engine-on-a-gpu-variant",
        dict(
            engine={"name": "jetstream-maxtext"},
            gateway=None,
            model={"id": "meta-llama/Llama-3.1-8B-Instruct", "maxtextName": "llama3.1-8b"},
        ),
        "tpustack:engine.name",
        "TPUs only",
    ),
    (
        "gateway-with-jetstream",
        dict(
            engine={"name": "jetstream-maxtext"},
            model={"id": "meta-llama/Llama-3.1-8B-Instruct", "maxtextName": "llama3.1-8b"},
        ),
        "tpustack:gateway",
        "use engine vllm",
    ),
    (
        "reservation-without-name",
        dict(variants=[{"name": "tpu", "accelerator": "v6e-4", "capacity": ["spot", "reservation"]}]),
        "tpustack:variants[0].capacity[1].reservation",
        "set variants[0].capacity[1].reservation (a name",
    ),
    (
        "queued-priority",
        dict(variants=[{"name": "tpu", "accelerator": "v6e-4", "capacity": ["queued"]}]),
        "tpustack:variants[0].capacity[0]",
        "flex-start",
    ),
    (
        "same-option-twice",
        dict(variants=[{"name": "tpu", "accelerator": "v6e-4", "capacity": ["spot", "spot"]}]),
        "tpustack:variants[0].capacity[1]",
        "once",
    ),
    (
        "multi-host-variant",
        dict(variants=[{"name": "big", "accelerator": "v6e-16", "capacity": ["on-demand"]}]),
        "tpustack:variants[0].accelerator",
        "single-host",
    ),
    (
        "model-does-not-fit-a-variant",
        dict(variants=[{"name": "small", "accelerator": "v5litepod-1", "capacity": ["on-demand"]}]),
        "tpustack:model.id",
        "variant small",
    ),
    (
        "gateway-on-a-too-old-gke",
        dict(gke={"releaseChannel": "REGULAR"}),
        "tpustack:gke.minMasterVersion",
        "1.34.0-gke.1626000",
    ),
    (
        "tpu-flex-start-on-old-gke",
        dict(gke={"releaseChannel": "STABLE"}, gateway=None),
        "tpustack:gke.minMasterVersion",
        "1.33",
    ),
    ("accelerator-beside-variants", dict(accelerator="v6e-8"), "tpustack:accelerator", "each variant"),
    (
        "duplicate-variant-names",
        dict(
            variants=[
                {"name": "a", "accelerator": "v6e-4", "capacity": ["spot"]},
                {"name": "a", "accelerator": "h100-1", "capacity": ["spot"]},
            ]
        ),
        "tpustack:variants[1].name",
        "own name",
    ),
    (
        "regions-without-gateway",
        dict(gateway=None, regions=[{"region": "us-central1", "zones": ["us-central1-a"]}]),
        "tpustack:regions",
        "gateway",
    ),
    (
        "zone-of-another-region",
        dict(regions=[{"region": "us-central1", "zones": ["us-east5-a"]}]),
        "tpustack:regions[0].zones",
        "us-central1-a",
    ),
    (
        "dns-on-an-internal-gateway",
        dict(gateway={"className": "gke-l7-rilb", "dnsZone": "z", "dnsName": "llm.example.com."}),
        "tpustack:gateway.dnsZone",
        "external",
    ),
]


@pytest.mark.parametrize("doc,key,fix", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_combinations_name_field_and_fix(doc, key, fix):
    with pytest.raises(ConfigError) as e:
        load(variant_doc(**doc))
    found = [(p.key, p.fix + " " + p.reason) for p in e.value.problems]
    assert any(k == key and fix in text for k, text in found), found


# ----- several regions ----------------------------------------------------------------------------------------------
def test_multi_region_plans_a_cluster_and_a_route_per_region():
    doc = variant_doc(
        regions=[{"region": "europe-west4", "zones": ["europe-west4-a"]}],
        gateway={"className": "gke-l7-regional-external-managed", "dnsZone": "llm-zone", "dnsName": "llm.example.com."},
    )
    p = plan_config(as_engine_values(doc), stack="geo")
    clusters = by_type(p, "gcp:container/cluster:Cluster")
    assert sorted(c.inputs["location"] for c in clusters) == ["europe-west4", "us-east5"]
    addresses = by_type(p, "gcp:compute/address:Address")
    assert sorted(a.inputs["region"] for a in addresses) == ["europe-west4", "us-east5"]
    (record,) = by_type(p, "gcp:dns/recordSet:RecordSet")
    geos = record.inputs["routingPolicy"]["geos"]
    assert sorted(g["location"] for g in geos) == ["europe-west4", "us-east5"]
    # each region's Gateway takes its own reserved address; each cluster has its own HTTPRoute to its own pool
    gws = [m for m in p.manifests if m["kind"] == "Gateway"]
    assert sorted(g["spec"]["addresses"][0]["value"] for g in gws) == sorted(a.inputs["name"] for a in addresses)
    routes = [m for m in p.manifests if m["kind"] == "HTTPRoute"]
    assert len(routes) == 2 and all(rt["spec"]["rules"][0]["backendRefs"][0]["name"] == "serving-pool" for rt in routes)
    classes = [m for m in p.manifests if m["kind"] == "ComputeClass"]
    zones = sorted(tuple(c["spec"]["priorityDefaults"]["location"]["zones"]) for c in classes)
    assert ("europe-west4-a",) in zones and ("us-east5-a", "us-east5-b") in zones
    items = {i["urn"] for i in p.cost["items"]}
    assert {"variant:tpu@europe-west4", "variant:gpu@us-east5"} <= items


# ----- the runner finds the gateway -----------------------------------------------------------------------------------
class _FakeApi:
    def __init__(self, answers):
        self.answers = list(answers)

        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps(outer.answers.pop(0) if len(outer.answers) > 1 else outer.answers[0]).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_runner_waits_for_the_programmed_gateway_address():
    pending = {"status": {"conditions": [{"type": "Programmed", "status": "False"}]}}
    ready = {"status": {"conditions": [{"type": "Programmed", "status": "True"}], "addresses": [{"value": "34.1.2.3"}]}}
    api = _FakeApi([pending, ready])
    try:
        gw = {"namespace": "ns", "name": "inference-gateway", "port": 80}
        assert serving_bench.gateway_address(gw, timeout_s=10, interval_s=0.05, api=api.url) == "34.1.2.3"
    finally:
        api.close()
    api = _FakeApi([pending])
    try:
        with pytest.raises(BenchmarkError, match="no programmed address"):
            serving_bench.gateway_address(gw, timeout_s=0.3, interval_s=0.05, api=api.url)
    finally:
        api.close()


def test_calendar_reservations_and_flex_start_windows():
    doc = variant_doc(
        variants=[
            {
                "name": "tpu",
                "accelerator": "v6e-4",
                "capacity": [
                    {"type": "reservation", "reservation": "cal-v6e", "calendar": True, "ends": "2020-01-01T00:00:00Z"},
                    "on-demand",
                ],
            }
        ]
    )
    cfg = load(doc)  # a calendar reservation is a specific reservation with an end
    cc = next(o for o in render.render(cfg).apps["capacity"])
    assert cc["spec"]["priorities"][0]["reservations"] == {
        "affinity": "Specific",
        "specific": [{"name": "cal-v6e", "project": "my-tpu-project"}],
    }
    assert any("calendar reservation cal-v6e ends" in w for w in cfg.warnings)  # it ended before the TTL
    no_end = copy.deepcopy(doc)
    no_end["tpustack:variants"][0]["capacity"][0].pop("ends")
    with pytest.raises(ConfigError) as e:
        load(no_end)
    assert any(p.key == "tpustack:variants[0].capacity[0].ends" for p in e.value.problems)
    long_flex = variant_doc(lifecycle={"ttlHours": 200})
    with pytest.raises(ConfigError) as e:
        load(long_flex)
    assert any(p.key == "tpustack:lifecycle.ttlHours" and "168" in p.fix for p in e.value.problems)


class TestEveryRegionIsValidatedBeforeAnyResource:
    """Every region's objects are rendered and cross-checked before the program declares its first resource:
    a problem found only in the second region leaves nothing declared (the program once declared region 0's
    cluster, pools and objects before rendering region 1)."""

    def test_a_failure_in_the_second_region_declares_nothing(self, monkeypatch):
        from tpustack import render
        from tpustack.core.errors import ConfigError, problem

        from helpers.project import run_program

        real = render.render
        seen = []

        def render_failing_in_region_1(cfg, region=None):
            seen.append(region.name if region else None)
            if region is not None and region.index == 1:
                raise ConfigError(
                    [problem("tpustack:regions[0]", "a problem only this region has", "fix it")], cfg.stack
                )
            return real(cfg, region)

        monkeypatch.setattr(render, "render", render_failing_in_region_1)
        doc = variant_doc(regions=[{"region": "us-central1", "zones": ["us-central1-b"]}])
        with pytest.raises(ConfigError, match="a problem only this region has") as e:
            run_program(doc)
        assert seen == ["us-east5", "us-central1"]
        assert e.value.declared == []  # type: ignore[attr-defined]
