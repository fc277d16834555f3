"""Loopback stand-ins for vLLM replicas and the real router binary, for tests/router.

A fake replica answers what the router asks of a vLLM server (``/health``, ``/v1/models``, ``/metrics``,
``/v1/chat/completions``, ``/v1/completions``) and tags every completion with its own name, so a test sees
which replica served each request. Everything binds 127.0.0.1 on free ports; every wait is bounded.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROUTER_BIN = ROOT / ".venv" / "bin" / "vllm-router"
MODEL = "qwen7b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class FakeReplica:
    name: str
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    """Any loopback address (127.0.0.0/8): discovered pods share one port, so they differ by address."""
    served: list[dict] = field(default_factory=list)
    """One entry per completion: the session and Authorization headers it arrived with, its max_tokens and
    kv_transfer_params."""
    kv_role: str | None = None
    """"prefill": answer like vLLM's NixlConnector on a prefill server, with kv_transfer_params naming where the
    KV blocks wait (P/D tests). Default: an ordinary replica."""

    def start(self) -> "FakeReplica":
        replica = self
        self._conns: set[socket.socket] = set()
        self._dead = False

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def setup(self):
                super().setup()
                replica._conns.add(self.connection)

            def finish(self):
                replica._conns.discard(self.connection)
                super().finish()

            def _send(self, code: int, body: bytes, ctype: str = "application/json"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/health":
                    self._send(200, b"")
                elif self.path == "/v1/models":
                    self._send(200, json.dumps({"object": "list", "data": [
                        {"id": MODEL, "object": "model", "owned_by": "vllm"}]}).encode())
                elif self.path == "/metrics":
                    body = (f'vllm:num_requests_waiting{{model_name="{MODEL}"}} 0\n'
                            f'vllm:num_requests_running{{model_name="{MODEL}"}} 0\n').encode()
                    self._send(200, body, "text/plain; version=0.0.4")
                else:
                    self._send(404, b"{}")

            def do_POST(self):
                if replica._dead:  # a request racing the kill gets a reset, as from a killed pod
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                req = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/tokenize":
                    # vLLM's /tokenize, which cache_aware calls to key its prefix tree: one token per character
                    # of the prompt (a chat's messages in order), enough for a prefix to be a prefix.
                    text = req.get("prompt") or "".join(f"<{m['role']}>{m['content']}" for m in req.get("messages", []))
                    tokens = [ord(c) for c in text]
                    self._send(200, json.dumps({"count": len(tokens), "max_model_len": 32768, "tokens": tokens,
                                                "token_strs": None}).encode())
                    return
                if self.path not in ("/v1/chat/completions", "/v1/completions"):
                    self._send(404, b"{}")
                    return
                replica.served.append({"session": self.headers.get("x-session-id"),
                                       "authorization": self.headers.get("Authorization"),
                                       "max_tokens": req.get("max_tokens"),
                                       "kv_transfer_params": req.get("kv_transfer_params")})
                text = f"served-by:{replica.name}"
                handle = req.get("kv_transfer_params") or {}
                if handle.get("remote_engine_id"):  # a decode after a remote prefill: say whose KV it used
                    text += f" prefilled-by:{handle['remote_engine_id']}"
                if self.path == "/v1/chat/completions":
                    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    obj = "chat.completion"
                else:
                    choice = {"index": 0, "text": text, "finish_reason": "stop"}
                    obj = "text_completion"
                resp = {"id": "cmpl-1", "object": obj, "created": 0, "model": req.get("model"), "choices": [choice],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
                if replica.kv_role == "prefill":
                    resp["kv_transfer_params"] = {"do_remote_prefill": True, "do_remote_decode": False,
                                                  "remote_engine_id": f"engine-{replica.name}",
                                                  "remote_block_ids": [1, 2, 3], "remote_host": replica.host,
                                                  "remote_port": 5600}
                self._send(200, json.dumps(resp).encode())

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Dies like a killed pod: the listening socket closes (new connections are refused) and every open
        keep-alive connection is reset, so nothing more is served."""
        self._dead = True
        self._server.shutdown()
        self._server.server_close()
        for conn in list(self._conns):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None,
         timeout: float = 10.0) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
        return 0, str(e)


class RouterProcess:
    """The real vllm-router binary, started with a rendered argv, on loopback."""

    def __init__(self, argv: list[str], port: int, log: Path, env: dict[str, str] | None = None):
        self.argv, self.port, self.log, self.extra_env = argv, port, log, env or {}

    def __enter__(self) -> "RouterProcess":
        self._log = open(self.log, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        self.proc = subprocess.Popen([str(ROUTER_BIN), *self.argv], stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**env, "RUST_LOG": "warn", **self.extra_env})
        return self

    def wait_ready(self, timeout_seconds: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"router exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            code, _ = http("GET", f"http://127.0.0.1:{self.port}/health", timeout=2)
            if code == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"router not healthy within {timeout_seconds}s:\n{self.log.read_text()[-3000:]}")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()
