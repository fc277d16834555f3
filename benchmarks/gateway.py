"""Gateway overhead and failover, measured on the real LiteLLM proxy (1.109.1) with the config and
hook Strait renders, in front of fake upstreams on 127.0.0.1 (tests/gateway/fakes.py).

    .venv/bin/python benchmarks/gateway.py [--requests N] [--outage-seconds S]

1. Proxy-added latency: p50/p95 of a chat completion through the proxy vs straight to the fake
   upstream, at 1, 16 and 64 concurrent clients (N requests per level).
2. Failover, for an upstream that is killed (port closed: connection refused) and one that starts
   hanging (a reclaimed spot node: packets go nowhere), under 16 concurrent clients:
   time from the failure to the first successful answer from the fallback tier, requests lost
   (target 0), and p95 during the outage vs before it (target <= 2x once the cooldown engaged,
   i.e. excluding the first attempt's timeout window).
Everything is bounded: fixed request counts, fixed outage duration. Prints figures; exit 1 when a
target is missed. On a 2-core machine the client, the proxy and the fakes share the cores, so the
absolute numbers are an upper bound of what the proxy adds.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.gateway.fakes import FakeUpstream, free_port  # noqa: E402
from tests.gateway.proxy import FAST, SMART, Proxy, four_tier_spec  # noqa: E402

NAMES = ("fast", "smart", "long", "openai", "anthropic", "deepseek")


def _serve(name: str, port: int, conn) -> None:
    """A fake in its own process (no GIL shared with the load generator); obeys mode commands."""
    fake = FakeUpstream(name, port=port)
    conn.send("ready")
    while True:
        mode = conn.recv()
        fake.hang_seconds = 60
        fake.reset(mode)
        conn.send("ok")


class FakeProcs:
    """The six fakes of the test spec, one process each; ``kill`` is a real SIGKILL."""

    def __init__(self) -> None:
        self.procs, self.conns, ports = {}, {}, {}
        for name in NAMES:
            ports[name] = free_port()
            parent, child = mp.Pipe()
            proc = mp.Process(target=_serve, args=(name, ports[name], child), daemon=True)
            proc.start()
            assert parent.recv() == "ready"
            self.procs[name], self.conns[name] = proc, parent
        self.ports = ports
        self.ns = SimpleNamespace(**{n: SimpleNamespace(base=f"http://127.0.0.1:{p}") for n, p in ports.items()})

    def mode(self, name: str, mode: str) -> None:
        self.conns[name].send(mode)
        assert self.conns[name].recv() == "ok"

    def kill(self, name: str) -> None:
        self.procs[name].kill()
        self.procs[name].join()

    def restart(self, name: str) -> None:
        parent, child = mp.Pipe()
        proc = mp.Process(target=_serve, args=(name, self.ports[name], child), daemon=True)
        proc.start()
        assert parent.recv() == "ready"
        self.procs[name], self.conns[name] = proc, parent

    def close(self) -> None:
        for p in self.procs.values():
            p.kill()
            p.join()

BODY = {"messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 16}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def session(concurrency: int) -> aiohttp.ClientSession:
    # aiohttp, not httpx: httpx's async pool alone adds ~300 ms p50 at 64 clients on this machine.
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency),
                                 timeout=aiohttp.ClientTimeout(total=30))


async def load(url: str, headers: dict, model: str, n: int, concurrency: int) -> list[float]:
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    async with session(concurrency) as client:
        async def one() -> None:
            async with sem:
                t = time.perf_counter()
                async with client.post(url, headers=headers, json={"model": model, **BODY}) as r:
                    r.raise_for_status()
                    await r.read()
                lat.append(time.perf_counter() - t)
        await asyncio.gather(*(one() for _ in range(n)))
    return lat


async def overhead(proxy: Proxy, fakes: FakeProcs, n: int) -> None:
    print("1. Proxy-added latency (ms), chat completion, non-streamed")
    print(f"   {'clients':>7}  {'direct p50':>10} {'p95':>7}  {'proxy p50':>9} {'p95':>7}  {'added p50':>9} {'p95':>7}")
    auth = {"Authorization": f"Bearer {proxy.master_key}"}
    await load(f"{proxy.base}/v1/chat/completions", auth, FAST, 20, 4)  # warm up connections and caches
    for c in (1, 16, 64):
        direct = await load(f"{fakes.ns.fast.base}/v1/chat/completions", {}, "small", n, c)
        via = await load(f"{proxy.base}/v1/chat/completions", auth, FAST, n, c)
        d50, d95, p50, p95 = (1000 * pct(direct, 50), 1000 * pct(direct, 95), 1000 * pct(via, 50), 1000 * pct(via, 95))
        print(f"   {c:>7}  {d50:>10.1f} {d95:>7.1f}  {p50:>9.1f} {p95:>7.1f}  {p50 - d50:>9.1f} {p95 - d95:>7.1f}")


async def failover(proxy: Proxy, fakes: FakeProcs, how: str, outage_s: float, timeout_s: float, clients: int = 16) -> bool:
    """Steady load on the fast tier; the fast upstream fails `how` at t=2 s for outage_s seconds."""
    auth = {"Authorization": f"Bearer {proxy.master_key}"}
    await load(f"{proxy.base}/v1/chat/completions", auth, FAST, 50, 8)  # warm up
    results: list[tuple[float, float, int, str]] = []  # (sent, latency, status, served_by)
    stop_at = 2.0 + outage_s
    t0 = time.perf_counter()
    async with session(clients) as client:
        async def worker() -> None:
            while (sent := time.perf_counter() - t0) < stop_at:
                try:
                    async with client.post(f"{proxy.base}/v1/chat/completions", headers=auth,
                                           json={"model": FAST, **BODY}) as r:
                        body = await r.json() if r.status == 200 else {}
                        status = r.status
                    who = body["choices"][0]["message"]["content"].split(":", 1)[1] if status == 200 else ""
                    results.append((sent, time.perf_counter() - t0 - sent, status, who))
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    results.append((sent, time.perf_counter() - t0 - sent, 0, ""))

        async def breaker() -> float:
            await asyncio.sleep(2.0)
            if how == "killed":
                fakes.kill("fast")  # SIGKILL: the port closes, connections are refused
            else:
                fakes.mode("fast", "hang")  # accepts, never answers: a node that vanished mid-request
            return time.perf_counter() - t0

        failed_at, *_ = await asyncio.gather(breaker(), *(worker() for _ in range(clients)))
    before = [lat for sent, lat, st, _ in results if sent + lat < failed_at and st == 200]  # done before it
    during = [(sent, lat, st, who) for sent, lat, st, who in results if sent >= failed_at]
    lost = sum(1 for r in results if r[2] != 200)
    fallback_done = sorted(sent + lat for sent, lat, st, who in results if st == 200 and who == "smart")
    first_ok = fallback_done[0] - failed_at if fallback_done else float("nan")
    # once the cooldown engaged: requests sent after the first fallback answer came back
    engaged = [lat for sent, lat, st, _ in during if fallback_done and sent >= fallback_done[0] and st == 200]
    ratio = pct(engaged, 95) / pct(before, 95) if engaged and before else float("nan")
    print(f"   upstream {how:<7}: {len(results)} requests, lost {lost}; first fallback answer "
          f"{1000 * first_ok:.0f} ms after the failure; p95 before {1000 * pct(before, 95):.1f} ms, "
          f"during outage (cooldown engaged) {1000 * pct(engaged, 95):.1f} ms = {ratio:.2f}x; "
          f"max during outage {1000 * max(lat for _, lat, _, _ in during):.0f} ms (tier timeout {1000 * timeout_s:.0f} ms)")
    if how == "killed":
        fakes.restart("fast")
    else:
        fakes.mode("fast", "ok")
    return lost == 0 and ratio <= 2.0


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400, help="requests per concurrency level (default 400)")
    ap.add_argument("--outage-seconds", type=float, default=6.0, help="outage length in each failover run (default 6)")
    args = ap.parse_args()
    fakes = FakeProcs()
    timeout_s, cooldown = 1.5, 30
    spec = four_tier_spec(fakes.ns, cooldown_seconds=cooldown, fast_timeout=timeout_s, fast_max_parallel=None)
    t = time.perf_counter()
    proxy = Proxy.for_spec(spec).start()
    print(f"LiteLLM proxy ready in {time.perf_counter() - t:.1f} s (tiers: {', '.join(sorted(spec.tiers))})\n")
    ok = True
    try:
        await overhead(proxy, fakes, args.requests)
        print(f"\n2. Failover, 16 clients on {FAST} (fallback {SMART}), allowed_fails 0, cooldown {cooldown} s")
        ok &= await failover(proxy, fakes, "killed", args.outage_seconds, timeout_s)
        # a fresh proxy, so the first run's cooldown does not hide the second failure
        proxy.cleanup()
        proxy = Proxy.for_spec(spec).start()
        ok &= await failover(proxy, fakes, "hanging", args.outage_seconds, timeout_s)
    finally:
        proxy.cleanup()
        fakes.close()
    print("\ntargets (0 lost, p95 during outage <= 2x normal):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
