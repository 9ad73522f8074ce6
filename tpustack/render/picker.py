"""The endpoint picker's configuration (an ``EndpointPickerConfig``, llm-d-router v0.10.0 apix/config/v1alpha1): its
plugins and scheduling profiles, from ``tpustack:gateway.routing`` and, for prefill/decode serving, a
``tpustack.core.router.PdRouting``. The chart mounts it as the picker's ``--config-file`` (render/gateway.py).

What the picker adds itself is left to it (pkg/epp/config/loader/defaults.go at v0.10.0): the single profile handler
of a one-profile config, a max-score picker per profile, the request parsers, the metrics data source and its
extractor, the saturation detector. Every plugin type and parameter name here is in
tests/fixtures/router/plugins-v0.10.0.json (the pinned source's registry), which the tests check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from tpustack.config.routing import PrefixCache, PrefixIndexConfig, RoutingConfig
from tpustack.core import router
from tpustack.core.errors import InternalError


@dataclass(frozen=True, kw_only=True)
class PickerInputs:
    """What the picker's configuration is derived from, computed once from the stack (render/gateway.py)."""

    routing: RoutingConfig
    model: str | None  # the Hugging Face model id the precise index tokenizes for (None: not one)
    pd: router.PdRouting | None = None


def picker_config(p: PickerInputs) -> dict[str, Any]:
    """The EndpointPickerConfig: scorer plugins with their weights in one ``default`` profile, or, with P/D routing,
    the prefill and decode profiles behind the disaggregated profile handler."""
    if p.pd is not None and p.routing.prefix_cache is PrefixCache.OFF:
        # disagg/README.md at v0.10.0: P/D needs a prefix-cache scorer in the prefill and decode profiles
        raise InternalError("P/D routing with prefixCache off (the P/D config rules must refuse it)")
    prefix, weights, data_layer = _prefix_plugins(p)
    present = {pl["type"] for pl in prefix}
    plugins = [{"type": name} for name in weights if name not in present] + prefix
    scored = [{"pluginRef": name, "weight": w} for name, w in weights.items()]
    if p.pd is None:
        profiles = [{"name": "default", "plugins": scored}]
    else:
        plugins += _pd_plugins(p.pd)
        profiles = [
            {"name": router.PREFILL_PROFILE, "plugins": [{"pluginRef": router.PREFILL_FILTER}, *scored]},
            {"name": router.DECODE_PROFILE, "plugins": [{"pluginRef": router.DECODE_FILTER}, *scored]},
        ]
    out: dict[str, Any] = {
        "apiVersion": router.PICKER_CONFIG_API,
        "kind": router.PICKER_CONFIG_KIND,
        "plugins": plugins,
        "schedulingProfiles": profiles,
    }
    if data_layer:
        out["dataLayer"] = data_layer
    return out


def picker_config_yaml(p: PickerInputs) -> str:
    """The configuration as the file the picker reads."""
    return yaml.safe_dump(picker_config(p), sort_keys=False)


def _prefix_plugins(p: PickerInputs) -> tuple[list[dict[str, Any]], dict[str, float], dict[str, Any] | None]:
    """The prefix index's plugins (none while prefixCache is off), the scorer weights, and the data layer."""
    r = p.routing
    weights = r.weights()
    if r.prefix_cache is PrefixCache.OFF:
        return [], weights, None
    scorer_params = _drop_none({"matchLengthWeight": r.prefix.match_length_weight})
    if r.prefix_cache is PrefixCache.APPROXIMATE:
        producer = _approx_params(r.prefix)
        if not producer:
            # the picker creates approx-prefix-cache-producer with its defaults (RegisterAsDefaultProducer)
            return [_plugin(router.PREFIX_SCORER, scorer_params)], weights, None
        scorer_params["prefixMatchInfoProducerName"] = router.APPROX_PREFIX_PRODUCER
        plugins = [
            _plugin(router.APPROX_PREFIX_PRODUCER, producer),
            _plugin(router.PREFIX_SCORER, scorer_params),
        ]
        return plugins, weights, None
    if p.model is None:
        raise InternalError("precise prefix routing needs a Hugging Face model id (config rules ensure it)")
    scorer_params["prefixMatchInfoProducerName"] = router.PRECISE_PREFIX_PRODUCER
    # deploy/config/epp-precise-prefix-cache-config.yaml at v0.10.0: token-producer -> precise-prefix-cache-producer
    # (fed pod add/remove by endpoint-notification-source) -> prefix-cache-scorer
    plugins = [
        _plugin(router.TOKEN_PRODUCER, {"modelName": p.model, "vllm": {"url": router.TOKENIZER_URL}}),
        {"type": router.ENDPOINT_NOTIFICATION_SOURCE},
        _plugin(router.PRECISE_PREFIX_PRODUCER, _precise_params(r.prefix)),
        _plugin(router.PREFIX_SCORER, scorer_params),
    ]
    data_layer = {
        "sources": [
            {
                "pluginRef": router.ENDPOINT_NOTIFICATION_SOURCE,
                "extractors": [{"pluginRef": router.PRECISE_PREFIX_PRODUCER}],
            }
        ]
    }
    return plugins, weights, data_layer


def _approx_params(x: PrefixIndexConfig) -> dict[str, Any]:
    return _drop_none(
        {
            "autoTune": x.auto_tune,
            "blockSizeTokens": x.block_size_tokens,
            "maxPrefixTokensToMatch": x.max_prefix_tokens,
            "lruCapacityPerServer": x.lru_capacity_per_server,
        }
    )


def _precise_params(x: PrefixIndexConfig) -> dict[str, Any]:
    """The precise index: the picker dials each pool pod's KV-event publisher on KV_EVENTS_PORT (the engine flag
    kv_events_config() renders binds the same port)."""
    params: dict[str, Any] = {
        "kvEventsConfig": {
            "topicFilter": router.KV_EVENTS_TOPIC_PREFIX,
            "discoverPods": True,
            "podDiscoveryConfig": {"socketPort": router.KV_EVENTS_PORT},
        }
    }
    if x.block_size_tokens is not None:
        params["tokenProcessorConfig"] = {"blockSizeTokens": x.block_size_tokens}
    return params


def _pd_plugins(pd: router.PdRouting) -> list[dict[str, Any]]:
    """The prefill/decode filters (by the llm-d.ai/role pod label), the decider, and the profile handler that runs
    the decode profile and, when the decider says so, the prefill one."""
    decider = {"nonCachedTokens": pd.non_cached_tokens} if pd.decider_type == "prefix-based-pd-decider" else None
    return [
        {"type": router.PREFILL_FILTER},
        {"type": router.DECODE_FILTER},
        _plugin(pd.decider_type, decider),
        _plugin(
            router.DISAGG_PROFILE_HANDLER,
            {
                "profiles": {"prefill": router.PREFILL_PROFILE, "decode": router.DECODE_PROFILE},
                "deciders": {"prefill": pd.decider_type},
            },
        ),
    ]


def kv_events_config(model: str) -> str:
    """vLLM's ``--kv-events-config`` for the precise index (vllm/config/kv_events.py at 0.32.0): publish KV-cache
    events over ZMQ on KV_EVENTS_PORT, topic ``kv@<pod IP>@<model>`` (the topic the picker's engine adapter parses;
    Kubernetes expands $(POD_IP) from the pod's env)."""
    return json.dumps(
        {
            "enable_kv_cache_events": True,
            "publisher": "zmq",
            "endpoint": f"tcp://*:{router.KV_EVENTS_PORT}",
            "topic": f"{router.KV_EVENTS_TOPIC_PREFIX}$(POD_IP)@{model}",
        },
        separators=(",", ":"),
    )


def _plugin(kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": kind, "parameters": params} if params else {"type": kind}


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}
