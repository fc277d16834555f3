"""Small loopback HTTP servers the observability tests drive.

- ``FakeUpstream``: an OpenAI-compatible ``/v1/chat/completions`` (what vLLM serves) and an Anthropic
  ``/v1/messages``; each can be told to fail, so the real LiteLLM proxy falls back between tiers.
- ``FakeVllmMetrics``: a ``/metrics`` page in the Prometheus text format with vLLM 0.33's metric
  names, whose values the test sets.

Everything binds to 127.0.0.1 on a free port and stops with the test.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self):
        self.port = free_port()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep pytest output clean
                pass

            def do_GET(self):
                outer.handle(self, "GET")

            def do_POST(self):
                outer.handle(self, "POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def reply(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "application/json") -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class FakeUpstream(_Server):
    """OpenAI chat completions and Anthropic messages. ``failing=True`` answers 500."""

    def __init__(self):
        super().__init__()
        self.failing = False
        self.calls = 0

    def handle(self, h, method):
        length = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(length) or b"{}") if method == "POST" else {}
        self.calls += 1
        if self.failing:
            return self.reply(h, 500, b'{"error": {"message": "injected failure", "type": "server_error"}}')
        model = body.get("model", "m")
        if h.path.endswith("/messages"):
            out = {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                   "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": None,
                   "usage": {"input_tokens": 7, "output_tokens": 3}}
        elif h.path.endswith("/chat/completions"):
            out = {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}
        elif h.path.endswith("/models"):
            out = {"object": "list", "data": [{"id": model, "object": "model"}]}
        else:
            return self.reply(h, 404, b"{}")
        self.reply(h, 200, json.dumps(out).encode())


class FakeVllmMetrics(_Server):
    """``/metrics`` with vLLM's names; ``set_ttft(seconds, count)`` fills the TTFT histogram."""

    BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

    def __init__(self, model_name: str):
        super().__init__()
        self.model_name = model_name
        self.lock = threading.Lock()
        self.ttft_counts = [0] * (len(self.BUCKETS) + 1)
        self.ttft_sum = 0.0
        self.gauges = {"vllm:num_requests_running": 0.0, "vllm:num_requests_waiting": 0.0, "vllm:kv_cache_usage_perc": 0.0}

    def observe_ttft(self, seconds: float, n: int = 1) -> None:
        with self.lock:
            for i, b in enumerate(self.BUCKETS):
                if seconds <= b:
                    self.ttft_counts[i] += n
                    break
            else:
                self.ttft_counts[-1] += n
            self.ttft_sum += seconds * n

    def text(self) -> str:
        lab = f'engine="0",model_name="{self.model_name}"'
        lines = ["# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.",
                 "# TYPE vllm:time_to_first_token_seconds histogram"]
        with self.lock:
            cum = 0
            for b, c in zip(self.BUCKETS, self.ttft_counts):
                cum += c
                lines.append(f'vllm:time_to_first_token_seconds_bucket{{{lab},le="{b}"}} {cum}')
            cum += self.ttft_counts[-1]
            lines.append(f'vllm:time_to_first_token_seconds_bucket{{{lab},le="+Inf"}} {cum}')
            lines.append(f"vllm:time_to_first_token_seconds_count{{{lab}}} {cum}")
            lines.append(f"vllm:time_to_first_token_seconds_sum{{{lab}}} {self.ttft_sum}")
            for name, v in sorted(self.gauges.items()):
                lines += [f"# TYPE {name} gauge", f"{name}{{{lab}}} {v}"]
        return "\n".join(lines) + "\n"

    def handle(self, h, method):
        if h.path == "/metrics":
            return self.reply(h, 200, self.text().encode(), "text/plain; version=0.0.4")
        self.reply(h, 404, b"{}")
