"""Prefill/decode disaggregation (tpustack:disaggregation): units per role, the rendered role pods (kv-transfer-config,
connector env, the decode routing sidecar), the config rules, and the cross-checks catching tampered manifests."""

from __future__ import annotations

import json

import pytest
import yaml

from tpustack import render
from tpustack.config import StackConfig, load_config
from tpustack.config.disaggregation import pd_routing
from tpustack.config.project import read_stack_file
from tpustack.config.units import Provisioning, Role
from tpustack.core import disagg
from tpustack.core.errors import ConfigError
from tpustack.core.k8s import pod_specs, template_labels
from tpustack.core.router import ROLE_LABEL
from tpustack.render.checks import cross_problems
from tpustack.render.gateway import expected_pool, pool_values

from helpers.project import PROJECT, ROOT

TPU, GPU = "gke-vllm-v6e-pd", "gke-vllm-gpu-pd"
PD_KEY = "tpustack:disaggregation"


def doc(stack: str) -> dict:
    return yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]


def load(stack: str, **edit) -> StackConfig:
    """The shipped stack with keys of tpustack:disaggregation (or, with a ':' in the name, top-level keys)
    replaced."""
    cfg, secrets = read_stack_file(PROJECT, stack)
    d = json.loads(cfg[PD_KEY])
    for k, v in edit.items():
        if k.startswith("top_"):
            name = "tpustack:" + k[4:]
            if v is None:
                cfg.pop(name, None)
            else:
                cfg[name] = v if isinstance(v, str) else json.dumps(v)
            continue
        target = d
        parts = k.split("__")
        for p in parts[:-1]:
            target = target[p]
        target[parts[-1]] = v
    cfg[PD_KEY] = json.dumps(d)
    return load_config(cfg, secrets, stack)


def problems_of(stack: str, **edit) -> list:
    with pytest.raises(ConfigError) as e:
        load(stack, **edit)
    return e.value.problems


def deployments(r: render.Rendered) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in r.apps["serving"] if o["kind"] == "Deployment"}


def containers(dep: dict) -> dict[str, dict]:
    return {c["name"]: c for c in dep["spec"]["template"]["spec"]["containers"]}


class TestOneUnitPerRegionAndRole:
    def test_prefill_then_decode_each_its_own_compute_class(self):
        units = load(TPU).units
        assert [u.role for u in units] == [Role.PREFILL, Role.DECODE]
        assert all(u.provisioning is Provisioning.COMPUTE_CLASS for u in units)
        assert [u.keys.unit for u in units] == [f"{PD_KEY}.prefill", f"{PD_KEY}.decode"]

    def test_every_region_repeats_both_roles(self):
        cfg = load(TPU, top_regions=[{"region": "us-central1", "zones": ["us-central1-b"]}])
        assert [(u.region.name, u.role.value) for u in cfg.units] == [
            ("us-east5", "prefill"),
            ("us-east5", "decode"),
            ("us-central1", "prefill"),
            ("us-central1", "decode"),
        ]

    def test_pd_routing_for_the_picker(self):
        pd = pd_routing(load(TPU))
        assert pd is not None and (pd.decider_type, pd.non_cached_tokens) == ("prefix-based-pd-decider", 512)
        pd = pd_routing(load(TPU, decider="always", nonCachedTokens=64))
        assert pd is not None and (pd.decider_type, pd.non_cached_tokens) == ("always-disagg-pd-decider", 64)
        assert set(disagg.DECIDERS) == {"always", "prefix-based"}


@pytest.mark.parametrize(
    ("stack", "connector", "roles"),
    [(TPU, "TPUConnector", ("kv_producer", "kv_consumer")), (GPU, "NixlConnector", ("kv_both", "kv_both"))],
)
def test_role_pods_run_their_connector_role(stack, connector, roles):
    deps = deployments(render.render(load(stack)))
    for name, role in zip(("vllm-prefill", "vllm-decode"), roles, strict=True):
        vllm = containers(deps[name])["vllm"]
        kv = [a for a in vllm["args"] if a.startswith("--kv-transfer-config=")]
        assert len(kv) == 1
        parsed = json.loads(kv[0].split("=", 1)[1])
        assert parsed["kv_connector"] == connector and parsed["kv_role"] == role
        labels = deps[name]["spec"]["template"]["metadata"]["labels"]
        assert labels[ROLE_LABEL] == name.split("-")[1]


def test_tpu_pods_get_the_connector_ports_as_pinned():
    deps = deployments(render.render(load(TPU, sideChannelPort=9700)))
    env = {e["name"]: e.get("value") for e in containers(deps["vllm-prefill"])["vllm"]["env"]}
    assert env["TPU_KV_TRANSFER_PORT"] == "9100" and env["TPU_SIDE_CHANNEL_PORT"] == "9700"
    vllm = containers(deps["vllm-prefill"])["vllm"]
    assert {p["containerPort"] for p in vllm["ports"]} == {8000, 9100, 9700}
    assert (
        json.loads(containers(deps["vllm-prefill"])["vllm"]["args"][-1].split("=", 1)[1])["kv_connector_module_path"]
        == "tpu_inference.distributed.tpu_connector"
    )


def test_gpu_pods_publish_their_ip_as_the_nixl_side_channel_host():
    deps = deployments(render.render(load(GPU)))
    env = {e["name"]: e for e in containers(deps["vllm-decode"])["vllm"]["env"]}
    assert env["VLLM_NIXL_SIDE_CHANNEL_PORT"]["value"] == "5600"
    assert env["VLLM_NIXL_SIDE_CHANNEL_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"


class TestDecodeSidecar:
    def test_sidecar_on_the_serving_port_vllm_behind_it(self):
        deps = deployments(render.render(load(TPU)))
        dec = containers(deps["vllm-decode"])
        side, vllm = dec["routing-proxy"], dec["vllm"]
        assert side["image"] == "ghcr.io/llm-d/llm-d-router-disagg-sidecar:v0.10.0"
        assert side["args"] == [
            "--port=8000",
            "--model-server-port=8200",
            "--kv-connector=nixlv2",
            "--secure-proxy=false",
        ]
        assert "--port=8200" in vllm["args"] and vllm["readinessProbe"]["httpGet"]["port"] == 8200
        assert "routing-proxy" not in containers(deps["vllm-prefill"])

    def test_flags_are_the_pinned_sidecars(self):
        pinned = {}
        for line in (ROOT / "tests/fixtures/disaggregation/sidecar_flags.txt").read_text().splitlines():
            if line and not line.startswith("#"):
                k, v = (s.strip() for s in line.split("="))
                pinned[k] = v
        side = containers(deployments(render.render(load(TPU)))["vllm-decode"])["routing-proxy"]
        assert {a[2:].split("=")[0] for a in side["args"]} <= set(pinned)
        assert pinned["model-server-port"] == str(disagg.SIDECAR_ENGINE_PORT)

    def test_pool_selects_both_roles_on_the_serving_port(self):
        cfg = load(TPU)
        r = render.render(cfg)
        pool = expected_pool(cfg)
        sel = pool["spec"]["selector"]["matchLabels"]
        roles = {
            template_labels(o, pod).get(ROLE_LABEL)
            for o in deployments(r).values()
            for _w, pod in pod_specs(o)
            if all(template_labels(o, pod).get(k) == v for k, v in sel.items())
        }
        assert roles == {"prefill", "decode"}
        assert pool["spec"]["targetPorts"] == [{"number": 8000}]


class TestRulesBeforeAnyResource:
    def _keys(self, stack, **edit):
        return {(p.key, p.reason) for p in problems_of(stack, **edit)}

    def test_mixed_accelerator_kinds(self):
        ps = problems_of(TPU, decode__accelerator="h100-1")
        assert any(p.key == f"{PD_KEY}.decode.accelerator" and "different layouts" in p.reason for p in ps)

    def test_gpu_connector_on_tpu(self):
        ps = problems_of(TPU, connector="NixlConnector")
        assert any(
            p.key == f"{PD_KEY}.connector" and "does not run on tpu" in p.reason and "TPUConnector" in p.fix for p in ps
        )

    def test_tpu_connector_needs_equal_tensor_parallel(self):
        ps = problems_of(TPU, decode__tensorParallel=2)
        assert any(p.key == f"{PD_KEY}.decode.tensorParallel" and "must be equal" in p.reason for p in ps)

    def test_nixl_takes_divisible_tensor_parallel(self):
        load(GPU, prefill__accelerator="h100-2", decode__accelerator="h100-4")  # 2 and 4: fine
        ps = problems_of(GPU, prefill__accelerator="h100-2", decode__accelerator="h100-4", decode__tensorParallel=3)
        assert any(p.key == f"{PD_KEY}.decode.tensorParallel" and "integer ratio" in p.reason for p in ps)

    def test_kv_cache_dtype_differs(self):
        ps = problems_of(TPU, decode__kvCacheDtype="fp8")
        assert any(p.key == f"{PD_KEY}.decode.kvCacheDtype" for p in ps)

    @pytest.mark.parametrize(
        ("edit", "key"),
        [({"enginePort": 8000}, f"{PD_KEY}.enginePort"), ({"sideChannelPort": 9100}, f"{PD_KEY}.sideChannelPort")],
    )
    def test_ports_clash(self, edit, key):
        ps = problems_of(TPU, **edit)
        assert any(p.key == key and "also" in p.reason for p in ps)

    def test_jetstream_has_no_connector(self):
        ps = problems_of(TPU, top_engine={"name": "jetstream-maxtext"})
        assert any(p.key == "tpustack:engine.name" and "no KV connector" in p.reason for p in ps)

    def test_needs_the_gateway(self):
        ps = problems_of(TPU, top_gateway=None)
        assert any(p.key == PD_KEY and "x-prefiller-host-port" in p.reason and "tpustack:gateway" in p.fix for p in ps)

    def test_accelerator_beside_roles_is_rejected(self):
        ps = problems_of(TPU, top_accelerator="v6e-8")
        assert any(p.key == "tpustack:accelerator" for p in ps)

    @pytest.mark.parametrize("decider", ["prefix-based", "always"])
    def test_pd_needs_the_prefix_cache(self, decider):
        off = {**doc(TPU)["tpustack:gateway"], "routing": {"prefixCache": "off"}}
        ps = problems_of(TPU, decider=decider, top_gateway=off)
        assert [p.key for p in ps] == ["tpustack:gateway.routing.prefixCache"]
        assert "prefix-cache scorer" in ps[0].reason and "approximate" in ps[0].fix

    def test_kv_port_clashes_with_the_kv_event_publisher(self):
        precise = {**doc(TPU)["tpustack:gateway"], "routing": {"prefixCache": "precise"}}
        load(TPU, top_gateway=precise)  # the pinned ports (8000, 8200, 9100, 9600, 5557) are distinct
        ps = problems_of(TPU, kvPort=5557, top_gateway=precise)
        assert any(p.key == f"{PD_KEY}.kvPort" and "KV-event publisher" in p.reason for p in ps)
        load(TPU, kvPort=5557)  # approximate: no publisher, no clash

    def test_every_problem_names_key_reason_fix(self):
        for p in problems_of(TPU, connector="NixlConnector", decode__kvCacheDtype="fp8", enginePort=8000):
            assert p.key and p.reason and p.fix


def picker_of_stack(cfg: StackConfig) -> dict:
    values = pool_values(cfg)["router"]["epp"]
    return yaml.safe_load(values["pluginsCustomConfig"][values["pluginsConfigFile"]])


@pytest.mark.parametrize(("decider", "plugin"), [("prefix-based", "prefix-based-pd-decider"), ("always", None)])
def test_picker_of_a_pd_stack_runs_the_stacks_decider(decider, plugin):
    picker = picker_of_stack(load(TPU, decider=decider, nonCachedTokens=300))
    by_type = {p["type"]: p for p in picker["plugins"]}
    expected = plugin or "always-disagg-pd-decider"
    assert by_type["disagg-profile-handler"]["parameters"]["deciders"] == {"prefill": expected}
    assert by_type[expected].get("parameters") == ({"nonCachedTokens": 300} if plugin else None)
    assert {p["name"] for p in picker["schedulingProfiles"]} == {"prefill", "decode"}


def test_picker_of_an_aggregated_stack_has_no_pd_profiles():
    cfg, secrets = read_stack_file(PROJECT, "gke-vllm-any")
    picker = picker_of_stack(load_config(cfg, secrets, "gke-vllm-any"))
    assert not {"disagg-profile-handler", "prefill-filter", "decode-filter"} & {p["type"] for p in picker["plugins"]}


class TestCrossChecksCatchTamperedManifests:
    def _tampered(self, stack, change):
        cfg = load(stack)
        r = render.render(cfg)  # fresh objects each call: tampering touches nothing shared
        assert not list(cross_problems(cfg, r))
        change(deployments(r))
        return list(cross_problems(cfg, r))

    def test_decode_pod_running_the_producer_role(self):
        def swap(deps):
            v = containers(deps["vllm-decode"])["vllm"]
            v["args"] = [a.replace("kv_consumer", "kv_producer") for a in v["args"]]

        ps = self._tampered(TPU, swap)
        assert any(p.key == f"{PD_KEY}.decode" and "kv-transfer-config" in p.reason for p in ps)

    def test_sidecar_pointing_elsewhere(self):
        def point(deps):
            s = containers(deps["vllm-decode"])["routing-proxy"]
            s["args"] = [
                a if not a.startswith("--model-server-port") else "--model-server-port=8300" for a in s["args"]
            ]

        ps = self._tampered(GPU, point)
        assert any(p.key == f"{PD_KEY}.enginePort" for p in ps)

    def test_role_label_lost(self):
        def unlabel(deps):
            deps["vllm-prefill"]["spec"]["template"]["metadata"]["labels"].pop(ROLE_LABEL)

        ps = self._tampered(TPU, unlabel)
        assert any(p.key == f"{PD_KEY}.prefill" and ROLE_LABEL in p.reason for p in ps)
        assert any(p.key == PD_KEY and "prefill" in p.reason for p in ps)

    def test_prefill_pod_out_of_the_pool(self):
        from tpustack.core import names

        def drop(deps):
            deps["vllm-prefill"]["spec"]["template"]["metadata"]["labels"].pop(names.LABEL_SERVING)

        ps = self._tampered(TPU, drop)
        assert any(p.key == PD_KEY and "misses" in p.reason for p in ps)

    def test_sidecar_removed(self):
        def remove(deps):
            spec = deps["vllm-decode"]["spec"]["template"]["spec"]
            spec["containers"] = [c for c in spec["containers"] if c["name"] != "routing-proxy"]

        ps = self._tampered(TPU, remove)
        assert any(p.key == f"{PD_KEY}.decode" and "no routing sidecar" in p.reason for p in ps)


def test_role_pods_land_where_their_compute_class_provisions():
    from tpustack.core import names
    from tpustack.render.selection import selection_problems

    cfg = load(TPU)
    r = render.render(cfg)
    assert not list(selection_problems(cfg, r))
    deps = deployments(r)
    sel = deps["vllm-decode"]["spec"]["template"]["spec"]["nodeSelector"]
    sel[names.COMPUTE_CLASS_LABEL] = names.compute_class(cfg.stack, "prefill")
    ps = list(selection_problems(cfg, r)) + list(cross_problems(cfg, r))
    assert ps, "a decode pod sent to the prefill role's ComputeClass must fail a cross-check"


def test_multi_host_role_is_rejected():
    ps = problems_of(TPU, decode__accelerator="v6e-16")
    assert any(p.key == f"{PD_KEY}.decode.accelerator" and "multi-host" in p.reason for p in ps)
