"""The loopback server's prefix cache (tests/helpers/loopback.py) is a real one, and its /metrics read back through
the runner's scraper give the hit rate it really had: the ground truth the client tests (test_clients.py) check the
records against."""

from __future__ import annotations

import json
import urllib.request

from workloads import cachestats, promscrape

from helpers.loopback import OpenAIServer, PrefixCache


def post(url: str, prompt: str) -> None:
    body = json.dumps({"prompt": prompt, "max_tokens": 2, "stream": False}).encode()
    req = urllib.request.Request(f"{url}/v1/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def words(start: int, n: int) -> str:
    return " ".join(f"w{i}" for i in range(start, start + n))


def test_hits_are_whole_cached_blocks_and_never_the_last_token():
    c = PrefixCache(block_size=4)
    prefix = [f"p{i}" for i in range(8)]
    assert c.admit([*prefix, "a", "b"]) == 0  # cold
    assert c.admit([*prefix, "c", "d"]) == 8  # two shared blocks
    assert c.admit([*prefix, "a", "b"]) == 8  # the tail (2 tokens) is no whole block
    assert c.admit(prefix) == 4  # all cached, but the last token is recomputed: one block short
    assert c.admit(["x", *prefix]) == 0  # a block's hash includes its parents: no hit off the start
    assert (c.queries, c.hits) == (10 + 10 + 10 + 8 + 9, 20)
    off = PrefixCache(enabled=False)
    assert off.admit(prefix) == 0 and off.queries == 0


def test_metrics_give_the_cache_its_hit_rate():
    with OpenAIServer(ttft_s=0.001, tpot_s=0.001) as srv:
        scraper = promscrape.Scraper(f"{srv.url}/metrics", interval_s=60)
        post(srv.url, words(0, 40))  # before the point: its counters are excluded
        with scraper:
            for q in range(4):
                post(srv.url, f"{words(0, 32)} {words(1000 + 10 * q, 8)}")
        hits, queries = srv.cache.hits, srv.cache.queries
    pc = cachestats.prefix_cache(scraper.summary()["metrics"])
    assert pc is not None and pc["queries"] == 4 * 40 and pc["hits"] == 4 * 32
    assert pc["hit_rate"] == 0.8 and (hits, queries) == (4 * 32, 5 * 40)


def test_caching_off_has_no_rate():
    srv = OpenAIServer(ttft_s=0.001, tpot_s=0.001, prefix_caching=False)
    with srv, promscrape.Scraper(f"{srv.url}/metrics", interval_s=60) as scraper:
        for _ in range(3):
            post(srv.url, words(0, 40))
    pc = cachestats.prefix_cache(scraper.summary()["metrics"])
    assert pc is not None and pc["queries"] == 0 and pc["hit_rate"] is None


def test_a_roles_pods_are_scraped_one_by_one_and_summed():
    """A P/D role's headless Service resolves to each of its pods (promscrape fan_out): two replicas with caches
    of their own, each hit by different prompts, give the role's hits and queries as their sums; a load-balanced
    URL would have read one pod or the other."""
    from urllib.parse import urlsplit

    with OpenAIServer(ttft_s=0.001, tpot_s=0.001) as a, OpenAIServer(ttft_s=0.001, tpot_s=0.001) as b:
        pods = [("127.0.0.1", urlsplit(s.url).port) for s in (a, b)]
        scraper = promscrape.Scraper(
            "http://vllm-decode-metrics.ns.svc.cluster.local:8200/metrics",
            interval_s=60,
            fan_out=True,
            resolve=lambda host, port: (
                pods if (host, port) == ("vllm-decode-metrics.ns.svc.cluster.local", 8200) else []
            ),
        )
        with scraper:
            for q in range(3):
                post(a.url, f"{words(0, 32)} {words(1000 + 10 * q, 8)}")
            post(b.url, words(0, 40))
        summary = scraper.summary()
        hits = a.cache.hits + b.cache.hits
        queries = a.cache.queries + b.cache.queries
    pc = cachestats.prefix_cache(summary["metrics"])
    assert summary["pods"] == 2 and summary["errors"] == 0
    assert pc is not None and (pc["hits"], pc["queries"]) == (hits, queries) == (2 * 32, 4 * 40)


def test_a_role_with_no_ready_pod_is_an_error_not_a_zero():
    scraper = promscrape.Scraper("http://x-metrics.ns.svc:8000/metrics", fan_out=True, resolve=lambda h, p: [])
    scraper.scrape_once()
    assert scraper.samples == [] and "resolves to no pod" in scraper.errors[0]


def test_pod_addresses_reads_every_record_of_the_name():
    addrs = promscrape.pod_addresses("127.0.0.1", 8000)
    assert addrs == [("127.0.0.1", 8000)]
