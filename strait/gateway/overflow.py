"""Queue-aware overflow: read the self-hosted engines' real waiting queue, cached for about a second.

The gateway pod runs this exact file (shipped in the gateway's ConfigMap as ``strait_overflow.py``
beside ``strait_hook.py``, which imports it). Standard library plus ``httpx`` (a LiteLLM dependency,
so it is in the LiteLLM image); nothing from Strait.

How it works (docs/gateway.md, "Overflow"):
- a background task per gateway worker polls every watched model server's own ``/metrics`` every
  ``refresh_seconds`` (default 1 s), each GET bounded by ``timeout_seconds`` (default 0.5 s), all in
  parallel. A request never waits for a poll: the pre-call hook only reads the cached value.
- the waiting queue is ``vllm:num_requests_waiting`` (vLLM) or ``sglang:num_queue_reqs`` (SGLang),
  summed over the samples of one scrape (one per served model name).
- a value older than ``stale_after_seconds`` (default 5 s), or a scrape that failed, is *unknown*,
  and unknown never overflows: a broken or slow ``/metrics`` keeps traffic on the self-hosted tier,
  where the static ``max_parallel_requests`` cap still overflows it if it really is full. Sending every
  request to a paid API because a metrics endpoint hiccuped would be the expensive failure.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

#: The engines' waiting-queue gauges (vLLM 0.33.0 vllm/v1/metrics/loggers.py; SGLang 0.5.23
#: python/sglang/srt/metrics/collector.py; some SGLang releases emit the underscore spelling,
#: sgl-project/sglang#12618).
QUEUE_METRICS = ("vllm:num_requests_waiting", "sglang:num_queue_reqs", "sglang_num_queue_reqs")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
log = logging.getLogger("strait.gateway.overflow")


def queue_depth(text: str) -> Optional[float]:
    """Waiting requests in one Prometheus text exposition: the sum of every queue-gauge sample, or
    None when the exposition has none (not an engine, or metrics off)."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        m = _SAMPLE.match(line)
        if m and m.group(1) in QUEUE_METRICS:
            try:
                v = float(m.group(3))
            except ValueError:
                continue
            if math.isfinite(v):
                total, seen = total + v, True
    return total if seen else None


@dataclass(frozen=True)
class OverflowRule:
    """One self-hosted tier that overflows: when the mean waiting queue per replica of its model
    servers is deeper than ``queue_depth``, new requests for it go to ``to``."""

    to: str
    queue_depth: float
    metrics_urls: Tuple[str, ...]
    key_envs: Mapping[str, str] = field(default_factory=dict)
    """metrics URL -> env var holding the engine's API key, sent as a Bearer token. vLLM 0.33.0 leaves /metrics
    open (its auth guards /v1 and a few prefixes); some SGLang releases guard every path but /health."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "OverflowRule":
        return cls(to=str(d["to"]), queue_depth=float(d["queue_depth"]), metrics_urls=tuple(d["metrics_urls"]),
                   key_envs=dict(d.get("metrics_key_envs") or {}))


@dataclass(frozen=True)
class WatchSettings:
    refresh_seconds: float = 1.0
    timeout_seconds: float = 0.5
    stale_after_seconds: float = 5.0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "WatchSettings":
        return cls(**{k: float(d[k]) for k in ("refresh_seconds", "timeout_seconds", "stale_after_seconds") if k in d})


@dataclass
class _Reading:
    depth: Optional[float] = None
    at: float = -math.inf  # monotonic time of the last successful read


@dataclass
class QueueWatcher:
    """Polls ``/metrics`` URLs in the background and answers, from cache, whether a tier overflows."""

    rules: Mapping[str, OverflowRule]
    settings: WatchSettings = field(default_factory=WatchSettings)
    readings: Dict[str, _Reading] = field(default_factory=dict)
    _task: Optional["asyncio.Task[None]"] = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "QueueWatcher":
        return cls(rules={t: OverflowRule.from_dict(r) for t, r in (d.get("tiers") or {}).items()},
                   settings=WatchSettings.from_dict(d))

    def urls(self) -> List[str]:
        return sorted({u for r in self.rules.values() for u in r.metrics_urls})

    def ensure_started(self) -> None:
        """Start the poller on the running event loop (the proxy's), once. Called from the hook."""
        if self.rules and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run(), name="strait-queue-watcher")

    async def _run(self) -> None:
        import httpx  # in the LiteLLM image; imported here so the pure parts need only the standard library

        timeout = httpx.Timeout(self.settings.timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            while True:
                started = time.monotonic()
                await self.poll(client)
                await asyncio.sleep(max(0.05, self.settings.refresh_seconds - (time.monotonic() - started)))

    def _headers(self, url: str) -> Dict[str, str]:
        env = next((r.key_envs[url] for r in self.rules.values() if url in r.key_envs), None)
        key = os.environ.get(env) if env else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def poll(self, client: Any) -> None:
        """One scrape of every URL, in parallel, each bounded by the client's timeout (and by
        asyncio.wait_for, in case a server trickles bytes slower than the read timeout notices)."""
        async def one(url: str) -> None:
            try:
                resp = await asyncio.wait_for(client.get(url, headers=self._headers(url)),
                                              self.settings.timeout_seconds * 2)
                depth = queue_depth(resp.text) if resp.status_code == 200 else None
            except Exception as exc:  # noqa: BLE001 - any failure is "unknown", never a stalled request
                log.debug("queue metrics from %s unreadable: %s", url, type(exc).__name__)
                depth = None
            if depth is not None:
                self.readings[url] = _Reading(depth=depth, at=time.monotonic())
        await asyncio.gather(*(one(u) for u in self.urls()))

    def depth(self, tier: str, now: Optional[float] = None) -> Optional[float]:
        """Mean waiting queue over the tier's model servers, from fresh readings only; None if none is fresh."""
        rule = self.rules.get(tier)
        if rule is None:
            return None
        now = time.monotonic() if now is None else now
        fresh = [r.depth for r in (self.readings.get(u) for u in rule.metrics_urls)
                 if r is not None and r.depth is not None and now - r.at <= self.settings.stale_after_seconds]
        return sum(fresh) / len(fresh) if fresh else None

    def overflow_target(self, tier: str, now: Optional[float] = None) -> Tuple[Optional[str], Optional[float]]:
        """(tier to send to instead, the depth that decided it), or (None, depth) to stay."""
        depth = self.depth(tier, now)
        rule = self.rules.get(tier)
        if rule is None or depth is None or depth <= rule.queue_depth:
            return None, depth
        return rule.to, depth


def metrics_url_for(api_base: str) -> str:
    """The engine's own /metrics beside its OpenAI API: vLLM and SGLang serve both on one port."""
    base = api_base.rstrip("/")
    if base.endswith("/v1"):
        base = base[:-3]
    return base + "/metrics"

