"""A Hugging Face Hub on 127.0.0.1 that answers file requests as the real one does, for the real client.

The contract the client (huggingface_hub 2.4.0, file_download.py / utils/_http.py) relies on, and this server
keeps: ``HEAD`` and ``GET /{org}/{name}/resolve/{revision}/{file}``; a found file carries ``X-Repo-Commit`` (40
hex), ``ETag`` and ``Content-Length`` (no Xet headers, so the client takes the plain HTTP path); a gated repo asked
without a token answers 401, with a token that has no access 403, both with ``X-Error-Code: GatedRepo`` and an
``X-Error-Message``; a missing repo 404 with ``X-Error-Code: RepoNotFound``; a missing file 404 with
``X-Error-Code: EntryNotFound`` and ``X-Repo-Commit``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Repo:
    files: dict[str, bytes]
    gated: bool = False
    tokens: frozenset[str] = frozenset()  # tokens with access to a gated repo


@dataclass
class FakeHub:
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, path, token)

    def add(self, repo_id: str, files: dict[str, Any], gated: bool = False, tokens: tuple[str, ...] = ()) -> None:
        raw = {k: v if isinstance(v, bytes) else json.dumps(v).encode() for k, v in files.items()}
        self.repos[repo_id] = Repo(raw, gated, frozenset(tokens))

    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: bool) -> None:
                auth = self.headers.get("authorization") or ""
                token = auth.removeprefix("Bearer ").strip() or None
                hub.requests.append((self.command, self.path, token))
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return self._send(404, b"", {"X-Error-Code": "RepoNotFound"})
                repo_id, filename = f"{parts[0]}/{parts[1]}", "/".join(parts[4:])
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self._send(401 if token is None else 404, b"", {"X-Error-Code": "RepoNotFound"})
                if repo.gated and token not in repo.tokens:
                    msg = f"Access to model {repo_id} is restricted and you are not in the authorized list."
                    return self._send(
                        401 if token is None else 403, b"", {"X-Error-Code": "GatedRepo", "X-Error-Message": msg}
                    )
                data = repo.files.get(filename)
                if data is None:
                    return self._send(404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
                etag = hashlib.sha1(data).hexdigest()
                self._send(200, data if body else b"", {"X-Repo-Commit": COMMIT, "ETag": f'"{etag}"'}, len(data))

            def _send(self, status: int, data: bytes, headers: dict[str, str], length: int | None = None) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data) if length is None else length))
                self.end_headers()
                if data:
                    self.wfile.write(data)

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
