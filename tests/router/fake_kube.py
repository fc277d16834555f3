"""A fake Kubernetes API server on loopback: just enough of ``/api/v1/namespaces/{ns}/pods`` (list, and watch as
a chunked stream of events) for the router's service discovery (kube-rs watcher), and a record of every request,
so a test sees exactly what the router asks of the API server (and so what its Role must allow)."""
from __future__ import annotations

import json
import queue
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.router.fakes import free_port


def pod(name: str, ip: str, labels: dict[str, str], *, ready: bool = True, deleting: bool = False) -> dict:
    meta: dict = {"name": name, "namespace": "strait-serving", "uid": f"uid-{name}", "labels": labels}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": [{"name": "vllm"}]},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


class FakeKubeApi:
    def __init__(self, namespace: str):
        self.namespace, self.port = namespace, free_port()
        self.pods: dict[str, dict] = {}
        self.rv = 1
        self.requests: list[tuple[str, str]] = []
        self._watchers: list[queue.Queue] = []
        self._lock = threading.Lock()
        self._stopping = False

    def put(self, p: dict, event: str = "MODIFIED") -> None:
        """Create or change a pod; every open watch sees the event."""
        with self._lock:
            self.rv += 1
            p = json.loads(json.dumps(p))
            p["metadata"]["resourceVersion"] = str(self.rv)
            self.pods[p["metadata"]["name"]] = p
            for q in self._watchers:
                q.put({"type": event, "object": p})

    def kubeconfig(self, directory: Path) -> Path:
        path = directory / "kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "router", "user": {"token": "not-a-secret"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "router",
                                                      "namespace": self.namespace}}]}))
        return path

    def start(self) -> "FakeKubeApi":
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _json(self, code: int, obj: dict) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(url.query)
                api.requests.append(("GET", url.path))
                if url.path != f"/api/v1/namespaces/{api.namespace}/pods":
                    self._json(403, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
                                     "code": 403, "message": f"forbidden: {url.path}"})
                    return
                if q.get("watch", ["false"])[0] not in ("true", "1"):
                    with api._lock:
                        items = list(api.pods.values())
                        rv = str(api.rv)
                    self._json(200, {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": rv},
                                     "items": items})
                    return
                events: queue.Queue = queue.Queue()
                with api._lock:
                    api._watchers.append(events)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                deadline = time.monotonic() + float(q.get("timeoutSeconds", ["60"])[0])
                try:
                    while not api._stopping and time.monotonic() < deadline:
                        try:
                            ev = events.get(timeout=0.2)
                        except queue.Empty:
                            continue
                        line = json.dumps(ev).encode() + b"\n"
                        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with api._lock:
                        api._watchers.remove(events)

            def do_POST(self):
                api.requests.append(("POST", self.path))
                self._json(403, {"kind": "Status", "code": 403, "reason": "Forbidden"})

            do_PUT = do_PATCH = do_DELETE = do_POST

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping = True
        self._server.shutdown()
        self._server.server_close()
