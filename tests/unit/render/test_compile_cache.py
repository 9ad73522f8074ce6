"""The XLA compile cache (tpustack:engine.compileCache): one per stack in its results bucket over GCS FUSE, for
single- and multi-host TPU slices; on a multi-host slice the leader's mount is writable and the workers' is
read-only (JAX writes its persistent cache from process 0 only; several writers on one GCS FUSE directory race)."""

from __future__ import annotations

import pytest

from tpustack import render
from tpustack.config import load_config
from tpustack.config.project import read_stack_file
from tpustack.core import engines
from tpustack.core.k8s import pod_specs

from helpers.project import PROJECT

CSI = "gcsfuse.csi.storage.gke.io"


def rendered(stack: str) -> tuple[list[dict], str]:
    cfg = load_config(*read_stack_file(PROJECT, stack), stack)
    return list(render.render(cfg).objects()), cfg.results_bucket


def cache_of(spec: dict) -> tuple[dict, dict, dict]:
    """(volume, the serving container's mount, its env) of the cache in one pod spec."""
    vol = next(v for v in spec["volumes"] if v["name"] == "xla-cache")
    ctr = spec["containers"][0]
    mount = next(m for m in ctr["volumeMounts"] if m["name"] == "xla-cache")
    env = {e["name"]: e.get("value") for e in ctr.get("env", [])}
    return vol, mount, env


def test_multi_host_leader_writes_workers_read_the_shared_cache():
    objs, bucket = rendered("gke-vllm-v6e-multihost")
    lws = next(o for o in objs if o["kind"] == "LeaderWorkerSet")
    tmpl = lws["spec"]["leaderWorkerTemplate"]
    leader, worker = tmpl["leaderTemplate"], tmpl["workerTemplate"]
    (lv, lm, le), (wv, wm, we) = cache_of(leader["spec"]), cache_of(worker["spec"])
    for vol in (lv, wv):
        assert vol["csi"]["driver"] == CSI and vol["csi"]["volumeAttributes"]["bucketName"] == bucket
        assert "only-dir=xla-cache/gke-vllm-v6e-multihost" in vol["csi"]["volumeAttributes"]["mountOptions"]
    assert lv["csi"]["readOnly"] is False and not lm.get("readOnly")
    assert wv["csi"]["readOnly"] is True and wm["readOnly"] is True
    # both point the engine at it, and both run GKE's GCS FUSE sidecar
    assert le[engines.XLA_CACHE_ENV] == lm["mountPath"] and we[engines.XLA_CACHE_ENV] == wm["mountPath"]
    for t in (leader, worker):
        assert t["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"


@pytest.mark.parametrize("stack", ["gke-vllm-v6e", "gke-vllm-v6e-multihost"])
def test_no_emptydir_cache_left(stack):
    objs, _ = rendered(stack)
    specs = [spec for o in objs for _, spec in pod_specs(o)]
    caches = [v for s in specs for v in s.get("volumes", []) if v["name"] == "xla-cache"]
    assert caches and all("csi" in v and "emptyDir" not in v for v in caches)
