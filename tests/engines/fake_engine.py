"""A fake OpenAI-compatible model server whose tool-call behaviour follows the argv Strait renders.

It answers like the pinned engine started with that argv:

* vLLM (``OpenAIServingChat``): a request carrying ``tools`` with ``tool_choice`` "auto" (the default
  when tools are given) is refused with vLLM's own 400 unless the argv has both
  ``--enable-auto-tool-choice`` and ``--tool-call-parser``; "required" or a named tool needs the parser.
  The messages are vLLM 0.33.0's (``vllm/renderers/online_renderer.py``), which
  tests/engines/test_registries.py finds in the installed wheel.
* With a parser, a request with tools gets an assistant message whose ``tool_calls`` call the first
  tool (the shape the parser produces), ``finish_reason`` "tool_calls".
* ``--served-model-name`` and, for LoRA, every ``--lora-modules name=path`` are the model names it
  accepts (404 otherwise, like vLLM); the Bearer key must match.

Every request is recorded, so a test sees exactly what the gateway forwarded.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web

from tests.gateway.fakes import free_port

VLLM_AUTO_TOOL_ERROR = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
VLLM_NAMED_TOOL_ERROR = "tool_choice={} requires --tool-call-parser to be set"


def _flags(argv: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            vals = []
            while i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                vals.append(argv[i + 1])
                i += 1
            out[a[2:]] = vals
        i += 1
    return out


@dataclass
class FakeEngine:
    argv: list[str]
    """The rendered args after ``vllm serve`` (model positional first)."""
    api_key: str
    port: int = field(default_factory=free_port)
    requests: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        f = _flags(self.argv)
        self.tool_parser = (f.get("tool-call-parser") or [None])[0]
        self.auto_tools = "enable-auto-tool-choice" in f
        self.models = set(f.get("served-model-name", []))
        self.models |= {m.split("=", 1)[0] for m in f.get("lora-modules", [])}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    @staticmethod
    def _error(status: int, message: str, etype: str) -> web.Response:
        return web.json_response({"error": {"message": message, "type": etype, "param": None, "code": status}},
                                 status=status)

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._error(401, "Unauthorized", "Unauthorized")
        if body.get("model") not in self.models:
            return self._error(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError")
        tools = body.get("tools") or []
        choice = body.get("tool_choice", "auto" if tools else "none")
        if tools and choice not in (None, "none") and self.tool_parser is None:
            if choice == "auto" and not self.auto_tools:
                return self._error(400, VLLM_AUTO_TOOL_ERROR, "BadRequestError")
            if choice != "auto":
                desc = f'function "{choice["function"]["name"]}"' if isinstance(choice, dict) else f'"{choice}"'
                return self._error(400, VLLM_NAMED_TOOL_ERROR.format(desc), "BadRequestError")
        created = int(time.time())
        if tools and choice != "none":
            fn = tools[0]["function"]
            if isinstance(choice, dict):
                fn = next(t["function"] for t in tools if t["function"]["name"] == choice["function"]["name"])
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": f"chatcmpl-tool-{len(self.requests)}", "type": "function",
                "function": {"name": fn["name"], "arguments": json.dumps({"city": "Singapore"})}}]}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": f"served-by:{body['model']}"}
            finish = "stop"
        return web.json_response({
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": created,
            "model": body["model"], "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}})
