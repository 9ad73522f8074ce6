"""tpustack:autoscaling: metric names against the pinned sources (tests/fixtures/autoscaling/metrics.json), bad
config refused with key/reason/fix before any resource, the rendered HPA / adapter / picker monitoring, the
cross-checks that can fail, and the cost range."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tpustack import cost, render
from tpustack.config import load_config
from tpustack.config.autoscaling import scaling
from tpustack.core import autoscaling as facts
from tpustack.core import engines, images, names, router
from tpustack.core.errors import ConfigError
from tpustack.render import gateway as gateway_render
from tpustack.render.autoscaling import autoscaling_problems

from helpers.project import BASE, edited, load, named, problems_of

FIXTURE = json.loads((Path(__file__).parents[2] / "fixtures" / "autoscaling" / "metrics.json").read_text())
VARIANTS = [{"name": "tpu", "accelerator": "v6e-4", "capacity": ["spot", "on-demand"], "replicas": 1}]
GATEWAY = {"className": "gke-l7-regional-external-managed", "proxySubnetCidr": "10.129.0.0/23"}
GKE_GATEWAY = {"releaseChannel": "RAPID", "minMasterVersion": "1.34.1-gke.1127000", "autoscalingMaxNodes": 3}


def config(**over):
    return load(edited(BASE, **over))


def gateway_stack(metric: str, **a):
    return config(
        accelerator=None,
        capacity=None,
        variants=VARIANTS,
        gateway=GATEWAY,
        gke=GKE_GATEWAY,
        autoscaling={"metric": metric, "maxReplicas": 3, **a},
    )


def problems(**over) -> list[str]:
    return problems_of(edited(BASE, **over))


class TestMetricNamesAreThePinnedSources:
    def test_the_fixture_names_the_pins_in_code(self):
        assert FIXTURE["engine"]["version"] == images.VLLM_VERSION
        picker = {p["version"]: p for p in FIXTURE["picker"]}
        assert picker[engines.GAIE_VERSION] and picker[router.ROUTER_VERSION]["commit"] == router.ROUTER_COMMIT
        assert FIXTURE["adapter"]["commit"] == facts.ADAPTER_COMMIT
        assert FIXTURE["adapter"]["image"] == facts.ADAPTER_IMAGE

    @pytest.mark.parametrize("metric", list(facts.ScaleMetric))
    def test_every_metric_is_exported_by_the_pinned_artifact(self, metric):
        fact = facts.METRICS[metric]
        if fact.source == "engine":
            assert fact.prometheus in FIXTURE["engine"]["gauges"]
        else:  # both the deployed picker (GAIE) and llm-d-router export it
            assert all(fact.prometheus in p["gauges"] for p in FIXTURE["picker"]), fact.prometheus
        assert fact.adapter_name == f"prometheus.googleapis.com|{fact.prometheus}|gauge"

    def test_the_gateway_endpoint_picker_reads_the_same_engine_gauges(self):
        assert set(engines.GAIE_VLLM_METRICS) == set(FIXTURE["engine"]["gauges"])


class TestBadConfigIsAProblem:
    def test_unknown_metric(self):
        with pytest.raises(ConfigError) as e:
            config(autoscaling={"metric": "gpu-util", "maxReplicas": 2})
        named(e.value.lines(), "tpustack:autoscaling.metric", "queue")

    def test_min_above_max(self):
        named(
            problems(autoscaling={"minReplicas": 3, "maxReplicas": 2}, gke={"autoscalingMaxNodes": 3}),
            "tpustack:autoscaling.minReplicas",
            "above maxReplicas 2",
        )

    def test_gateway_metric_without_a_gateway(self):
        named(
            problems(autoscaling={"metric": "gateway-queue", "maxReplicas": 1}),
            "tpustack:autoscaling.metric",
            "add tpustack:gateway",
        )

    @pytest.mark.parametrize(
        "a,key",
        [
            ({"scaleToZero": True, "maxReplicas": 1}, "tpustack:autoscaling.scaleToZero"),
            ({"minReplicas": 0, "maxReplicas": 1}, "tpustack:autoscaling.minReplicas"),
        ],
    )
    def test_scale_to_zero_has_no_holding_path(self, a, key):
        named(problems(autoscaling=a), key, "HPAScaleToZero", "minReplicas to 1")

    def test_scale_to_zero_is_refused_behind_a_gateway_too(self):
        with pytest.raises(ConfigError) as e:
            render.render(gateway_stack("gateway-queue", scaleToZero=True, minReplicas=0))
        named(e.value.lines(), "tpustack:autoscaling.scaleToZero", "KEDA")

    def test_both_forms(self):
        named(
            problems(engine={"name": "vllm", "hpaMaxReplicas": 1}, autoscaling={"maxReplicas": 1}),
            "tpustack:engine.hpaMaxReplicas",
            "keep one",
        )

    def test_max_beyond_the_pool(self):
        named(problems(autoscaling={"maxReplicas": 4}), "tpustack:autoscaling.maxReplicas", "autoscalingMaxNodes to 4")

    def test_not_on_gke(self):
        named(problems(target="tpu-vm", autoscaling={"maxReplicas": 1}), "tpustack:autoscaling", "remove")


class TestRendered:
    def test_engine_metric_is_a_pods_metric_the_podmonitoring_scrapes(self):
        cfg = config(
            autoscaling={"metric": "kv-cache", "target": 0.7, "maxReplicas": 2}, gke={"autoscalingMaxNodes": 2}
        )
        r = render.render(cfg)
        hpa = next(o for o in r.apps["serving"] if o["kind"] == "HorizontalPodAutoscaler")
        assert hpa["spec"]["minReplicas"] == 1 and hpa["spec"]["maxReplicas"] == 2
        assert hpa["spec"]["metrics"] == [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "prometheus.googleapis.com|vllm:kv_cache_usage_perc|gauge"},
                    "target": {"type": "AverageValue", "averageValue": "0.7"},
                },
            }
        ]
        assert "replicas" not in next(o for o in r.apps["serving"] if o["kind"] == "Deployment")["spec"]

    def test_adapter_is_the_pinned_manifest_with_workload_identity(self):
        r = render.render(config(autoscaling={"maxReplicas": 1}))
        objs = r.apps["autoscaling"]
        assert [o["kind"] for o in objs] == FIXTURE["adapter"]["kinds"]
        assert [o["metadata"]["name"] for o in objs if o["kind"] == "APIService"] == FIXTURE["adapter"]["apiservices"]
        ksa = next(o for o in objs if o["kind"] == "ServiceAccount")
        assert ksa["metadata"]["annotations"] == {
            names.WI_ANNOTATION: "tps-t-metrics@my-tpu-project.iam.gserviceaccount.com"
        }
        dep = next(o for o in objs if o["kind"] == "Deployment")
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == facts.ADAPTER_IMAGE

    def test_no_autoscaling_no_adapter(self):
        r = render.render(config())
        assert "autoscaling" not in r.apps
        assert "monitoring" not in gateway_render.pool_values(gateway_stack("queue"))["router"]

    def test_gateway_metric_is_external_on_the_pool_and_turns_on_the_picker_monitoring(self):
        cfg = gateway_stack("gateway-queue", target=5)
        r = render.render(cfg)
        hpa = next(o for o in r.apps["serving"] if o["kind"] == "HorizontalPodAutoscaler")
        metric = hpa["spec"]["metrics"][0]
        assert metric["type"] == "External"
        assert metric["external"]["metric"] == {
            "name": "prometheus.googleapis.com|inference_pool_average_queue_size|gauge",
            "selector": {
                "matchLabels": {
                    "metric.labels.name": names.POOL_NAME,
                    "resource.labels.namespace": names.namespace("t"),
                    "resource.labels.cluster": "tps-t",
                }
            },
        }
        assert metric["external"]["target"] == {"type": "Value", "value": "5"}
        values = gateway_render.pool_values(cfg)
        assert values["router"]["monitoring"]["prometheus"] == {"enabled": True, "auth": {"enabled": True}}
        assert values["provider"] == {"name": "gke"}  # the chart's PodMonitoring is in its GKE template

    def test_the_short_form_renders_what_it_did(self):
        cfg = config(engine={"name": "vllm", "hpaMaxReplicas": 1, "hpaQueueTarget": 7})
        s = scaling(cfg)
        assert s is not None and s.legacy and s.metric is facts.ScaleMetric.QUEUE and s.target == 7
        hpa = next(o for o in render.render(cfg).apps["serving"] if o["kind"] == "HorizontalPodAutoscaler")
        assert hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == "7"


class TestCrossChecksCanFail:
    def test_an_unknown_metric_name_is_caught(self):
        cfg = config(autoscaling={"maxReplicas": 1})
        r = render.render(cfg)
        hpa = next(o for o in r.apps["serving"] if o["kind"] == "HorizontalPodAutoscaler")
        hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] = "prometheus.googleapis.com|vllm:gpu_cache_usage|gauge"
        assert any("neither the pinned engine" in p.reason for p in autoscaling_problems(cfg, r))

    def test_an_unscraped_target_is_caught(self):
        cfg = config(autoscaling={"maxReplicas": 1})
        r = render.render(cfg)
        r.apps["serving"] = [o for o in r.apps["serving"] if o["kind"] != "PodMonitoring"]
        assert any("no PodMonitoring" in p.reason for p in autoscaling_problems(cfg, r))

    def test_a_missing_adapter_is_caught(self):
        cfg = config(autoscaling={"maxReplicas": 1})
        r = render.render(cfg)
        del r.apps["autoscaling"]
        assert any("metrics adapter" in p.reason for p in autoscaling_problems(cfg, r))


class TestCostRange:
    def test_min_and_max_follow_the_replicas(self):
        cfg = config(autoscaling={"maxReplicas": 3}, gke={"autoscalingMaxNodes": 3})
        out = cost.estimate([], cfg)
        rng = out["autoscaling"]
        per = rng["max_hourly_usd"] - rng["min_hourly_usd"]
        assert rng["min_hourly_usd"] == out["hourly_usd"]
        assert per == pytest.approx(2 * 8 * 1.4033 * (1 - cfg.prices.discount), rel=1e-3)  # 2 more v6e-8 at spot

    def test_no_range_without_autoscaling(self):
        assert "autoscaling" not in cost.estimate([], config())


class TestComputeClassCapacity:
    def test_max_beyond_what_the_compute_class_pool_holds(self):
        with pytest.raises(ConfigError) as e:
            render.render(gateway_stack("gateway-kv-cache", maxReplicas=10))
        named(e.value.lines(), "tpustack:autoscaling.maxReplicas", "at most 3")


class TestEveryRegionReadsItsOwnCluster:
    def test_external_selector_and_adapter_per_region(self):
        from tpustack.config.project import read_stack_file

        from helpers.project import PROJECT

        values, secrets = read_stack_file(PROJECT, "gke-vllm-any-geo")
        values = {**values, "tpustack:autoscaling": json.dumps({"metric": "gateway-queue", "maxReplicas": 1})}
        cfg = load_config(values, secrets, "gke-vllm-any-geo")
        regions = render.render_stack(cfg)
        assert len(regions) == 2
        clusters = set()
        for r in regions:
            assert any(o["kind"] == "APIService" for o in r.apps["autoscaling"])
            for hpa in (o for o in r.apps["serving"] if o["kind"] == "HorizontalPodAutoscaler"):
                clusters.add(
                    hpa["spec"]["metrics"][0]["external"]["metric"]["selector"]["matchLabels"][
                        "resource.labels.cluster"
                    ]
                )
        assert clusters == {"tps-gke-vllm-any-geo", "tps-gke-vllm-any-geo-europe-west4"}
