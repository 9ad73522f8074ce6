"""Stage a Hugging Face model's weights into gs:// once, so servers (and later experiments) read them from the
bucket instead of the Hub: ``python3 -m tpustack.workloads.stage_weights --repo ORG/NAME --dest gs://B/P``.

Runs in the server's own image (vLLM's images carry huggingface_hub and google-cloud-storage) as the stack's
staging Job (manifests/vllm/stage-job.yaml.j2), before any server starts. Steps:

1. ``gs://B/P/.tpustack-staged.json`` there and naming the same repo: nothing to do (exit 0, seconds). Naming
   another repo: refused (exit 3); nothing is overwritten.
2. List the repo and take the files a server needs (safetensors, JSON configs, tokenizer files; not Meta's
   ``original/`` consolidated checkpoint).
3. One file at a time: download it (huggingface_hub ``hf_hub_download``, HF_TOKEN from the environment), upload
   it as a new object, delete the local copy; the scratch space holds one shard, so the Job runs on the system
   pool. An object already there with the same size is kept (a rerun after a failed upload resumes); one with
   another size is refused (exit 3): it is someone else's.
4. Write the marker last, listing every file and its size: a server never reads a half-staged model.

Exit codes: the README's table (0 ok, 1 runtime/cloud, 2 usage, 3 invalid input). Stdlib plus, lazily, the
image's huggingface_hub and google-cloud-storage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from tpustack.core.errors import InputError, TpuStackError, first_line
from tpustack.workloads import gcs

MARKER = ".tpustack-staged.json"
SCHEMA = "tpustack.staged/v1"
# What vLLM reads from a model folder: the weights (runai_streamer: safetensors only), configs, tokenizers and
# chat templates. Meta's original/ holds a second, consolidated .pth copy of the weights.
ALLOW = ["*.safetensors", "*.json", "*.model", "*.tiktoken", "*.txt", "*.jinja"]
IGNORE = ["original/*"]


class Hub:
    """The Hugging Face Hub through the image's huggingface_hub (HF_TOKEN from the environment)."""

    def __init__(self) -> None:
        try:
            import huggingface_hub
        except ImportError as e:
            raise TpuStackError(
                "huggingface_hub is not importable in this image", fix="run the staging Job in the engine's image"
            ) from e
        self._hf = huggingface_hub

    def files(self, repo: str, revision: str) -> list[str]:
        return _hub_call(repo, revision, lambda: list(self._hf.list_repo_files(repo, revision=revision)))

    def fetch(self, repo: str, revision: str, name: str, local_dir: Path) -> Path:
        return Path(
            _hub_call(
                repo,
                revision,
                lambda: self._hf.hf_hub_download(repo, name, revision=revision, local_dir=str(local_dir)),
            )
        )


def _hub_call(repo: str, revision: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as e:  # the Hub's errors (gated, not found, network) end as one clear line
        raise TpuStackError(
            f"downloading {repo}@{revision} from Hugging Face: {type(e).__name__}: {first_line(e)}",
            fix="check the repo id, that the token (tpustack:hfToken) may read a gated model, and the network",
        ) from None


def wanted(names: list[str]) -> list[str]:
    """The repo's files a server needs (ALLOW, less IGNORE), in order."""
    keep = [n for n in names if any(fnmatch(n, p) for p in ALLOW) and not any(fnmatch(n, p) for p in IGNORE)]
    return sorted(keep)


def staged(dest: str, repo: str) -> dict | None:
    """The marker's document when the destination already holds this repo; None when there is no marker."""
    uri = f"{dest}/{MARKER}"
    if not gcs.exists(uri):
        return None
    try:
        doc = json.loads(gcs.read(uri))
    except ValueError:
        doc = {}
    if not isinstance(doc, dict) or doc.get("repo") != repo:
        other = doc.get("repo") if isinstance(doc, dict) else None
        raise InputError(
            f"{dest} already holds {other or 'something tpustack did not stage'} ({uri})",
            fix="stage into another path (tpustack:model.stage), or remove that folder yourself",
        )
    return doc


def upload_one(uri: str, path: Path) -> None:
    """Upload a file as a new object; a same-size object already there is kept (a resumed run)."""
    n, have = path.stat().st_size, gcs.size(uri)
    if have is None:
        try:
            gcs.upload_new(uri, path)
            return
        except gcs.ObjectExists:  # another cluster of the stack staging the same model got there first
            have = gcs.size(uri)
    if have != n:
        raise InputError(
            f"{uri} exists with {have} bytes, not the {n} of this model's file: it is not this model's",
            fix="stage into another path (tpustack:model.stage), or remove that object yourself",
        )


def stage(repo: str, revision: str, dest: str, local_dir: Path, hub: Any = None) -> dict:
    """Copy the repo's server files to ``dest`` one at a time (the scratch space holds one file: the largest
    safetensors shard), then write the marker."""
    dest = dest.rstrip("/")
    gcs.split(dest)
    found = staged(dest, repo)
    if found is not None:
        return {**found, "already_staged": True}
    hub = hub if hub is not None else Hub()
    t0 = time.monotonic()
    names = wanted(hub.files(repo, revision))
    if not any(n.endswith(".safetensors") for n in names):
        raise InputError(
            f"{repo}@{revision} has no .safetensors files: vLLM's GCS paths read safetensors only",
            fix="serve a repo with safetensors weights, or download it from the Hub (remove tpustack:model.stage)",
        )
    done = []
    for name in names:
        path = hub.fetch(repo, revision, name, local_dir)
        upload_one(f"{dest}/{name}", path)
        done.append({"name": name, "bytes": path.stat().st_size})
        path.unlink()
    doc = {
        "schema": SCHEMA,
        "repo": repo,
        "revision": revision,
        "files": done,
        "bytes": sum(f["bytes"] for f in done),
        "seconds": round(time.monotonic() - t0, 1),
    }
    try:
        gcs.write_new(f"{dest}/{MARKER}", json.dumps(doc, indent=1).encode(), "application/json")
    except gcs.ObjectExists:  # a racing Job finished first; its marker must name this model too
        if staged(dest, repo) is None:
            raise
    return {**doc, "already_staged": False}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m tpustack.workloads.stage_weights", description=__doc__.split("\n")[0])
    p.add_argument("--repo", required=True, help="Hugging Face repo id (org/name)")
    p.add_argument("--revision", default="main")
    p.add_argument("--dest", required=True, help="gs://BUCKET/PATH")
    p.add_argument("--local-dir", default="/data/hf", help="scratch space for the download")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        doc = stage(args.repo, args.revision, args.dest, Path(args.local_dir))
    except TpuStackError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # the scratch volume: full, read-only, gone
        err = TpuStackError(
            f"local scratch {args.local_dir}: {e.strerror or type(e).__name__}",
            fix="give the Job's /data volume room for the largest shard (it holds one file at a time)",
        )
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    what = "already staged" if doc["already_staged"] else f"staged in {doc['seconds']} s"
    print(f"{args.repo}: {len(doc['files'])} files, {doc['bytes']:,} bytes at {args.dest} ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
