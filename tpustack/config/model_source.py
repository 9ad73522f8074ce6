"""Where a model's ``config.json`` comes from, at plan time: the facts of an architecture are the model's own file.

Order, unless ``tpustack:model.config`` says otherwise:
  1. tpustack's catalog (``tpustack/core/model_configs``: copies of the real files, each with its source and date),
     so plans of the common models are offline, fast and byte-identical;
  2. the user's cache of files fetched earlier (``$TPUSTACK_CACHE_DIR`` or ``$XDG_CACHE_HOME/tpustack``, else
     ``~/.cache/tpustack``), laid out as the Hugging Face client lays out its cache;
  3. the Hugging Face Hub (``huggingface_hub``, the ``hub`` extra), with the stack's token when it has a real one
     (``pulumi up``), else ``HF_TOKEN`` or the token ``hf auth login`` stored (``tpustack plan`` sees only a
     placeholder for secrets). ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` mean what they mean to the client.
``model.config`` may name a local ``config.json`` (or a folder holding one), a ``gs://`` object or folder
(google-cloud-storage, the ``ops`` extra), or ``hub`` to ask the Hub first even for a catalog model (then, with no
network, the catalog copy is used with a warning). Weights in ``gs://`` are read from ``<model.id>/config.json``.

Every failure is a ``Fetched`` with a problem (key, reason, fix) instead of an exception: the config gate lists it
with the others. No message ever carries a token.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tpustack.core.errors import Problem, problem

from .sections import ModelConfig

CONFIG_FILE = "config.json"
HUB = "hub"
# What the secret placeholder of `tpustack plan` looks like (tpustack.config.project): never a token.
_PLACEHOLDER_PREFIX = "[secret:"


@dataclass(frozen=True, kw_only=True)
class Fetched:
    """A model's config.json as read, or the problem that kept it from being read."""

    doc: dict[str, Any] | None
    origin: str  # catalog | cache | hub | file | gcs | none
    source: str  # where exactly (a path, gs:// URI, a Hub URL at a commit)
    gated: bool | None = None  # what the Hub said, when it was asked
    warnings: tuple[str, ...] = ()
    problem: Problem | None = None


@dataclass(frozen=True, kw_only=True)
class Sources:
    """How to reach model configs: the cache folder, the token, and whether the network may be used."""

    cache_dir: Path
    token: str | None = None
    offline: bool = False
    extra_warnings: list[str] = field(default_factory=list)


def cache_dir() -> Path:
    explicit = os.environ.get("TPUSTACK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "tpustack"


def usable_token(stack_token: str | None) -> str | None:
    """The stack's token if it is a real one; else None, and the Hub client finds HF_TOKEN or a stored login."""
    if stack_token and not stack_token.startswith(_PLACEHOLDER_PREFIX):
        return stack_token
    return None


def sources(stack_token: str | None = None) -> Sources:
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    return Sources(cache_dir=cache_dir(), token=usable_token(stack_token), offline=offline)


# ----- one place each ---------------------------------------------------------------------------------------------
def _bad_file(key: str, where: str, why: str) -> Fetched:
    return Fetched(
        doc=None,
        origin="none",
        source=where,
        problem=problem(
            key,
            f"{where} is not a readable config.json ({why})",
            "point model.config at the model's config.json (or a folder holding it), or remove model.config",
        ),
    )


def read_local(ref: str, key: str = "tpustack:model.config") -> Fetched:
    path = Path(ref).expanduser()
    if path.is_dir():
        path = path / CONFIG_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return _bad_file(key, str(path), "no such file")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return _bad_file(key, str(path), type(e).__name__)
    if not isinstance(doc, dict):
        return _bad_file(key, str(path), "not a JSON object")
    return Fetched(doc=doc, origin="file", source=str(path))


def read_gcs(uri: str, key: str = "tpustack:model.config") -> Fetched:
    """A config.json in a bucket: the object itself, or ``<prefix>/config.json``."""
    target = uri if uri.endswith(".json") else f"{uri.rstrip('/')}/{CONFIG_FILE}"
    try:
        from google.cloud import storage  # the ops extra
    except ImportError:
        return Fetched(
            doc=None,
            origin="none",
            source=target,
            problem=problem(
                key,
                f"reading {target} needs google-cloud-storage, which this install lacks",
                "pip install 'tpustack[ops]', or copy the file locally and set model.config to its path",
            ),
        )
    bucket, _, name = target.removeprefix("gs://").partition("/")
    try:
        text = storage.Client().bucket(bucket).blob(name).download_as_text()
        doc = json.loads(text)
    except ValueError as e:
        return _bad_file(key, target, type(e).__name__)
    except Exception as e:  # credentials, permissions, a missing object: all end as one problem
        return Fetched(
            doc=None,
            origin="none",
            source=target,
            problem=problem(
                key,
                f"cannot read {target} ({type(e).__name__})",
                "check `gcloud storage cat` of it with your credentials, or set model.config to a local copy",
            ),
        )
    if not isinstance(doc, dict):
        return _bad_file(key, target, "not a JSON object")
    return Fetched(doc=doc, origin="gcs", source=target)


def reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """Whether the Hub's host answers a TCP connect: the client retries a refused or unresolvable host five times
    with backoff (about 25 s), so an offline plan asks once, quickly, and goes on without the network."""
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(endpoint)
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        with socket.create_connection((u.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def read_hub(model_id: str, src: Sources, *, local_only: bool = False) -> Fetched:
    """config.json of a Hub model through the real client (its cache under ours, its error kinds)."""
    key = "tpustack:model.id"
    try:
        import huggingface_hub as hf
        from huggingface_hub import errors as hf_errors
    except ImportError:
        return Fetched(
            doc=None,
            origin="none",
            source=model_id,
            problem=problem(
                key,
                f"{model_id} is not in tpustack's model catalog and reading its config.json from the Hugging Face "
                "Hub needs huggingface_hub, which this install lacks",
                "pip install 'tpustack[hub]', or set model.config to a local copy of its config.json",
            ),
        )
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    # passed on every call: the client reads HF_ENDPOINT once, at import
    kwargs: dict[str, Any] = {"cache_dir": str(src.cache_dir / "hub"), "endpoint": endpoint}
    if local_only or src.offline or not reachable(endpoint):
        kwargs["local_files_only"] = True
    gated = None
    try:
        try:
            path = hf.hf_hub_download(model_id, CONFIG_FILE, token=False, **kwargs)
            gated = False
        except hf_errors.GatedRepoError:
            gated = True
            path = hf.hf_hub_download(model_id, CONFIG_FILE, token=src.token, **kwargs)
    except hf_errors.GatedRepoError:
        return Fetched(
            doc=None,
            origin="none",
            source=model_id,
            gated=True,
            problem=problem(
                key,
                f"{model_id} is gated on the Hugging Face Hub and no token with access to it was found",
                "accept its license on huggingface.co, then set HF_TOKEN (or `hf auth login`) for `tpustack plan`; "
                "`pulumi up` uses the stack's tpustack:hfToken",
            ),
        )
    except hf_errors.RepositoryNotFoundError:
        return Fetched(
            doc=None,
            origin="none",
            source=model_id,
            problem=problem(key, f"the Hugging Face Hub has no model {model_id}", "check the id (org/name)"),
        )
    except Exception as e:  # offline, no network, no such file, a non-Hub endpoint: one problem
        offline = bool(kwargs.get("local_files_only"))
        return Fetched(
            doc=None,
            origin="none",
            source=model_id,
            problem=problem(
                key,
                f"{model_id} is not in tpustack's model catalog and its config.json could not be read from the "
                f"Hugging Face Hub ({'offline' if offline else type(e).__name__})",
                "connect and plan again (the file is cached), or set model.config to a local copy of its "
                "config.json, or state model.paramsB and model.contextLength",
            ),
        )
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        return _bad_file(key, str(path), type(e).__name__)
    commit = Path(path).parent.name
    origin = "cache" if kwargs.get("local_files_only") else "hub"
    return Fetched(
        doc=doc if isinstance(doc, dict) else None,
        origin=origin,
        source=f"{endpoint}/{model_id}/blob/{commit}/{CONFIG_FILE}",
        gated=gated,
        problem=None if isinstance(doc, dict) else _bad_file(key, str(path), "not a JSON object").problem,
    )


def fetch(model: ModelConfig, src: Sources, in_catalog: bool) -> Fetched | None:
    """The model's config.json from wherever it should come from; None: use the catalog's copy (or, for a model
    outside it whose paramsB and contextLength the stack states, nothing: the network is asked only when
    ``model.config`` says so, the cache is read)."""
    ref = model.config
    if ref and ref != HUB:
        return read_gcs(ref) if ref.startswith("gs://") else read_local(ref)
    if not in_catalog and ref is None and model.stated:
        if model.source == "gcs":
            return None
        cached = read_hub(model.id, src, local_only=True)
        return cached if cached.doc is not None else None
    if model.source == "gcs":
        return read_gcs(model.id, key="tpustack:model.id")
    if in_catalog and ref != HUB:
        return None
    cached = read_hub(model.id, src, local_only=True)
    if cached.doc is not None and ref != HUB:
        return cached
    fetched = read_hub(model.id, src)
    if fetched.doc is None and in_catalog:
        why = fetched.problem.reason if fetched.problem else "unknown"
        return Fetched(
            doc=None,
            origin="catalog",
            source="",
            warnings=(
                f"tpustack:model.config: the Hub was asked first but did not answer ({why}); tpustack's "
                "catalog copy of config.json is used",
            ),
        )
    return fetched
