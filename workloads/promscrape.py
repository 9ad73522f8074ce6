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
import threading
import time
import urllib.error
import urllib.request
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


class Scraper:
    """Polls a /metrics URL on a thread until stopped; keeps parsed samples and the last raw text."""

    def __init__(
        self, url: str | None, interval_s: float = 5.0, timeout_s: float = 5.0, prefixes: tuple[str, ...] = PREFIXES
    ):
        self.url, self.interval_s, self.timeout_s, self.prefixes = url, interval_s, timeout_s, prefixes
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.errors: list[str] = []
        self.last_text = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def scrape_once(self) -> None:
        if not self.url:
            return
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as r:
                text = r.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as e:
            self.errors.append(f"{time.time():.0f}: {e}")
            return
        self.last_text = text
        self.samples.append((time.time(), parse(text, self.prefixes)))

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
            "scrapes": len(self.samples),
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
            "metrics": summarize(self.samples),
        }
