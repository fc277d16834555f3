"""Small fake LLM upstreams the gateway tests and benchmark control, on 127.0.0.1 only.

One ``FakeUpstream`` speaks the OpenAI chat-completions API (vLLM, OpenAI, DeepSeek) and the
Anthropic messages API, each answer naming the upstream so a test sees who served it. Its
``mode`` makes it answer, fail (500), drop the connection without an answer (reset), hang,
rate-limit (429) or be down (socket closed: connection refused). A stream can be cut (connection
dropped) or stall (no more chunks) after its first chunk. Requests over ``context_window`` tokens (4 chars a token) get vLLM's 400.
"""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Hit:
    path: str
    model: str
    auth: str
    stream: bool
    at: float


@dataclass
class FakeUpstream:
    name: str
    port: int = field(default_factory=free_port)
    mode: str = "ok"  # ok | fail | reset | hang | 429 | down | cut | stall (cut and stall: streams only)
    hang_seconds: float = 30.0
    delay_seconds: float = 0.0
    context_window: int | None = None
    retry_after_seconds: int | None = None
    """With mode 429: the Retry-After header the upstream sends. Default: none."""
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name=f"fake-{self.name}")
        self._thread.start()
        self._runner: web.AppRunner | None = None
        self.start()

    # --- control -------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def start(self) -> None:
        if self._runner is None:
            self._call(self._start())
        self.mode = "ok" if self.mode == "down" else self.mode

    def stop(self) -> None:
        """Close the listening socket: new connections are refused, like a dead pod's port."""
        if self._runner is not None:
            self._call(self._runner.cleanup())
            self._runner = None
        self.mode = "down"

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def reset(self, mode: str = "ok") -> None:
        if mode != "down":
            self.start()
        self.mode = mode
        self.hits.clear()

    def served(self, since: float = 0.0) -> int:
        return sum(1 for h in self.hits if h.at >= since)

    # --- server --------------------------------------------------------------------------
    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_get("/v1/models", self._models)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self._runner = runner

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.name, "object": "model"}]})

    async def _gate(self, request: web.Request, body: dict) -> web.Response | None:
        self.hits.append(Hit(path=request.path, model=str(body.get("model")), stream=bool(body.get("stream")),
                             auth=request.headers.get("authorization") or request.headers.get("x-api-key") or "",
                             at=time.monotonic()))
        if self.mode == "fail":
            return web.json_response({"error": {"message": "engine dead", "type": "internal_error"}}, status=500)
        if self.mode == "reset":  # a pod killed mid-request: the connection drops, no HTTP answer
            request.transport.close()
            return web.Response(status=500)
        if self.mode == "429":
            headers = {"Retry-After": str(self.retry_after_seconds)} if self.retry_after_seconds is not None else None
            return web.json_response({"error": {"message": "rate limited", "type": "rate_limit_error"}}, status=429,
                                     headers=headers)
        if self.mode == "hang":
            await asyncio.sleep(self.hang_seconds)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.context_window is not None:
            chars = sum(len(m.get("content") or "") for m in body.get("messages", []) if isinstance(m.get("content"), str))
            tokens = chars // 4 + int(body.get("max_tokens") or 0)
            if tokens > self.context_window:
                # vLLM's wording; LiteLLM maps "maximum context length" to ContextWindowExceededError.
                msg = (f"This model's maximum context length is {self.context_window} tokens. However, you requested "
                       f"{tokens} tokens. Please reduce the length of the messages or completion.")
                return web.json_response({"object": "error", "message": msg, "type": "BadRequestError", "code": 400},
                                         status=400)
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        early = await self._gate(request, body)
        if early is not None:
            return early
        text = f"served-by:{self.name}"
        created, rid = int(time.time()), f"chatcmpl-{self.name}-{len(self.hits)}"
        if body.get("stream"):
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            for i, piece in enumerate(["served-by:", self.name, ""]):
                if i == 1 and self.mode == "cut":  # the pod dies mid-answer: the connection drops after one chunk
                    request.transport.close()
                    return resp
                if i == 1 and self.mode == "stall":  # the engine stops producing tokens after one chunk
                    await asyncio.sleep(self.hang_seconds)
                chunk = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": body.get("model"),
                         "choices": [{"index": 0, "delta": ({"role": "assistant", "content": piece} if piece else {}),
                                      "finish_reason": None if piece else "stop"}]}
                await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            return resp
        return web.json_response({
            "id": rid, "object": "chat.completion", "created": created, "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        })

    async def _anthropic(self, request: web.Request) -> web.Response:
        body = await request.json()
        early = await self._gate(request, body)
        if early is not None:
            return early
        return web.json_response({
            "id": f"msg_{self.name}_{len(self.hits)}", "type": "message", "role": "assistant", "model": body.get("model"),
            "content": [{"type": "text", "text": f"served-by:{self.name}"}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 3},
        })
