"""Rules of ``tpustack:gateway.routing`` that need the rest of the stack: precise prefix-cache routing reads the
KV-cache events the engine publishes, and tokenizes prompts for the served Hugging Face model."""

from __future__ import annotations

from collections.abc import Iterator

from tpustack.core import router
from tpustack.core.errors import Problem, problem

from ..model import StackConfig
from ..routing import PrefixCache
from ..sections import VllmConfig

KEY = "tpustack:gateway.routing.prefixCache"


def precise_prefix_has_kv_events(c: StackConfig) -> Iterator[Problem]:
    if c.gateway is None or c.gateway.routing.prefix_cache is not PrefixCache.PRECISE or c.engine is None:
        return
    if str(c.engine.name) not in router.KV_EVENTS_ENGINES:
        yield problem(
            KEY,
            f"precise scores the KV-cache events the engine publishes; {c.engine.name} publishes none "
            f"(llm-d-router v{router.ROUTER_VERSION} reads vLLM's --kv-events-config)",
            "use prefixCache approximate, or engine vllm",
        )
        return
    if c.model is None or c.model.source == "gcs":
        yield problem(
            KEY,
            "precise tokenizes prompts beside the picker (the chart's vLLM render sidecar), which loads the model's "
            "tokenizer from the Hugging Face Hub; the model is not a Hugging Face id",
            "use prefixCache approximate, or serve the model by its Hugging Face id",
        )
    off = sorted(
        {
            u.variant or "the stack"
            for u in c.units
            if isinstance(u.settings, VllmConfig) and not u.settings.enable_prefix_caching
        }
    )
    if off:
        yield problem(
            KEY,
            f"precise follows the engine's prefix cache, which is off for {', '.join(off)} "
            "(engine.vllm.enablePrefixCaching false: no cached blocks, no KV-cache events)",
            "remove enablePrefixCaching: false, or use prefixCache approximate",
        )
    owned = sorted(
        {
            u.variant or "the stack"
            for u in c.units
            if isinstance(u.settings, VllmConfig)
            and any(str(a).split("=", 1)[0] == router.VLLM_KV_EVENTS_FLAG for a in u.settings.extra_args)
        }
    )
    if owned:
        yield problem(
            KEY,
            f"precise renders vLLM's {router.VLLM_KV_EVENTS_FLAG} itself (the picker dials its port and topic); "
            f"extraArgs of {', '.join(owned)} repeat it",
            f"remove {router.VLLM_KV_EVENTS_FLAG} from engine.vllm.extraArgs",
        )
