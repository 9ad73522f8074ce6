"""Invalid stack configs are rejected before any resource, with a message naming the field and the fix."""

from __future__ import annotations

import copy

import pytest

from tpustack.config import load_config
from tpustack.core.errors import ConfigError

from helpers.project import BASE, SECRETS, run_program

LLAMA_70B = {"id": "meta-llama/Llama-3.1-70B-Instruct", "paramsB": 70.6}
NO_SERVING = {"engine": None, "benchmark": None, "model": None}


def variant(**changes) -> dict:
    """BASE with tpustack:<key> replaced (None removes the key)."""
    cfg = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            cfg.pop(f"tpustack:{key}", None)
        else:
            cfg[f"tpustack:{key}"] = value
    return cfg


# (id, config, field the message must name, a fragment of the fix it must give)
INVALID = [
    (
        "ttl-under-a-minute",
        variant(lifecycle={"ttlHours": 0.008}),
        "tpustack:lifecycle.ttlHours",
        "at least 0.0167 (1 minute)",
    ),
    (
        "weights-in-the-results-bucket",
        variant(model={"id": "gs://my-tpu-project-tpustack-results/llama", "paramsB": 8, "contextLength": 8192}),
        "tpustack:model.id",
        "a bucket of their own",
    ),
    ("unknown-accelerator", variant(accelerator="v6e-7"), "tpustack:accelerator.type", "v6e-8"),
    ("accelerator-typo", variant(accelerator="v6e8"), "tpustack:accelerator.type", "did you mean v6e-8"),
    (
        "topology-mismatch",
        variant(accelerator={"type": "v6e-8", "topology": "4x4"}),
        "tpustack:accelerator.topology",
        "use accelerator.type v6e-16",
    ),
    (
        "machine-type-chips",
        variant(accelerator={"type": "v6e-8", "machineType": "ct6e-standard-4t"}),
        "tpustack:accelerator.machineType",
        "ct6e-standard-8t",
    ),
    ("zone-outside-region", variant(zones=["us-west4-a"]), "tpustack:zones", "use zones of us-east5"),
    (
        "gpu-on-tpu-vm",
        variant(target="tpu-vm", accelerator="h100-8", **NO_SERVING),
        "tpustack:target",
        "set tpustack:target to gke",
    ),
    ("tpu7x-on-tpu-vm", variant(target="tpu-vm", accelerator="tpu7x-8", **NO_SERVING), "tpustack:target", "gke"),
    (
        "jetstream-on-gpu",
        variant(accelerator="h100-8", engine={"name": "jetstream-maxtext"}),
        "tpustack:engine.name",
        "use engine vllm on GPUs",
    ),
    (
        "tensor-parallel-vs-chips",
        variant(engine={"name": "vllm", "tensorParallel": 4}),
        "tpustack:engine.tensorParallel",
        "set engine.tensorParallel to 8",
    ),
    (
        "flex-start-with-reservation",
        variant(capacity={"type": "flex-start", "reservation": "r1"}),
        "tpustack:capacity.reservation",
        "remove capacity.reservation",
    ),
    (
        "flex-start-with-auto-repair",
        variant(capacity={"type": "flex-start", "autoRepair": True}),
        "tpustack:capacity.autoRepair",
        "set it false",
    ),
    (
        "queued-with-reservation",
        variant(capacity={"type": "queued", "reservation": "r1"}),
        "tpustack:capacity.reservation",
        "remove capacity.reservation",
    ),
    (
        "spot-with-reservation",
        variant(capacity={"type": "spot", "reservation": "r1"}),
        "tpustack:capacity.reservation",
        "set capacity.type to reservation",
    ),
    (
        "reservation-without-name",
        variant(capacity={"type": "reservation"}),
        "tpustack:capacity.reservation",
        "gcloud compute reservations list",
    ),
    ("unknown-capacity", variant(capacity={"type": "preemptible"}), "tpustack:capacity.type", "listed values"),
    (
        "compact-placement-two-zones",
        variant(accelerator="v6e-16", model=LLAMA_70B, zones=["us-east5-a", "us-east5-b"]),
        "tpustack:zones",
        "list one zone",
    ),
    (
        "multi-host-autoscaling",
        variant(accelerator="v6e-16", model=LLAMA_70B, gke={"autoscalingMaxNodes": 8}),
        "tpustack:gke.autoscalingMaxNodes",
        "remove gke.autoscalingMaxNodes",
    ),
    ("model-exceeds-hbm", variant(accelerator="v6e-1", model=LLAMA_70B), "tpustack:model.paramsB", "use v6e-8"),
    (
        "gated-model-without-token",
        variant(hfToken=None),
        "tpustack:hfToken",
        "pulumi config set --secret tpustack:hfToken",
    ),
    ("unknown-top-level-key", variant(acelerator="v6e-8"), "tpustack:acelerator", "use one of accelerator"),
    (
        "unknown-nested-key",
        variant(capacity={"type": "spot", "preemptible": True}),
        "tpustack:capacity.preemptible",
        "autoRepair, calendar, ends, reservation, type",
    ),
    (
        "unpinned-image",
        variant(engine={"name": "vllm", "image": "vllm/vllm-tpu:latest"}),
        "tpustack:engine.image",
        "explicit version tag or digest",
    ),
    ("benchmark-without-engine", variant(engine=None), "tpustack:benchmark", "set tpustack:engine"),
    (
        "benchmark-tool-vs-engine",
        variant(benchmark={"tool": "jetstream-benchmark"}),
        "tpustack:benchmark.tool",
        "vllm-bench",
    ),
    (
        "inference-perf-on-jetstream",
        variant(
            accelerator="v5litepod-8",
            engine={"name": "jetstream-maxtext"},
            model={"id": "meta-llama/Llama-3.1-8B-Instruct", "paramsB": 8.03, "maxtextName": "llama3.1-8b"},
            benchmark={"tool": "inference-perf"},
        ),
        "tpustack:benchmark.tool",
        "jetstream-benchmark",
    ),
    ("bad-bucket-name", variant(results={"bucket": "My_Bucket!"}), "tpustack:results.bucket", "lowercase letters"),
    ("bad-project-id", variant(project="X"), "tpustack:project", "gcloud projects list"),
    (
        "vllm-arg-shadows-config",
        variant(engine={"name": "vllm", "vllm": {"extraArgs": ["--tensor-parallel-size=2"]}}),
        "tpustack:engine.vllm.extraArgs",
        "tpustack:engine.tensorParallel",
    ),
    (
        "jetstream-without-maxtext-name",
        variant(
            accelerator="v5litepod-8",
            engine={"name": "jetstream-maxtext"},
            model={"id": "acme/house-model-7b", "paramsB": 7, "contextLength": 8192},
        ),
        "tpustack:model.maxtextName",
        "llama3.1-8b",
    ),
    (
        "max-model-len-above-context",
        variant(engine={"name": "vllm", "vllm": {"maxModelLen": 200000}}),
        "tpustack:engine.vllm.maxModelLen",
        "131072 or less",
    ),
    (
        "unknown-model-without-context",
        variant(model={"id": "acme/house-model-7b", "paramsB": 7}),
        "tpustack:model",
        "contextLength",
    ),
    (
        "tpu7x-multi-host-on-gke",
        variant(accelerator="tpu7x-16", benchmark=None),
        "tpustack:accelerator",
        "HIGH_THROUGHPUT",
    ),
    (
        "queued-with-auto-repair",
        variant(capacity={"type": "queued", "autoRepair": True}),
        "tpustack:capacity.autoRepair",
        "set it false",
    ),
    (
        "vllm-bench-random-cannot-stop-at-eos",
        variant(benchmark={"requestRates": [1], "dataset": "random", "ignoreEos": False}),
        "tpustack:benchmark.ignoreEos",
        "sharegpt",
    ),
    (
        "flex-start-tpu-vm",
        variant(target="tpu-vm", accelerator="v5litepod-1", capacity={"type": "flex-start"}, **NO_SERVING),
        "tpustack:capacity.type",
        "use target gke",
    ),
    (
        "zero-request-rate",
        variant(benchmark={"requestRates": [0, 1]}),
        "tpustack:benchmark.requestRates",
        "e.g. [1, 2, 4, 8]",
    ),
    ("zero-ttl", variant(lifecycle={"ttlHours": 0}), "tpustack:lifecycle.ttlHours", "greater than 0"),
    (
        "engine-on-tpu-vm",
        variant(target="tpu-vm", accelerator="v5litepod-8"),
        "tpustack:engine",
        "set tpustack:target to gke",
    ),
]


@pytest.mark.parametrize("cfg,field,fix", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
class TestInvalidConfigRejectedBeforeAnyResource:
    def test_message_names_field_and_fix(self, cfg, field, fix):
        with pytest.raises(ConfigError) as info:
            load_config(cfg, SECRETS, "t")
        text = str(info.value)
        line = next((ln for ln in text.splitlines() if field + ":" in ln), None)
        assert line is not None, f"no problem names {field}: {text}"
        assert "Fix:" in line and fix in line, f"fix '{fix}' missing from: {line}"

    def test_program_declares_nothing(self, cfg, field, fix):
        """The real __main__.py under the mock engine stops at the config gate: zero resources."""
        with pytest.raises(ConfigError) as info:
            run_program(cfg)
        assert field in str(info.value)
        assert info.value.declared == [], [r.urn for r in info.value.declared]


def test_at_least_twenty_distinct_invalid_configs():
    assert len({c[0] for c in INVALID}) >= 20
    assert len({c[2] for c in INVALID}) >= 20  # distinct fields, not one rule twenty times


def test_plain_text_token_rejected():
    with pytest.raises(ConfigError) as info:
        load_config(BASE, set(), "t")  # same value, but not marked secure
    assert "tpustack:hfToken: is stored as plain text" in str(info.value)
    assert "pulumi config set --secret tpustack:hfToken" in str(info.value)


def test_every_problem_reported_at_once():
    cfg = variant(
        accelerator="h100-8",
        engine={"name": "jetstream-maxtext"},
        model={"id": "acme/house-model-7b", "paramsB": 7, "contextLength": 8192},
    )
    with pytest.raises(ConfigError) as info:
        load_config(cfg, SECRETS, "t")
    assert len(info.value.problems) >= 2


def test_gcp_project_must_agree():
    cfg = {**BASE, "gcp:project": "other-project"}
    with pytest.raises(ConfigError, match="gcp:project"):
        load_config(cfg, SECRETS, "t")


def test_base_is_valid_and_derives_from_catalog():
    cfg = load_config(BASE, SECRETS, "t")
    (unit,) = cfg.units
    assert unit.shape.name == "v6e-8" and unit.tensor_parallel == 8
    assert unit.region.zone == "us-east5-a"
    assert unit.image and ":" in unit.image.rsplit("/", 1)[-1]
    assert cfg.hf_token is not None and cfg.hf_token.get_secret_value() == "[secret:tpustack:hfToken]"


def test_missing_zone_in_table_is_a_warning_not_an_error():
    cfg = load_config(variant(region="europe-west4", zones=["europe-west4-z"]), SECRETS, "t")
    assert any("europe-west4-z" in w for w in cfg.warnings)


def test_deletion_protection_defaults_follow_environment():
    assert load_config(BASE, SECRETS, "t").lifecycle.protected is False
    prod = load_config(variant(lifecycle={"environment": "prod"}), SECRETS, "t")
    assert prod.lifecycle.protected is True
    off = load_config(variant(lifecycle={"environment": "prod", "deletionProtection": False}), SECRETS, "t")
    assert off.lifecycle.protected is False


def test_an_image_without_facts_is_planned_with_a_warning():
    """A newer or private image may be fine, but nothing has checked its flags: say so, do not refuse it."""
    cfg = load_config(variant(engine={"name": "vllm", "image": "docker.io/vllm/vllm-tpu:v0.33.0"}), SECRETS, "t")
    assert any(w.startswith("tpustack:engine.image:") and "v0.33.0" in w for w in cfg.warnings)
    assert not [w for w in load_config(BASE, SECRETS, "t").warnings if "engine.image" in w]


def test_slo_keys_are_camel_case_as_documented():
    """README "Stack config": slo: {ttftMs, tpotMs, e2eMs} (to_camel alone would make the last one e2EMs)."""
    cfg = load_config(variant(benchmark={"slo": {"ttftMs": 500, "tpotMs": 50, "e2eMs": 9000}}), SECRETS, "t")
    assert cfg.benchmark is not None and cfg.benchmark.slo.e2e_ms == 9000


def test_an_announced_generation_is_not_orderable_yet():
    with pytest.raises(ConfigError) as e:
        load_config(variant(accelerator="tpu8t-8"), SECRETS, "t")
    (p,) = [p for p in e.value.problems if p.key == "tpustack:accelerator.type"]
    assert "cannot be ordered" in p.fix and "tpu8t was announced 2026-04-22" in p.fix
