"""A local stand-in for the Cloud TPU API v2 and the GKE API v1, speaking their REST/JSON shape on 127.0.0.1.

The reaper's tests point the real client libraries (``tpu_v2.TpuClient`` and
``container_v1.ClusterManagerClient``, REST transport) at this server, so URL paths, query parameters, JSON
field names, pagination and long-running operations go through the same code as against Google.

Shapes, from the installed clients' REST transports and message types:
- TPU v2 (google/cloud/tpu_v2/services/tpu/transports/rest_base.py, types/cloud_tpu.py):
  ``GET  /v2/projects/P/locations`` -> ``{"locations": [...], "nextPageToken"}`` (google.cloud.location mixin);
  ``GET  /v2/{parent=projects/*/locations/*}/nodes`` -> ``{"nodes": [...], "nextPageToken"}``;
  ``GET  /v2/{parent=projects/*/locations/*}/queuedResources`` -> ``{"queuedResources": [...], ...}``;
  ``DELETE /v2/{name=.../nodes/*}``, ``DELETE /v2/{name=.../queuedResources/*}?force=`` -> a
  google.longrunning Operation; ``GET /v2/{name=projects/*/locations/*/operations/*}`` polls it.
- GKE v1 (google/cloud/container_v1/services/cluster_manager/transports/rest_base.py, types/cluster_service.py):
  ``GET /v1/{parent=projects/*/locations/*}/clusters`` (location ``-`` = all) -> ``{"clusters": [...]}``
  (no pagination in this API); ``DELETE /v1/{name=.../clusters/*}`` and ``.../nodePools/*`` -> a GKE
  ``Operation`` (``status`` RUNNING/DONE); ``GET /v1/{name=projects/*/locations/*/operations/*}``.
- Errors: the Google JSON error body ``{"error": {"code", "message", "status"}}`` that
  google.api_core.exceptions.from_http_response reads.

Deliberately not modelled: auth, request ids, filters, the zonal ``/projects/P/zones/Z`` GKE paths.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TPU_OP_METADATA = "type.googleapis.com/google.cloud.tpu.v2.OperationMetadata"
EMPTY = "type.googleapis.com/google.protobuf.Empty"


@dataclass
class FakeState:
    """What the fake project holds. Tests put resources in, then read what is left and what was asked."""

    project: str = "my-tpu-project"
    zones: list[str] = field(default_factory=lambda: ["us-east5-a", "us-east5-b", "us-west4-a"])
    nodes: dict[str, dict] = field(default_factory=dict)  # full name -> Node JSON
    queued: dict[str, dict] = field(default_factory=dict)  # full name -> QueuedResource JSON
    clusters: dict[str, dict] = field(default_factory=dict)  # full name -> Cluster JSON (nodePools inside)
    operations: dict[str, dict] = field(default_factory=dict)
    page_size: int = 2  # the server's own page size, small so every list paginates
    # Resource name (or list parent) -> (HTTP status, gRPC status name, message) answered instead.
    failures: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    # Resource name -> raw bytes answered with HTTP 200 instead (a broken proxy, an HTML error page).
    garbage: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)  # (method, path, query)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ----- builders in the API's JSON shape ------------------------------------------------------------
    def add_node(
        self,
        zone: str,
        node_id: str,
        labels: dict[str, str] | None = None,
        *,
        state: str = "READY",
        accelerator: str = "v6e-8",
        queued_resource: str = "",
        description: str = "",
        create_time: str = "2026-11-20T00:00:00Z",
        name_project: str | None = None,
    ) -> str:
        """A TPU node listed under this project's zone; ``name_project`` makes the API name it under another
        project (what a confused or hostile endpoint could answer)."""
        name = f"projects/{self.project}/locations/{zone}/nodes/{node_id}"
        node = {
            "name": name if name_project is None else f"projects/{name_project}/locations/{zone}/nodes/{node_id}",
            "acceleratorType": accelerator,
            "state": state,
            "labels": labels or {},
            "runtimeVersion": "v2-alpha-tpuv6e",
            "createTime": create_time,
            "description": description,
        }
        if queued_resource:
            node["queuedResource"] = queued_resource
        self.nodes[name] = node
        return name

    def add_queued(
        self,
        zone: str,
        qr_id: str,
        node_labels: dict[str, str] | None = None,
        *,
        state: str = "WAITING_FOR_RESOURCES",
        description: str = "",
        create_time: str = "2026-11-20T00:00:00Z",
    ) -> str:
        name = f"projects/{self.project}/locations/{zone}/queuedResources/{qr_id}"
        node = {"acceleratorType": "v6e-8", "runtimeVersion": "v2-alpha-tpuv6e", "description": description}
        if node_labels:
            node["labels"] = node_labels
        self.queued[name] = {
            "name": name,
            "createTime": create_time,
            "state": {"state": state},
            "tpu": {
                "nodeSpec": [{"parent": f"projects/{self.project}/locations/{zone}", "nodeId": qr_id, "node": node}]
            },
        }
        return name

    def add_cluster(
        self,
        location: str,
        cluster: str,
        labels: dict[str, str] | None = None,
        pools: dict[str, dict[str, str]] | None = None,
        *,
        status: str = "RUNNING",
    ) -> str:
        name = f"projects/{self.project}/locations/{location}/clusters/{cluster}"
        self.clusters[name] = {
            "name": cluster,
            "location": location,
            "status": status,
            "resourceLabels": labels or {},
            "selfLink": f"https://container.googleapis.com/v1/{name}",
            "createTime": "2026-11-20T00:00:00+00:00",
            "nodePools": [
                {"name": p, "status": "RUNNING", "config": {"machineType": "ct6e-standard-8t", "resourceLabels": pl}}
                for p, pl in (pools or {}).items()
            ],
        }
        return name

    def pool_names(self, cluster_name: str) -> list[str]:
        return [p["name"] for p in self.clusters[cluster_name]["nodePools"]]

    def deletes(self) -> list[str]:
        return [path for method, path, _ in self.requests if method == "DELETE"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    # ----- plumbing -------------------------------------------------------------------------------
    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, status: str, message: str) -> None:
        self._send(code, {"error": {"code": code, "message": message, "status": status}})

    def _route(self, method: str) -> None:
        st = self.server.state
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        with st.lock:
            st.requests.append((method, path, query))
            key = path.split("/", 2)[-1].split(":")[0]  # "projects/..." without the version
            for target, (code, status, message) in st.failures.items():
                if key == target:
                    return self._error(code, status, message)
            if key in st.garbage:
                data = st.garbage[key]
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None
            try:
                return self._dispatch(method, path.strip("/").split("/"), query)
            except KeyError as e:
                return self._error(404, "NOT_FOUND", f"Resource '{e.args[0]}' was not found")

    def do_GET(self) -> None:
        self._route("GET")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_POST(self) -> None:
        self._route("POST")

    # ----- the APIs ----------------------------------------------------------------------------------
    def _page(self, items: list[dict], key: str, query: dict) -> None:
        size = min(int(query.get("pageSize") or self.server.state.page_size), self.server.state.page_size)
        start = int(query.get("pageToken") or 0)
        body: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            body["nextPageToken"] = str(start + size)
        self._send(200, body)

    def _dispatch(self, method: str, parts: list[str], query: dict) -> None:
        st = self.server.state
        version, rest = parts[0], parts[1:]
        full = "/".join(rest)
        if version == "v2":
            return self._tpu(method, rest, full, query)
        if version == "v1":
            return self._gke(method, rest, full, query)
        return self._error(404, "NOT_FOUND", f"no API version {version} in {st.project}")

    def _tpu(self, method: str, rest: list[str], full: str, query: dict) -> None:
        st = self.server.state
        # projects/P/locations
        if method == "GET" and len(rest) == 3 and rest[2] == "locations":
            locs = [{"name": f"projects/{rest[1]}/locations/{z}", "locationId": z} for z in st.zones]
            return self._page(locs, "locations", query)
        # projects/P/locations/L/{nodes|queuedResources|operations}[/ID]
        if len(rest) == 5 and method == "GET":
            parent = "/".join(rest[:4]) + "/"
            if rest[4] == "nodes":
                return self._page([n for k, n in sorted(st.nodes.items()) if k.startswith(parent)], "nodes", query)
            if rest[4] == "queuedResources":
                return self._page(
                    [q for k, q in sorted(st.queued.items()) if k.startswith(parent)], "queuedResources", query
                )
        if len(rest) == 6 and rest[4] == "operations" and method == "GET":
            op = st.operations[full]
            op["done"] = True  # a delete finishes by the time anyone asks
            op["response"] = {"@type": EMPTY}
            return self._send(200, op)
        if len(rest) == 6 and method == "DELETE" and rest[4] in ("nodes", "queuedResources"):
            table = st.nodes if rest[4] == "nodes" else st.queued
            if full not in table:
                raise KeyError(full)
            if rest[4] == "queuedResources":
                qr_nodes = [k for k, n in st.nodes.items() if n.get("queuedResource") == full]
                if qr_nodes and query.get("force") not in ("true", "True", "1"):
                    return self._error(
                        400, "FAILED_PRECONDITION", f"queued resource {full} has nodes; delete them first or set force"
                    )
                for k in qr_nodes:
                    del st.nodes[k]
            del table[full]
            op_name = f"{'/'.join(rest[:4])}/operations/operation-{len(st.operations) + 1}"
            op = {
                "name": op_name,
                "done": False,
                "metadata": {
                    "@type": TPU_OP_METADATA,
                    "target": full,
                    "verb": "delete",
                    "apiVersion": "v2",
                    "createTime": "2026-11-23T00:00:00Z",
                },
            }
            st.operations[op_name] = dict(op)
            return self._send(200, op)
        return self._error(404, "NOT_FOUND", f"no TPU API route for {method} /v2/{full}")

    def _gke(self, method: str, rest: list[str], full: str, query: dict) -> None:
        st = self.server.state
        if method == "GET" and len(rest) == 5 and rest[4] == "clusters":
            loc = rest[3]
            found = [c for c in st.clusters.values() if loc == "-" or c["location"] == loc]
            return self._send(200, {"clusters": sorted(found, key=lambda c: c["name"])})
        if method == "GET" and len(rest) == 6 and rest[4] == "operations":
            op = st.operations[full]
            op["status"] = "DONE"
            return self._send(200, op)
        if method == "DELETE" and len(rest) in (6, 8) and rest[4] == "clusters":
            cluster_name = "/".join(rest[:6])
            cluster = st.clusters[cluster_name]
            if len(rest) == 8:
                pools = [p for p in cluster["nodePools"] if p["name"] == rest[7]]
                if not pools:
                    raise KeyError(full)
                cluster["nodePools"].remove(pools[0])
                kind, target = "DELETE_NODE_POOL", full
            else:
                del st.clusters[cluster_name]
                kind, target = "DELETE_CLUSTER", cluster_name
            op_id = f"operation-{len(st.operations) + 1}"
            op = {
                "name": op_id,
                "operationType": kind,
                "status": "RUNNING",
                "location": rest[3],
                "zone": rest[3],
                "targetLink": f"https://container.googleapis.com/v1/{target}",
                "selfLink": f"https://container.googleapis.com/v1/{'/'.join(rest[:4])}/operations/{op_id}",
            }
            st.operations[f"{'/'.join(rest[:4])}/operations/{op_id}"] = dict(op)
            return self._send(200, op)
        return self._error(404, "NOT_FOUND", f"no GKE API route for {method} /v1/{full}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FakeState


class FakeGcpServer:
    """Context manager: ``with FakeGcpServer() as srv: srv.endpoint, srv.state``."""

    def __init__(self, state: FakeState | None = None):
        self.state = state or FakeState()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.state = self.state
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeGcpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
