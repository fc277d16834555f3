"""Gateway overhead and failover, measured on the real LiteLLM proxy (1.109.1) with the config and
hook Strait renders, in front of fake upstreams on 127.0.0.1 (tests/gateway/fakes.py).

    .venv/bin/python benchmarks/gateway.py [--requests N] [--outage-seconds S] [--capacity]

1. Proxy-added latency: p50/p95 of a chat completion through the proxy vs straight to the fake
   upstream, at 1, 16 and 64 concurrent clients (N requests per level).
2. Failover, for an upstream that is killed (port closed: connection refused) and one that starts
   hanging (a reclaimed spot node: packets go nowhere), under 16 concurrent clients:
   time from the failure to the first successful answer from the fallback tier, requests lost
   (target 0), and p95 during the outage vs before it (target <= 2x once the cooldown engaged,
   i.e. excluding the first attempt's timeout window).
3. Capacity (--capacity runs only this): requests per second one LiteLLM worker serves at
   saturation (closed loop, 32 clients), the figure strait/catalog/data/gateway_capacity.yaml
   records; the gateway sizing it gives phase1-sg (workers, req/s per replica at the HPA's CPU
   target, HPA maximum); and p50/p95 latency the proxy adds at that per-replica rate (open loop).
4. Every tier hanging: time until the client's answer, without and with a request deadline.
Everything is bounded: fixed request counts, fixed outage duration. Prints figures; exit 1 when a
target is missed. On a 2-core machine the client, the proxy and the fakes share the cores, so the
absolute numbers are an upper bound of what the proxy adds.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
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


async def open_loop(url: str, headers: dict, model: str, rate: float, seconds: float) -> list[float]:
    """Requests sent at a fixed rate whatever the answers do (what a replica sees at steady load)."""
    lat: list[float] = []
    async with session(256) as client:
        async def one() -> None:
            t = time.perf_counter()
            async with client.post(url, headers=headers, json={"model": model, **BODY}) as r:
                r.raise_for_status()
                await r.read()
            lat.append(time.perf_counter() - t)
        tasks, t0 = [], time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return lat


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (Linux /proc), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(d.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)  # ppid, utime + stime
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, (pp, _) in stats.items() if pp == parent and p not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return sum(stats[p][1] for p in tree if p in stats)


async def measure_capacity(proxy: Proxy, fakes: FakeProcs, n: int, clients: int = 32) -> None:
    from strait.config.sections import GatewayConfig
    from strait.gateway.capacity import WorkerCapacity, gateway_scaling, load_worker_capacity

    auth = {"Authorization": f"Bearer {proxy.master_key}"}
    url = f"{proxy.base}/v1/chat/completions"
    await load(url, auth, FAST, 100, 8)  # warm up
    t, cpu0 = time.perf_counter(), cpu_seconds(proxy.proc.pid)
    await load(url, auth, FAST, n, clients)
    wall, cpu = time.perf_counter() - t, cpu_seconds(proxy.proc.pid) - cpu0
    # A worker is one Python process, so at saturation it uses one core: requests per CPU-second of
    # the proxy is its req/s on a core of its own, whatever else shares this machine.
    rps = n / cpu
    recorded = load_worker_capacity()
    print(f"3. Capacity: one LiteLLM worker used {cpu:.1f} CPU-s for {n} requests ({clients} clients): {rps:.0f} req/s "
          f"per core, i.e. at saturation. Wall clock: {n / wall:.0f} req/s, {100 * cpu / wall:.0f}% of a core "
          f"(the load generator, the fakes and other work share this machine's {os.cpu_count()} cores)")
    print(f"   recorded in strait/catalog/data/gateway_capacity.yaml: {recorded.requests_per_second:g} req/s, "
          f"measured {recorded.measured_on}")
    import yaml as _yaml
    raw = _yaml.safe_load((ROOT / "stacks" / "Pulumi.phase1-sg.yaml").read_text())["config"]["strait:gateway"]
    gw = GatewayConfig(**raw)
    s = gateway_scaling(gw, WorkerCapacity(requests_per_second=rps, litellm_version=recorded.litellm_version,
                                           measured_on=recorded.measured_on, source="this run", machine="this machine"))
    print(f"   phase1-sg sizing from this run: cpu_request {gw.cpu_request}, {s.workers_per_replica} worker(s) per replica, "
          f"{s.requests_per_second_per_replica:.0f} req/s per replica at {s.target_cpu_utilization_percent}% CPU; "
          f"peak {gw.peak_requests_per_second:g} req/s -> HPA {s.min_replicas}..{s.max_replicas} replicas")
    rate, seconds = s.requests_per_second_per_replica, 10.0
    direct = await open_loop(f"{fakes.ns.fast.base}/v1/chat/completions", {}, "small", rate, seconds)
    via = await open_loop(url, auth, FAST, rate, seconds)
    d50, d95, p50, p95 = (1000 * pct(direct, 50), 1000 * pct(direct, 95), 1000 * pct(via, 50), 1000 * pct(via, 95))
    print(f"   at {rate:.0f} req/s (one replica at the HPA target), open loop, {len(via)} requests: through the proxy "
          f"p50 {p50:.1f} ms, p95 {p95:.1f} ms; added by the proxy p50 {p50 - d50:.1f} ms, p95 {p95 - d95:.1f} ms")


async def every_tier_hanging(fakes: FakeProcs) -> None:
    """Worst case: every upstream accepts and never answers. Fast tier 1.5 s, the others 5 s; the
    last resort (commercial) retries a timeout once."""
    print("\n4. Every tier hanging (fast tier timeout 1.5 s, smart and commercial 5 s, commercial retries once)")
    for name in NAMES:
        fakes.mode(name, "hang")
    try:
        for deadline in (None, 6.0):
            spec = four_tier_spec(fakes.ns, fast_timeout=1.5, fast_max_parallel=None, request_deadline_seconds=deadline)
            proxy = Proxy.for_spec(spec).start()
            try:
                async with session(1) as client:
                    t = time.perf_counter()
                    async with client.post(f"{proxy.base}/v1/chat/completions", timeout=aiohttp.ClientTimeout(total=120),
                                           headers={"Authorization": f"Bearer {proxy.master_key}"},
                                           json={"model": FAST, **BODY}) as r:
                        status = r.status
                        await r.read()
                    took = time.perf_counter() - t
                label = f"deadline {deadline:g} s" if deadline else "no deadline"
                print(f"   {label:<14}: HTTP {status} after {took:.1f} s")
            finally:
                proxy.cleanup()
    finally:
        for name in NAMES:
            fakes.mode(name, "ok")


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400, help="requests per concurrency level (default 400)")
    ap.add_argument("--outage-seconds", type=float, default=6.0, help="outage length in each failover run (default 6)")
    ap.add_argument("--capacity", action="store_true", help="only measure req/s per worker and the sizing (section 3)")
    args = ap.parse_args()
    fakes = FakeProcs()
    timeout_s, cooldown = 1.5, 30
    spec = four_tier_spec(fakes.ns, cooldown_seconds=cooldown, fast_timeout=timeout_s, fast_max_parallel=None)
    t = time.perf_counter()
    proxy = Proxy.for_spec(spec).start()
    print(f"LiteLLM proxy ready in {time.perf_counter() - t:.1f} s (tiers: {', '.join(sorted(spec.tiers))})\n")
    ok = True
    try:
        if args.capacity:
            await measure_capacity(proxy, fakes, max(args.requests, 2000))
            return 0
        await overhead(proxy, fakes, args.requests)
        print(f"\n2. Failover, 16 clients on {FAST} (fallback {SMART}), allowed_fails 0, cooldown {cooldown} s")
        ok &= await failover(proxy, fakes, "killed", args.outage_seconds, timeout_s)
        # a fresh proxy, so the first run's cooldown does not hide the second failure
        proxy.cleanup()
        proxy = Proxy.for_spec(spec).start()
        ok &= await failover(proxy, fakes, "hanging", args.outage_seconds, timeout_s)
        print()
        await measure_capacity(proxy, fakes, max(args.requests, 2000))
        await every_tier_hanging(fakes)
    finally:
        proxy.cleanup()
        fakes.close()
    print("\ntargets (0 lost, p95 during outage <= 2x normal):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
