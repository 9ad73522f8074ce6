"""Cold start, measured: when each phase of the serving pods' start ended, read from the Kubernetes API.

For each serving pod (the spec's ``server.pods``: namespace and label selector), in seconds from its
``metadata.creationTimestamp``:

* ``scheduled``       the ``PodScheduled`` condition's ``lastTransitionTime``;
* ``image_pulled``    the kubelet's ``Pulled`` event for the engine container, whose message is one of
                      ``Successfully pulled image %q in %v (%v including waiting). Image size: %v bytes.`` or
                      ``Container image %q already present on machine`` (kubernetes pkg/kubelet/images/
                      image_manager.go); the size and the pull time it states go into ``detail``;
* ``started``         the engine container's ``state.running.startedAt`` (or its last run's ``startedAt``);
* ``weights_loaded``  the engine's log line ``Loading weights took %.2f seconds`` (vLLM 0.32.0
                      vllm/model_executor/model_loader/default_loader.py, which tpu-inference 0.32.0's vLLM
                      model path calls too) or ``Model loading took %s GiB memory and %.6f seconds`` (vLLM's GPU
                      runner, vllm/v1/worker/gpu_model_runner.py), timed by the kubelet's log timestamp
                      (``pods/log?timestamps=true``);
* ``compiled``        ``init engine (profile, create kv cache, warmup model) took %.2f s`` with ``(compilation:
                      %.2f s)`` when it compiled (vllm/v1/engine/core.py; tpu-inference's compilation manager
                      adds its precompile time to that figure, runner/compilation_manager.py);
* ``ready``           the ``Ready`` condition's ``lastTransitionTime``.

A phase not seen is ``s: null`` with the reason in ``source``. Read once, right after the server first answers:
the API server keeps events for an hour by default (kube-apiserver --event-ttl), and the log read is the running
container's. Access: Role tpustack-pod-reader (get/list on pods, pods/log, events in the stack's namespace).
Stdlib + tpustack.core only (runs in the benchmark Job).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tpustack.core.contracts import ColdStart, ColdStartPhases, PhaseTime, PodColdStart

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
LOG_BYTES = 4 * 1024 * 1024  # the first 4 MiB of the engine's log: loading and compiling come first

# kubernetes pkg/kubelet/images/image_manager.go (events.PulledImage)
PULLED = re.compile(
    r'Successfully pulled image "(?P<image>[^"]+)" in (?P<pull>\S+) \((?P<wait>\S+) including waiting\)'
    r"(?:\. Image size: (?P<size>\d+) bytes\.)?"
)
PRESENT = re.compile(r'Container image "(?P<image>[^"]+)" already present on machine')
# vLLM 0.32.0 (lines printed by its logger, each prefixed by the kubelet's RFC 3339 timestamp when read with
# timestamps=true); tpu-inference logs through vLLM's logger (tpu_inference/logger.py).
WEIGHTS = re.compile(
    r"Loading weights took (?P<s>[\d.]+) seconds|Model loading took \S+ GiB memory and (?P<s2>[\d.]+) seconds"
)
# tpu-inference 0.32.0 runner/tpu_runner.py load_model ends with `Init model | hbm=...GiB` on both its JAX (flax_nnx)
# and its vLLM model paths; the JAX path prints no "took" line, so this line's time stands in for it.
INIT_MODEL = re.compile(r"Init model \| hbm=")
COMPILED = re.compile(
    r"init engine \(profile, create kv cache, warmup model\) took (?P<s>[\d.]+) s"
    r"(?: \(compilation: (?P<c>[\d.]+) s)?"
)
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"([\d.]+)(ns|us|µs|ms|s|m|h)")


def go_duration(text: str) -> float | None:
    """Seconds of a Go ``time.Duration`` as ``%v`` prints it (``1m23.456s``, ``800ms``); None if it is not one."""
    parts = _GO_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return round(sum(float(n) * _GO_UNITS[u] for n, u in parts), 9)


def _secs(go: str) -> str:
    s = go_duration(go)
    return go if s is None else f"{s:g} s"


def parse_time(text: Any) -> dt.datetime | None:
    """An RFC 3339 time as the API and the kubelet write it (``Z``, nanoseconds); None if it is not one."""
    if not isinstance(text, str) or not text:
        return None
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if m is None:
        return None
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return dt.datetime.fromisoformat(f"{m.group(1)}.{frac}{tz}")


def _since(created: dt.datetime, when: dt.datetime | None) -> float | None:
    return None if when is None else round((when - created).total_seconds(), 3)


def _phase(created: dt.datetime, when: dt.datetime | None, source: str, detail: str | None = None) -> PhaseTime:
    out: PhaseTime = {"s": _since(created, when), "source": source}
    if detail:
        out["detail"] = detail
    return out


def engine_container(pod: dict, engine_image: str | None) -> str | None:
    """The engine's container: the one running the engine image, else the pod's first."""
    containers = (pod.get("spec") or {}).get("containers") or []
    for c in containers:
        if engine_image and c.get("image") == engine_image:
            return c.get("name")
    return containers[0].get("name") if containers else None


def _condition(pod: dict, kind: str) -> dt.datetime | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind and c.get("status") == "True":
            return parse_time(c.get("lastTransitionTime"))
    return None


def _started(pod: dict, container: str | None) -> dt.datetime | None:
    for s in (pod.get("status") or {}).get("containerStatuses") or []:
        if s.get("name") == container:
            running = (s.get("state") or {}).get("running") or {}
            ended = (s.get("lastState") or {}).get("terminated") or {}
            return parse_time(running.get("startedAt") or ended.get("startedAt"))
    return None


def _event_time(ev: dict) -> dt.datetime | None:
    return parse_time(ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp"))


def _pulled(created: dt.datetime, events: list[dict], container: str | None) -> PhaseTime:
    """The first Pulled event of the engine container (its fieldPath is spec.containers{NAME})."""
    field = f"spec.containers{{{container}}}"
    for ev in sorted((e for e in events if e.get("reason") == "Pulled"), key=lambda e: _event_time(e) or created):
        if (ev.get("involvedObject") or {}).get("fieldPath") not in (field, None):
            continue
        msg = str(ev.get("message") or "")
        m = PULLED.search(msg)
        if m:
            size = f", {int(m['size']):,} bytes" if m["size"] else ""
            detail = (
                f"pulled {m['image']} in {go_duration(m['pull'])} s ({go_duration(m['wait'])} s with waiting){size}"
            )
            return _phase(created, _event_time(ev), "event Pulled", detail)
        m = PRESENT.search(msg)
        if m:
            return _phase(created, _event_time(ev), "event Pulled", f"{m['image']} already present on the node")
    return {"s": None, "source": f"no Pulled event for container {container} (events expire after an hour)"}


def _log_times(log: str | None, pattern: re.Pattern[str]) -> tuple[dt.datetime | None, re.Match[str] | None]:
    """The kubelet timestamp and match of the last line matching ``pattern``."""
    found: tuple[dt.datetime | None, re.Match[str] | None] = (None, None)
    for line in (log or "").splitlines():
        m = pattern.search(line)
        if m:
            found = (parse_time(line.split(" ", 1)[0]), m)
    return found


def _from_log(created: dt.datetime, log: str | None, name: str, pattern: re.Pattern[str]) -> PhaseTime:
    when, m = _log_times(log, pattern)
    if m is None:
        return {"s": None, "source": f"log: no {name!r} line" if log else "log: not read"}
    figures = {k: v for k, v in m.groupdict().items() if v}
    detail = ", ".join(f"{'compilation' if k == 'c' else 'took'} {float(v):g} s" for k, v in sorted(figures.items()))
    return _phase(created, when, f"log: {name}", f"engine: {detail}" if detail else None)


def _weights(created: dt.datetime, log: str | None) -> PhaseTime:
    took = _from_log(created, log, "Loading weights took", WEIGHTS)
    if took["s"] is not None or not log:
        return took
    init = _from_log(created, log, "Init model | hbm=", INIT_MODEL)
    return (
        init if init["s"] is not None else {"s": None, "source": "log: no 'Loading weights took' or 'Init model' line"}
    )


def pod_cold_start(pod: dict, events: list[dict], log: str | None, engine_image: str | None) -> PodColdStart:
    """One pod's phases from its object (as the API returns it), its events and its engine log (timestamped)."""
    meta = pod.get("metadata") or {}
    created_at = str(meta.get("creationTimestamp") or "")
    created = parse_time(created_at)
    if created is None:
        raise ValueError(f"pod {meta.get('name')} has no creationTimestamp")
    container = engine_container(pod, engine_image)
    phases: ColdStartPhases = {
        "scheduled": _phase(created, _condition(pod, "PodScheduled"), "condition PodScheduled"),
        "image_pulled": _pulled(created, events, container),
        "started": _phase(created, _started(pod, container), f"containerStatuses[{container}].startedAt"),
        "weights_loaded": _weights(created, log),
        "compiled": _from_log(created, log, "init engine ... took", COMPILED),
        "ready": _phase(created, _condition(pod, "Ready"), "condition Ready"),
    }
    return {"pod": str(meta.get("name") or ""), "created_at": created_at, "phases": phases}


# ----- reading the Kubernetes API ------------------------------------------------------------------------------
class _Api:
    def __init__(self, api: str | None):
        if api is None:
            host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
            if not host:
                raise OSError("no Kubernetes API (KUBERNETES_SERVICE_HOST unset)")
            api = f"https://{host}:{port}"
        self.base = api.rstrip("/")
        token = SA_DIR / "token"
        self.headers = {"Authorization": f"Bearer {token.read_text().strip()}"} if token.exists() else {}
        ca = SA_DIR / "ca.crt"
        self.context = ssl.create_default_context(cafile=str(ca)) if ca.exists() else None

    def get(self, path: str, **query: str) -> bytes:
        url = f"{self.base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        req = urllib.request.Request(url, headers=self.headers)
        with urllib.request.urlopen(req, timeout=20, context=self.context) as r:
            data: bytes = r.read(LOG_BYTES + 1)
            return data


def read(namespace: str, selector: dict[str, str], engine_image: str | None, api: str | None = None) -> ColdStart:
    """Every serving pod's phases; a failure to read is the record's ``error``, never the run's."""
    try:
        k = _Api(api)
        ns = urllib.parse.quote(namespace)
        sel = ",".join(f"{a}={b}" for a, b in sorted(selector.items()))
        pods = json.loads(k.get(f"/api/v1/namespaces/{ns}/pods", labelSelector=sel)).get("items") or []
        out: list[PodColdStart] = []
        for pod in pods:
            name = str((pod.get("metadata") or {}).get("name") or "")
            fields = f"involvedObject.kind=Pod,involvedObject.name={name}"
            events = json.loads(k.get(f"/api/v1/namespaces/{ns}/events", fieldSelector=fields)).get("items") or []
            container = engine_container(pod, engine_image) or ""
            q = {"container": container, "timestamps": "true", "limitBytes": str(LOG_BYTES)}
            log = k.get(f"/api/v1/namespaces/{ns}/pods/{urllib.parse.quote(name)}/log", **q).decode(errors="replace")
            out.append(pod_cold_start(pod, events, log, engine_image))
        return {"pods": out}
    except (OSError, ValueError, urllib.error.URLError) as e:
        return {"pods": [], "error": f"cold start not read: {e}"[:500]}
