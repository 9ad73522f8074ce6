"""Measured cold start: the serving pods' phases from the Kubernetes API's own documents (tests/fixtures/cold_start,
real formats) and the engine's log lines, and the record gate on the ``cold_start`` key."""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tpustack.workloads import cold_start, results

from helpers.project import FIXTURES

FIX = FIXTURES / "cold_start"
VLLM = FIXTURES / "results" / "vllm" / "vllm-2.0qps-Llama-3.1-8B-Instruct-20261123-101500.json"
IMAGE = "docker.io/vllm/vllm-tpu:v0.32.0"


def load(p: Path) -> dict:
    return json.loads(p.read_text())


def tpu_pod() -> cold_start.PodColdStart:
    pod, events = load(FIX / "pod-vllm-tpu.json"), load(FIX / "events-vllm-tpu.json")["items"]
    return cold_start.pod_cold_start(pod, events, (FIX / "engine-vllm-tpu.log").read_text(), IMAGE)


class TestPhasesFromTheApiDocuments:
    def test_every_phase_in_seconds_from_creation(self):
        got = tpu_pod()
        assert got["pod"] == "vllm-6b8f9c7d5-x2k4q" and got["created_at"] == "2026-12-02T14:00:00Z"
        s = {k: v["s"] for k, v in got["phases"].items()}
        # created 14:00:00; scheduled 14:03:12; pulled 14:05:02; started 14:05:04; weights 14:06:49.310582;
        # compiled 14:11:20.447201; Ready 14:11:45
        assert s == {
            "scheduled": 192.0,
            "image_pulled": 302.0,
            "started": 304.0,
            "weights_loaded": 409.311,
            "compiled": 680.447,
            "ready": 705.0,
        }

    def test_each_phase_names_its_source_and_what_it_said(self):
        ph = tpu_pod()["phases"]
        assert ph["scheduled"]["source"] == "condition PodScheduled"
        assert ph["ready"]["source"] == "condition Ready"
        assert ph["image_pulled"]["source"] == "event Pulled"
        assert "101.236 s" in ph["image_pulled"]["detail"] and "7,301,553,867 bytes" in ph["image_pulled"]["detail"]
        assert ph["weights_loaded"] == {
            "s": 409.311,
            "source": "log: Loading weights took",
            "detail": "engine: took 74.81 s",
        }
        assert ph["compiled"]["detail"] == "engine: compilation 240.12 s, took 265.3 s"

    def test_jax_model_path_falls_back_to_init_model_line(self):
        log = "\n".join(
            line for line in (FIX / "engine-vllm-tpu.log").read_text().splitlines() if "Loading weights" not in line
        )
        pod, events = load(FIX / "pod-vllm-tpu.json"), load(FIX / "events-vllm-tpu.json")["items"]
        w = cold_start.pod_cold_start(pod, events, log, IMAGE)["phases"]["weights_loaded"]
        assert w["s"] == 415.131 and w["source"] == "log: Init model | hbm=" and "detail" not in w

    def test_gpu_log_uses_the_model_loading_line(self):
        log = (FIX / "engine-vllm-gpu.log").read_text()
        when, m = cold_start._log_times(log, cold_start.WEIGHTS)
        assert m is not None and m["s2"] == "23.108224" and when is not None and when.second == 41

    def test_image_already_present(self):
        pod, events = load(FIX / "pod-vllm-tpu.json"), load(FIX / "events-vllm-tpu.json")["items"]
        for e in events:
            if e["reason"] == "Pulled":
                e["message"] = f'Container image "{IMAGE}" already present on machine'
        ph = cold_start.pod_cold_start(pod, events, None, IMAGE)["phases"]
        assert ph["image_pulled"]["s"] == 302.0 and "already present" in ph["image_pulled"]["detail"]
        assert ph["weights_loaded"] == {"s": None, "source": "log: not read"}

    def test_phases_not_seen_are_null_with_a_reason(self):
        pod = load(FIX / "pod-vllm-tpu.json")
        pod["status"]["conditions"] = [c for c in pod["status"]["conditions"] if c["type"] != "Ready"]
        ph = cold_start.pod_cold_start(pod, [], "no engine lines here\n", IMAGE)["phases"]
        assert ph["ready"]["s"] is None
        assert ph["image_pulled"]["s"] is None and "no Pulled event" in ph["image_pulled"]["source"]
        assert ph["compiled"] == {"s": None, "source": "log: no 'init engine ... took' line"}

    @pytest.mark.parametrize(
        ("text", "seconds"), [("1m41.236s", 101.236), ("800ms", 0.8), ("2h3m4s", 7384.0), ("15.981s", 15.981)]
    )
    def test_go_durations(self, text, seconds):
        assert cold_start.go_duration(text) == pytest.approx(seconds)

    @pytest.mark.parametrize("text", ["", "12", "1m41.2", "s"])
    def test_not_go_durations(self, text):
        assert cold_start.go_duration(text) is None


class _Api(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        type(self).seen.append(self.path)
        if url.path.endswith("/pods") and q.get("labelSelector") == ["app.kubernetes.io/name=vllm"]:
            body = json.dumps({"kind": "PodList", "apiVersion": "v1", "items": [load(FIX / "pod-vllm-tpu.json")]})
        elif url.path.endswith("/events"):
            body = (FIX / "events-vllm-tpu.json").read_text()
        elif url.path.endswith("/log") and q.get("timestamps") == ["true"] and q.get("container") == ["vllm"]:
            body = (FIX / "engine-vllm-tpu.log").read_text()
        else:
            self.send_response(403)
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


class TestReadThroughTheApi:
    def test_reads_pods_events_and_log(self):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            api = f"http://127.0.0.1:{server.server_address[1]}"
            got = cold_start.read("tpustack-gke-vllm-v6e", {"app.kubernetes.io/name": "vllm"}, IMAGE, api=api)
        finally:
            server.shutdown()
        assert "error" not in got and [p["phases"]["ready"]["s"] for p in got["pods"]] == [705.0]
        assert any(
            "fieldSelector=involvedObject.kind%3DPod%2CinvolvedObject.name%3Dvllm-6b8f9c7d5-x2k4q" in p
            for p in _Api.seen
        )

    def test_a_failure_is_the_error_not_the_run(self):
        got = cold_start.read("ns", {"a": "b"}, IMAGE, api="http://127.0.0.1:9")
        assert got["pods"] == [] and got["error"].startswith("cold start not read")


class TestRecordGate:
    def record(self) -> dict:
        return dict(results.normalize(load(VLLM), source_file=VLLM.name))

    def test_measured_cold_start_passes(self):
        rec = self.record()
        rec["cold_start"] = {"pods": [tpu_pod()]}
        assert results.record_problems(rec) == []

    @pytest.mark.parametrize(
        ("path", "value", "says"),
        [
            (("pods", 0, "phases", "ready", "s"), "705", "not a number"),
            (("pods", 0, "phases", "ready", "s"), -3.0, "out of range"),
            (("pods", 0, "phases", "ready", "source"), 7, "not a string"),
            (("pods", 0, "pod"), None, "is null"),
            (("pods", 0, "phases"), [], "not an object"),
            (("pods",), {"a": 1}, "not a list"),
        ],
    )
    def test_bad_types_are_rejected(self, path, value, says):
        rec = self.record()
        cs = {"pods": [copy.deepcopy(tpu_pod())]}
        node = cs
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
        rec["cold_start"] = cs
        problems = results.record_problems(rec)
        assert problems and any(says in p and p.startswith("cold_start.") for p in problems), problems

    def test_missing_phase_source_is_rejected(self):
        rec = self.record()
        pod = tpu_pod()
        del pod["phases"]["compiled"]["source"]
        rec["cold_start"] = {"pods": [pod]}
        assert "cold_start.pods[0].phases.compiled.source is missing" in results.record_problems(rec)
