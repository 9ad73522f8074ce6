"""Results in GCS: write-once objects, listing and reading, for the heartbeat, the benchmark Job and the report.

Layout (one run never touches another's objects): ``gs://BUCKET/STACK/RUN_ID/...``.

Write-once: every upload first checks the object is absent, then uploads with ``ifGenerationMatch=0``
(GCS refuses the write if any live object has that name: cloud.google.com/storage/docs/request-preconditions),
so an earlier run's result is never replaced, even by a racing writer.

A result's destination (an --out value) is a gs:// object or a local file under the same rule: ``check_new`` before
measuring (so a finished measurement is never lost to a bad --out), ``write_once`` after.

Clients: google-cloud-storage when it is importable (imported lazily); otherwise the GCS JSON API over
urllib with an access token from the GKE/GCE metadata server (benchmark images may lack the client).
Both honour ``STORAGE_EMULATOR_HOST`` (then no token is fetched), which is how the tests use a local
gcp-storage-emulator. ``TPUSTACK_GCS_STDLIB=1`` forces the stdlib path.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tpustack.core import outputs
from tpustack.core.errors import InputError, TpuStackError, first_line

API = "https://storage.googleapis.com"
# Metadata server token endpoint (cloud.google.com/compute/docs/access/authenticate-workloads#applications)
TOKEN_URL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
TIMEOUT_S = 60


class GcsError(TpuStackError):
    """GCS could not be reached or answered with an error (credentials, a missing bucket, permissions)."""


class ObjectExists(InputError):
    """The object is already there: a run id was reused. Results are never overwritten."""


def _google_errors() -> tuple[type[BaseException], ...]:
    """What google-cloud-storage raises for API, credential and transport failures."""
    errors: list[type[BaseException]] = [OSError]
    try:
        from google.api_core import exceptions as gexc

        errors.append(gexc.GoogleAPIError)
    except ImportError:
        pass
    try:
        from google.auth import exceptions as aexc

        errors.append(aexc.GoogleAuthError)
    except ImportError:
        pass
    try:
        import requests

        errors.append(requests.RequestException)
    except ImportError:
        pass
    return tuple(errors)


def _gcs_failure(what: str, e: BaseException) -> GcsError:
    name = type(e).__name__
    if "Credentials" in name or "RefreshError" in name or "Auth" in name:
        fix = (
            "`gcloud auth application-default login` (or run where a service account is attached: GKE with "
            "Workload Identity, a GCE/TPU VM)"
        )
    elif "NotFound" in name:
        fix = "check the bucket and path (`gcloud storage ls gs://BUCKET/`); the results stack creates the bucket"
    elif "Forbidden" in name:
        fix = "grant your identity read access (roles/storage.objectViewer) on the bucket"
    else:
        fix = "check the network and the bucket name, then retry"
    return GcsError(f"{what}: {name}: {first_line(e)}", fix=fix)


def split(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://"):
        raise InputError(f"'{uri}' is not a gs:// URI", fix="gs://BUCKET/PATH")
    bucket, _, name = uri[5:].partition("/")
    if not bucket:
        raise InputError(f"'{uri}' has no bucket", fix="gs://BUCKET/PATH")
    return bucket, name


def _use_client() -> bool:
    if os.environ.get("TPUSTACK_GCS_STDLIB") == "1":
        return False
    try:
        import google.cloud.storage  # noqa: F401
    except ImportError:
        return False
    return True


def _client():
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="tpustack-emulator", credentials=AnonymousCredentials())
    return storage.Client()


# ----- stdlib JSON API ----------------------------------------------------------------------------------
def _base() -> str:
    return (os.environ.get("STORAGE_EMULATOR_HOST") or API).rstrip("/")


def _token() -> str | None:
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return None
    req = urllib.request.Request(TOKEN_URL, headers={"Metadata-Flavor": "Google"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)["access_token"]
    except (urllib.error.URLError, OSError, KeyError, ValueError) as e:
        raise GcsError(
            f"no GCS credentials: the metadata server token request failed ({e})",
            fix="run in GKE with Workload Identity or on a GCE/TPU VM with a service account, or install "
            "google-cloud-storage with application default credentials",
        ) from e


def _request(method: str, url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    hdrs = dict(headers or {})
    token = _token()
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        raise GcsError(f"{method} {url}: {e}", fix="check the network (or STORAGE_EMULATOR_HOST), then retry") from e


def _object_url(bucket: str, name: str) -> str:
    return f"{_base()}/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o/{urllib.parse.quote(name, safe='')}"


def upload_url(bucket: str, name: str) -> str:
    q = urllib.parse.urlencode({"uploadType": "multipart", "ifGenerationMatch": "0"})
    return f"{_base()}/upload/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?{q}"


def multipart_body(name: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    """A JSON API multipart upload (metadata part, then the bytes), as cloud.google.com/storage/docs/
    uploading-objects describes and google-cloud-storage sends for small objects."""
    boundary = "tpustack-" + os.urandom(12).hex()
    meta = json.dumps({"name": name, "contentType": content_type}).encode()
    body = (
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode()
        + meta
        + f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/related; boundary={boundary}"


def _stdlib_exists(bucket: str, name: str) -> bool:
    status, body = _request("GET", _object_url(bucket, name))
    if status == 404:
        return False
    if status == 200:
        return True
    raise GcsError(
        f"gs://{bucket}/{name}: GCS answered {status} ({body[:200]!r})",
        fix="check the bucket exists and the service account has roles/storage.objectUser on it",
    )


# ----- public API ---------------------------------------------------------------------------------------
def write_new(uri: str, data: bytes, content_type: str = "application/octet-stream") -> str:
    """Create the object; ObjectExists if anything already lives at that name."""
    bucket, name = split(uri)
    taken = ObjectExists(
        f"{uri} already exists: results are write-once",
        fix="use a new run id (the runner makes one per run; a reused --out path is the usual cause)",
    )
    if _use_client():
        from google.api_core import exceptions as gexc

        try:
            blob = _client().bucket(bucket).blob(name)
            if blob.exists():
                raise taken
            blob.upload_from_string(data, content_type=content_type, if_generation_match=0)
        except gexc.PreconditionFailed:
            raise taken from None
        except _google_errors() as e:
            raise _gcs_failure(f"writing {uri}", e) from None
        return uri
    if _stdlib_exists(bucket, name):
        raise taken
    payload, ctype = multipart_body(name, data, content_type)
    status, body = _request("POST", upload_url(bucket, name), payload, {"Content-Type": ctype})
    if status == 412:
        raise taken
    if status not in (200, 201):
        raise GcsError(
            f"upload to {uri} failed: GCS answered {status} ({body[:200]!r})",
            fix="check the bucket exists and the service account may create objects in it",
        )
    return uri


def exists(uri: str) -> bool:
    bucket, name = split(uri)
    if _use_client():
        try:
            return bool(_client().bucket(bucket).blob(name).exists())
        except _google_errors() as e:
            raise _gcs_failure(f"looking up {uri}", e) from None
    return _stdlib_exists(bucket, name)


def list_uris(prefix_uri: str) -> list[str]:
    """Every object under a gs:// prefix, sorted."""
    bucket, prefix = split(prefix_uri)
    if _use_client():
        try:
            return sorted(f"gs://{bucket}/{b.name}" for b in _client().list_blobs(bucket, prefix=prefix))
        except _google_errors() as e:
            raise _gcs_failure(f"listing {prefix_uri}", e) from None
    names: list[str] = []
    token = None
    while True:
        q = {"prefix": prefix, **({"pageToken": token} if token else {})}
        url = f"{_base()}/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?{urllib.parse.urlencode(q)}"
        status, body = _request("GET", url)
        if status != 200:
            raise GcsError(
                f"listing {prefix_uri} failed: GCS answered {status}",
                fix="check the bucket name and that you may list it (roles/storage.objectViewer)",
            )
        page = json.loads(body)
        names += [item["name"] for item in page.get("items", [])]
        token = page.get("nextPageToken")
        if not token:
            return sorted(f"gs://{bucket}/{n}" for n in names)


def read(uri: str) -> bytes:
    bucket, name = split(uri)
    if _use_client():
        try:
            return bytes(_client().bucket(bucket).blob(name).download_as_bytes())
        except _google_errors() as e:
            raise _gcs_failure(f"reading {uri}", e) from None
    status, body = _request("GET", _object_url(bucket, name) + "?alt=media")
    if status != 200:
        raise GcsError(
            f"reading {uri} failed: GCS answered {status}", fix="check the object exists and you may read it"
        )
    return body


# ----- a result's destination: a gs:// object or a local file, both write-once --------------------------------
def check_new(out: str) -> None:
    """Before measuring: the destination ``out`` (an --out value) must be new and writable."""
    if out.startswith("gs://"):
        if exists(out):  # also proves credentials and the bucket before the run
            raise ObjectExists(f"--out {out}: already exists; results are write-once", fix="a new path")
        return
    outputs.check_file(Path(out), "--out")


def write_once(out: str, data: bytes, content_type: str = "application/json") -> str:
    """Create ``out`` (gs:// or a local path, its directories made) holding ``data``; never replaces anything."""
    if out.startswith("gs://"):
        return write_new(out, data, content_type)
    return str(outputs.write_file(Path(out), data, "--out"))  # exclusive, whole or not at all


# ----- large files (weights staging: tpustack.workloads.stage_weights) ----------------------------------------
def size(uri: str) -> int | None:
    """The object's size in bytes, or None when there is no such object."""
    bucket, name = split(uri)
    if _use_client():
        try:
            blob = _client().bucket(bucket).get_blob(name)
        except _google_errors() as e:
            raise _gcs_failure(f"looking up {uri}", e) from None
        return None if blob is None else int(blob.size)
    status, body = _request("GET", _object_url(bucket, name))
    if status == 404:
        return None
    if status != 200:
        raise GcsError(f"looking up {uri} failed: GCS answered {status}", fix="check you may read the bucket")
    return int(json.loads(body)["size"])


def upload_new(uri: str, path: Path) -> None:
    """Stream a local file to a new object (a resumable upload for a large one); ObjectExists if the name is taken.
    Needs google-cloud-storage (both pinned vLLM images carry it: tpu-inference and runai-model-streamer-gcs
    require it); without it only files that fit in memory are sent, through the JSON API."""
    bucket, name = split(uri)
    taken = ObjectExists(f"{uri} already exists", fix="nothing is overwritten: remove it yourself, or stage elsewhere")
    if not _use_client():
        write_new(uri, path.read_bytes())
        return
    from google.api_core import exceptions as gexc

    try:
        _client().bucket(bucket).blob(name).upload_from_filename(str(path), if_generation_match=0)
    except gexc.PreconditionFailed:
        raise taken from None
    except _google_errors() as e:
        raise _gcs_failure(f"writing {uri}", e) from None
