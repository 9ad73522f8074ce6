"""Scrape an engine's Prometheus endpoint during a benchmark point and summarize what it saw.

The server's own view (running/waiting requests, KV-cache use, preemptions, token counters) sits beside
the client's figures in each record, so a result can be checked from both sides. Metric families kept
by default: vLLM's ``vllm:*`` (docs.vllm.ai "Production Metrics") and JetStream's ``jetstream_*``
(JetStream ``jetstream/core/metrics/prometheus.py``).

Parsing follows the Prometheus text exposition format (prometheus.io/docs/instrumenting/exposition_formats):
``name{label="v",...} value [timestamp]``; ``#`` lines are comments. Per scrape, series of one metric name
are summed over their labels; ``*_bucket`` series are dropped (``_sum``/``_count`` carry the mean).
Stdlib only (runs in the benchmark image).
"""

from __future__ import annotations

import math
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

PREFIXES = ("vllm:", "jetstream_")


def parse(text: str, prefixes: tuple[str, ...] = PREFIXES) -> dict[str, float]:
    """Metric name -> value summed over label sets (histogram buckets skipped)."""
    out: dict[str, float] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name = line[: line.index("{")]
            rest = line[line.rindex("}") + 1 :].split()
        else:
            name, *rest = line.split()
        if not rest or name.endswith("_bucket") or (prefixes and not name.startswith(prefixes)):
            continue
        try:
            value = float(rest[0])
        except ValueError:
            continue
        if math.isfinite(value):
            out[name] = out.get(name, 0.0) + value
    return out


def summarize(samples: list[tuple[float, dict[str, float]]]) -> dict[str, Any]:
    """Counters (``*_total``, ``*_sum``, ``*_count``): increase over the point; gauges: mean and max.
    Histograms also get ``<name>:mean`` = increase of _sum / increase of _count."""
    if not samples:
        return {}
    names = sorted({n for _, s in samples for n in s})
    out: dict[str, Any] = {}
    for n in names:
        series = [s[n] for _, s in samples if n in s]
        if n.endswith(("_total", "_sum", "_count")):
            out[n] = {"increase": series[-1] - series[0]}
        else:
            out[n] = {"mean": sum(series) / len(series), "max": max(series)}
    for n in names:
        if n.endswith("_sum") and n[:-4] + "_count" in out:
            count = out[n[:-4] + "_count"]["increase"]
            out[n[:-4] + ":mean"] = out[n]["increase"] / count if count else None
    return out


Resolver = Callable[[str, int], list[tuple[str, int]]]


def pod_addresses(host: str, port: int) -> list[tuple[str, int]]:
    """Every address a name resolves to: a headless Service's name answers with one A record per ready pod."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({(str(info[4][0]), port) for info in infos})


class Scraper:
    """Polls a /metrics URL on a thread until stopped; keeps parsed samples and the last raw text.

    ``fan_out``: the URL names a headless Service (a P/D role's pods, tpustack's renderer makes one per role): each
    scrape resolves it and reads every pod, summing the series over the pods, so a role's counters are all of its
    replicas' and never jump between pods as a load-balanced Service's would."""

    def __init__(
        self,
        url: str | None,
        interval_s: float = 5.0,
        timeout_s: float = 5.0,
        prefixes: tuple[str, ...] = PREFIXES,
        *,
        fan_out: bool = False,
        resolve: Resolver = pod_addresses,
    ):
        self.url, self.interval_s, self.timeout_s, self.prefixes = url, interval_s, timeout_s, prefixes
        self.fan_out, self.resolve = fan_out, resolve
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.errors: list[str] = []
        self.last_text = ""
        self.pods: int | None = None  # with fan_out: how many pods the last scrape read
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _get(self, url: str) -> str:
        with urllib.request.urlopen(url, timeout=self.timeout_s) as r:
            return str(r.read().decode("utf-8", "replace"))

    def _targets(self, url: str) -> list[str]:
        if not self.fan_out:
            return [url]
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        out = []
        for addr, p in self.resolve(parts.hostname or "", port):
            host = f"[{addr}]" if ":" in addr else addr
            out.append(urllib.parse.urlunsplit((parts.scheme, f"{host}:{p}", parts.path, parts.query, "")))
        if not out:
            raise OSError(f"{parts.hostname} resolves to no pod")
        return out

    def scrape_once(self) -> None:
        if not self.url:
            return
        try:
            texts = [self._get(t) for t in self._targets(self.url)]
        except (urllib.error.URLError, OSError) as e:
            self.errors.append(f"{time.time():.0f}: {e}")
            return
        summed: dict[str, float] = {}
        for text in texts:
            for name, value in parse(text, self.prefixes).items():
                summed[name] = summed.get(name, 0.0) + value
        self.last_text = "\n".join(texts)
        self.pods = len(texts) if self.fan_out else None
        self.samples.append((time.time(), summed))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.scrape_once()

    def __enter__(self) -> Scraper:
        if self.url:
            self.scrape_once()  # the counters before the point's first request (prefix-cache deltas need it)
            self._thread = threading.Thread(target=self._loop, name="metrics-scraper", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread:
            self._stop.set()
            self._thread.join(timeout=self.timeout_s + 1)
            self.scrape_once()  # the counters' final values, after the point's last request

    def summary(self) -> dict[str, Any]:
        return {
            "url": self.url,
            **({"pods": self.pods} if self.fan_out else {}),
            "scrapes": len(self.samples),
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
            "metrics": summarize(self.samples),
        }
