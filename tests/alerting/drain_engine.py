"""A fake model server with vLLM's shutdown semantics, run as its own process so the test sends it a real SIGTERM.

    python drain_engine.py NAME PORT SHUTDOWN_TIMEOUT_SECONDS STATS_FILE

It serves OpenAI chat completions (streamed: ``CHUNKS`` tokens, ``CHUNK_SECONDS`` apart, like a decode) and
``/health``. On SIGTERM, as ``vllm serve --shutdown-timeout N`` does (vllm/entrypoints/launchers/launcher.py:
the engine drains, mode "drain", before the HTTP server stops; N = 0 is mode "abort"):

- readiness fails (``/health`` answers 503) and the listening socket closes: new connections are refused;
- a new request on a connection that was already open is refused too (the connection is closed unanswered);
- requests in flight run to completion for up to N seconds; whatever is left then is aborted (its connection
  dropped mid-stream), and the process exits.

On exit it writes what happened to STATS_FILE (JSON): in flight at SIGTERM, completed during the drain, aborted,
refused, and how long the drain took.
"""
from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

from aiohttp import web

CHUNKS = 8
CHUNK_SECONDS = 0.15


class Engine:
    def __init__(self, name: str, port: int, shutdown_timeout: int, stats_file: str):
        self.name, self.port, self.timeout, self.stats_file = name, port, shutdown_timeout, stats_file
        self.draining = False
        self.in_flight: dict[asyncio.Task, web.Request] = {}
        self.stats = {"name": name, "shutdown_timeout": shutdown_timeout, "served": 0, "in_flight_at_sigterm": 0,
                      "completed_during_drain": 0, "aborted": 0, "refused": 0, "drain_seconds": None}
        self.done = asyncio.Event()

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=503 if self.draining else 200)

    async def inflight(self, request: web.Request) -> web.Response:
        """How many requests are being answered now (the test sends SIGTERM while some are)."""
        return web.json_response({"in_flight": len(self.in_flight)})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        if self.draining:  # not accepting new work: drop the connection unanswered
            self.stats["refused"] += 1
            request.transport.close()
            return web.Response(status=503)
        task = asyncio.current_task()
        self.in_flight[task] = request
        try:
            body = await request.json()
            created, rid = int(time.time()), f"chatcmpl-{self.name}-{self.stats['served']}"
            tokens = [f"{self.name}-tok{i} " for i in range(CHUNKS)]

            def chunk(content, finish=None):
                return {"id": rid, "object": "chat.completion.chunk", "created": created, "model": body.get("model"),
                        "choices": [{"index": 0, "delta": {"role": "assistant", "content": content} if content else {},
                                     "finish_reason": finish}]}

            if not body.get("stream"):
                await asyncio.sleep(CHUNK_SECONDS * CHUNKS)
                resp = web.json_response({
                    "id": rid, "object": "chat.completion", "created": created, "model": body.get("model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(tokens)},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": CHUNKS, "total_tokens": 5 + CHUNKS}})
            else:
                resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await resp.prepare(request)
                for t in tokens:
                    await asyncio.sleep(CHUNK_SECONDS)
                    await resp.write(f"data: {json.dumps(chunk(t))}\n\n".encode())
                await resp.write(f"data: {json.dumps(chunk(None, 'stop'))}\n\n".encode())
                await resp.write(b"data: [DONE]\n\n")
                await resp.write_eof()
            self.stats["served"] += 1
            if self.draining:
                self.stats["completed_during_drain"] += 1
            return resp
        finally:
            self.in_flight.pop(task, None)

    async def drain(self, runner: web.AppRunner, site: web.TCPSite) -> None:
        started = time.monotonic()
        self.draining = True
        self.stats["in_flight_at_sigterm"] = len(self.in_flight)
        await site.stop()  # the listening socket closes: new connections are refused
        deadline = started + self.timeout
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self.stats["aborted"] = len(self.in_flight)
        for task, request in list(self.in_flight.items()):  # the timeout ran out (or was 0: abort): cut the rest
            if request.transport is not None:
                request.transport.close()
            task.cancel()
        await asyncio.sleep(0.05)
        self.stats["drain_seconds"] = round(time.monotonic() - started, 3)
        with open(self.stats_file, "w") as f:
            json.dump(self.stats, f)
        self.done.set()

    async def main(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/health", self.health)
        app.router.add_get("/inflight", self.inflight)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(self.drain(runner, site)))
        print("ready", flush=True)
        await self.done.wait()


if __name__ == "__main__":
    name, port, timeout, stats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    asyncio.run(Engine(name, port, timeout, stats).main())
