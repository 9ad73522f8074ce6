"""GKE Inference Gateway's endpoint picker from llm-d-router v0.10.0 (tpustack.core.router): the chart values tpustack
writes exist in the pinned chart, the EndpointPickerConfig it renders from tpustack:gateway.routing names only plugins
and parameters the pinned picker registers (it refuses unknown ones at start), P/D profiles from a PdRouting, the
routing config's problems, and precise prefix routing's engine flags on the serving pods."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tpustack import render
from tpustack.config import load_config
from tpustack.config.project import read_stack_file
from tpustack.config.routing import PrefixCache, RoutingConfig
from tpustack.core import images, router
from tpustack.core.errors import ConfigError
from tpustack.render import gateway, schema
from tpustack.render.picker import PickerInputs, picker_config

from helpers import artifacts
from helpers.project import PROJECT, SECRETS, as_engine_values

FIXTURES = Path(__file__).parents[2] / "fixtures" / "router"
VALUES = json.loads((FIXTURES / f"chart-values-v{router.ROUTER_VERSION}.json").read_text())
PLUGINS = json.loads((FIXTURES / f"plugins-v{router.ROUTER_VERSION}.json").read_text())
STACK = "gke-vllm-any"


def doc(routing: dict | None = None, **edits: Any) -> dict:
    values, _ = read_stack_file(PROJECT, STACK)
    values = {k: _json(v) for k, v in copy.deepcopy(values).items()}
    if routing is not None:
        values["tpustack:gateway"]["routing"] = routing
    values.update(edits)
    return values


def _json(v: Any) -> Any:
    try:
        return json.loads(v) if isinstance(v, str) else v
    except ValueError:
        return v


def load(values: dict):
    return load_config(as_engine_values(values), SECRETS, "t")


def problems(values: dict) -> list:
    with pytest.raises(ConfigError) as e:
        load(values)
    return e.value.problems


def cfg_of(routing: dict | None = None, **edits: Any):
    return load(doc(routing, **edits))


def _paths(v: Any, path: str = ""):
    """Every value path tpustack writes, stopping at the chart's free-form maps."""
    if path in VALUES["maps"] or not isinstance(v, dict):
        yield path
        return
    for k, x in v.items():
        yield from _paths(x, f"{path}.{k}" if path else k)


def _params(v: Any, path: str = ""):
    if isinstance(v, dict):
        for k, x in v.items():
            p = f"{path}.{k}" if path else k
            yield p
            yield from _params(x, p)


def picker_of(values: dict) -> dict:
    return yaml.safe_load(values["router"]["epp"]["pluginsCustomConfig"][values["router"]["epp"]["pluginsConfigFile"]])


def assert_pinned(cfg: dict) -> None:
    """Every plugin the picker config names is registered at the pinned commit, beta and not deprecated, with only
    the parameters its config struct decodes; every reference resolves to a declared plugin."""
    assert cfg["apiVersion"] == "llm-d.ai/v1alpha1" and cfg["kind"] == "EndpointPickerConfig"
    registry, known = PLUGINS["plugins"], PLUGINS["parameters"]
    declared = set()
    for p in cfg["plugins"]:
        assert p["type"] in registry, p["type"]
        assert registry[p["type"]]["stability"] == "beta" and not registry[p["type"]]["deprecated"], p["type"]
        unknown = [k for k in _params(p.get("parameters", {})) if k not in known[p["type"]]["keys"]]
        unknown = [k for k in unknown if not any(k.startswith(f"{m}.") for m in ("indexerConfig",))]
        assert unknown == [], (p["type"], unknown)
        declared.add(p.get("name", p["type"]))
    refs = [ref["pluginRef"] for prof in cfg["schedulingProfiles"] for ref in prof["plugins"]]
    refs += [s["pluginRef"] for s in (cfg.get("dataLayer") or {}).get("sources", [])]
    refs += [e["pluginRef"] for s in (cfg.get("dataLayer") or {}).get("sources", []) for e in s["extractors"]]
    for p in cfg["plugins"]:
        params = p.get("parameters") or {}
        refs += [params[k] for k in ("prefixMatchInfoProducerName",) if k in params]
        refs += list((params.get("deciders") or {}).values())
    assert set(refs) <= declared, set(refs) - declared


# ----- the chart ---------------------------------------------------------------------------------------------------
class TestChart:
    def test_fixtures_name_the_pinned_commit(self):
        assert VALUES["commit"] == PLUGINS["commit"] == router.ROUTER_COMMIT

    def test_every_value_key_tpustack_writes_is_in_the_pinned_chart(self):
        for routing in (None, {"prefixCache": "precise"}, {"prefixCache": "off", "scorers": {"queue-scorer": 1}}):
            written = sorted(set(_paths(gateway.pool_values(cfg_of(routing)))))
            assert [k for k in written if k not in VALUES["keys"] and k not in VALUES["maps"]] == [], routing
            assert "router.tokenizer.enabled" in written or routing != {"prefixCache": "precise"}

    def test_a_key_the_chart_lacks_is_caught(self):
        """The check can fail: the Inference Extension chart's keys are not the router's."""
        assert "inferencePool.modelServers.matchLabels" not in VALUES["keys"]
        assert "inferenceExtension.image.tag" not in VALUES["keys"]

    def test_pool_release_image_and_selector(self):
        v = gateway.pool_values(cfg_of())
        assert v["provider"] == {"name": "gke"}
        assert v["router"]["epp"]["image"] == {
            "registry": "ghcr.io/llm-d",
            "repository": "llm-d-router-endpoint-picker",
            "tag": "v0.10.0",
            "pullPolicy": "IfNotPresent",
        }
        assert v["router"]["modelServers"] == {
            "matchLabels": gateway.pool_selector(cfg_of()),
            "type": "vllm",
            "targetPorts": [{"number": 8000}],
        }
        assert "tokenizer" not in v["router"]

    def test_the_pool_the_chart_makes_validates(self):
        pool = gateway.expected_pool(cfg_of())
        assert list(schema.crd_errors(pool) or []) == []
        assert pool["spec"]["endpointPickerRef"]["name"] == "serving-pool-epp"

    def test_objective_is_llm_d_group_and_validates(self):
        (obj,) = [o for o in render.render(cfg_of()).objects() if o["kind"] == "InferenceObjective"]
        assert obj["apiVersion"] == "llm-d.ai/v1alpha2"
        assert list(schema.crd_errors(obj) or []) == []
        broken = copy.deepcopy(obj)
        broken["spec"]["priorty"] = 1
        assert list(schema.crd_errors(broken) or [])


# ----- the picker's configuration ------------------------------------------------------------------------------------
class TestPickerConfig:
    def test_default_is_the_charts_default_profile(self):
        cfg = picker_of(gateway.pool_values(cfg_of()))
        assert_pinned(cfg)
        assert [p["type"] for p in cfg["plugins"]] == list(router.CHART_SCORER_WEIGHTS)
        assert cfg["schedulingProfiles"] == [
            {
                "name": "default",
                "plugins": [{"pluginRef": k, "weight": w} for k, w in router.CHART_SCORER_WEIGHTS.items()],
            }
        ]

    def test_approximate_with_index_parameters(self):
        routing = {
            "scorers": {"queue-scorer": 1, "prefix-cache-scorer": 4.5},
            "prefix": {
                "autoTune": False,
                "blockSizeTokens": 64,
                "maxPrefixTokens": 32768,
                "lruCapacityPerServer": 20000,
                "matchLengthWeight": 0.25,
            },
        }
        cfg = picker_of(gateway.pool_values(cfg_of(routing)))
        assert_pinned(cfg)
        by_type = {p["type"]: p for p in cfg["plugins"]}
        assert by_type["approx-prefix-cache-producer"]["parameters"] == {
            "autoTune": False,
            "blockSizeTokens": 64,
            "maxPrefixTokensToMatch": 32768,
            "lruCapacityPerServer": 20000,
        }
        assert by_type["prefix-cache-scorer"]["parameters"] == {
            "matchLengthWeight": 0.25,
            "prefixMatchInfoProducerName": "approx-prefix-cache-producer",
        }
        weights = {r["pluginRef"]: r["weight"] for r in cfg["schedulingProfiles"][0]["plugins"]}
        assert weights == {"queue-scorer": 1.0, "prefix-cache-scorer": 4.5}

    def test_off_has_no_prefix_plugin(self):
        cfg = picker_of(gateway.pool_values(cfg_of({"prefixCache": "off"})))
        assert_pinned(cfg)
        assert not [p for p in cfg["plugins"] if "prefix" in p["type"]]

    def test_precise_reads_kv_events_through_the_tokenizer(self):
        c = cfg_of({"prefixCache": "precise", "prefix": {"blockSizeTokens": 64}})
        values = gateway.pool_values(c)
        cfg = picker_of(values)
        assert_pinned(cfg)
        by_type = {p["type"]: p for p in cfg["plugins"]}
        assert by_type["token-producer"]["parameters"] == {
            "modelName": "meta-llama/Llama-3.1-8B-Instruct",
            "vllm": {"url": "http://localhost:8000"},
        }
        precise = by_type["precise-prefix-cache-producer"]["parameters"]
        assert precise["kvEventsConfig"]["podDiscoveryConfig"]["socketPort"] == router.KV_EVENTS_PORT
        assert precise["tokenProcessorConfig"] == {"blockSizeTokens": 64}
        assert cfg["dataLayer"]["sources"][0]["extractors"] == [{"pluginRef": "precise-prefix-cache-producer"}]
        tok = values["router"]["tokenizer"]
        assert tok["enabled"] and tok["modelName"] == "meta-llama/Llama-3.1-8B-Instruct"
        assert tok["env"][0]["valueFrom"]["secretKeyRef"]["name"] != "llm-d-hf-token"

    def test_an_unregistered_plugin_is_caught(self):
        cfg = picker_config(PickerInputs(routing=RoutingConfig(), model=None))
        cfg["plugins"].append({"type": "prefix-cache-scorrer"})
        with pytest.raises(AssertionError):
            assert_pinned(cfg)
        cfg = picker_config(PickerInputs(routing=RoutingConfig(), model=None))
        cfg["plugins"][0]["parameters"] = {"blockSize": 16}
        with pytest.raises(AssertionError):
            assert_pinned(cfg)


class TestPdProfiles:
    @pytest.mark.parametrize(
        ("decider", "tokens", "params"),
        [("always", 0, None), ("prefix-based", 256, {"nonCachedTokens": 256})],
    )
    def test_prefill_and_decode_profiles(self, decider, tokens, params):
        pd = router.PdRouting(decider=decider, non_cached_tokens=tokens)
        cfg = picker_config(PickerInputs(routing=RoutingConfig(), model=None, pd=pd))
        assert_pinned(cfg)
        by_type = {p["type"]: p for p in cfg["plugins"]}
        assert by_type[router.PD_DECIDERS[decider]].get("parameters") == params
        assert by_type["disagg-profile-handler"]["parameters"] == {
            "profiles": {"prefill": "prefill", "decode": "decode"},
            "deciders": {"prefill": router.PD_DECIDERS[decider]},
        }
        profiles = {p["name"]: [r["pluginRef"] for r in p["plugins"]] for p in cfg["schedulingProfiles"]}
        assert profiles == {
            "prefill": ["prefill-filter", *router.CHART_SCORER_WEIGHTS],
            "decode": ["decode-filter", *router.CHART_SCORER_WEIGHTS],
        }

    def test_bad_pd_routing_refused(self):
        with pytest.raises(ValueError, match="decider"):
            router.PdRouting(decider="sometimes", non_cached_tokens=0)
        with pytest.raises(ValueError, match="non_cached_tokens"):
            router.PdRouting(decider="prefix-based", non_cached_tokens=-1)

    def test_role_label_is_the_filters(self):
        src = PLUGINS["plugins"]["prefill-filter"]["file"]
        assert src == PLUGINS["plugins"]["decode-filter"]["file"] and src.endswith("bylabel/roles.go")
        assert router.ROLE_LABEL == "llm-d.ai/role"


# ----- tpustack:gateway.routing ---------------------------------------------------------------------------------------
class TestRoutingProblems:
    def test_default(self):
        r = cfg_of().gateway.routing
        assert r.prefix_cache is PrefixCache.APPROXIMATE and r.weights() == router.CHART_SCORER_WEIGHTS

    @pytest.mark.parametrize(
        ("routing", "key", "words"),
        [
            ({"scorers": {"queue-scorr": 1}}, "scorers", "did you mean queue-scorer"),
            ({"scorers": {"queue-scorer": 0, "prefix-cache-scorer": 1}}, "scorers", "> 0"),
            ({"scorers": {"queue-scorer": "heavy", "prefix-cache-scorer": 1}}, "scorers", "not a number"),
            ({"scorers": {}}, "scorers", "at least one"),
            ({"scorers": {"queue-scorer": 1}}, "routing", "needs prefix-cache-scorer"),
            ({"prefixCache": "off", "scorers": {"prefix-cache-scorer": 1}}, "routing", "prefixCache is off"),
            ({"prefix": {"blockSizeTokens": 128}}, "routing", "autoTune: false"),
            ({"prefix": {"autoTune": False, "blockSizeTokens": 16}}, "blockSizeTokens", "64"),
            ({"prefixCache": "precise", "prefix": {"maxPrefixTokens": 1024}}, "routing", "approximate index"),
            ({"prefixCache": "sometimes"}, "prefixCache", ""),
            ({"weights": {}}, "weights", "not a known setting"),
        ],
    )
    def test_bad_routing_names_key_reason_fix(self, routing, key, words):
        (p,) = problems(doc(routing))
        assert p.key.startswith("tpustack:gateway") and key in p.key, p
        assert words in f"{p.reason} {p.fix}", p
        assert p.fix

    def test_precise_needs_an_engine_with_kv_events_and_prefix_caching(self):
        values = doc({"prefixCache": "precise"})
        values["tpustack:engine"] = {**values["tpustack:engine"], "vllm": {"enablePrefixCaching": False}}
        (p,) = problems(values)
        assert p.key == "tpustack:gateway.routing.prefixCache" and "enablePrefixCaching" in p.reason
        values["tpustack:engine"]["vllm"] = {"extraArgs": ['--kv-events-config={"enable_kv_cache_events":true}']}
        (p,) = problems(values)
        assert p.key == "tpustack:gateway.routing.prefixCache" and "extraArgs" in p.reason


# ----- precise prefix routing on the serving pods -----------------------------------------------------------------
class TestKvEventsOnServingPods:
    def _vllm(self, c) -> list[dict]:
        out = []
        for o in render.render(c).objects():
            if o["kind"] == "Deployment":
                out += [x for x in o["spec"]["template"]["spec"]["containers"] if x["name"] == "vllm"]
        return out

    def test_precise_renders_the_flag_and_pod_ip(self):
        containers = self._vllm(cfg_of({"prefixCache": "precise"}))
        assert len(containers) == 2
        for ctr in containers:
            (flag,) = [a for a in ctr["args"] if a.startswith("--kv-events-config=")]
            kv = json.loads(flag.removeprefix("--kv-events-config="))
            assert kv == {
                "enable_kv_cache_events": True,
                "publisher": "zmq",
                "endpoint": f"tcp://*:{router.KV_EVENTS_PORT}",
                "topic": "kv@$(POD_IP)@meta-llama/Llama-3.1-8B-Instruct",
            }
            (ip,) = [e for e in ctr["env"] if e["name"] == "POD_IP"]
            assert ip["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}

    def test_approximate_leaves_the_pods_alone(self):
        for ctr in self._vllm(cfg_of()):
            assert not [a for a in ctr["args"] if "kv-events" in a]
            assert not [e for e in ctr.get("env", []) if e["name"] == "POD_IP"]

    def test_the_flag_and_its_fields_are_in_the_pinned_vllm(self):
        """--kv-events-config and the KVEventsConfig fields rendered exist in the vllm-tpu wheel the TPU image is."""
        wheel = artifacts.Archive(artifacts.pypi_file("vllm-tpu", images.VLLM_VERSION, "bdist_wheel"))
        assert f'"{router.VLLM_KV_EVENTS_FLAG}"' in wheel.read("vllm/engine/arg_utils.py")
        fields = wheel.read("vllm/config/kv_events.py")
        for f in ("enable_kv_cache_events", "publisher", "endpoint", "topic"):
            assert f"    {f}:" in fields, f
        assert '"zmq"' in fields
