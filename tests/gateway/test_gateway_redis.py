"""Redis (Valkey in the cluster) holds the router's shared state: cooldowns and counters that LiteLLM
also keeps in each replica's memory. When it fails, failover must cost little. Measured on the real
proxy with a real redis-server (Debian's package) that is killed (connections refused) or frozen with
SIGSTOP (connections accepted, never answered), against Strait's rendering and a control.

Strait renders one secret URL (``redis_url``) and 0.25 s socket timeouts (``cache_kwargs``). The
control is how Strait rendered it before: host, port and password, and LiteLLM's default timeouts.
In 1.109.1 that form builds a redis-py client with redis-py's own connection retries (10, with
backoff), which the router's cooldown bookkeeping calls synchronously: about 4 s per call while Redis
refuses connections, on the proxy's event loop.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import time

import pytest
import yaml

if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("litellm") is None:
    pytest.skip("needs litellm[proxy]: scripts/setup.sh --test", allow_module_level=True)
if shutil.which("redis-server") is None:
    pytest.skip("needs redis-server: scripts/setup.sh --test", allow_module_level=True)

from strait.render.litellm import CONFIG_FILE, REDIS_PASSWORD_ENV, REDIS_URL_ENV, RedisSpec, render_gateway_files  # noqa: E402
from tests.gateway.fakes import free_port  # noqa: E402
from tests.gateway.proxy import FAST, Fakes, Proxy, four_tier_spec, secret_env_for, served_by  # noqa: E402

COOLDOWN = 3


@pytest.fixture(scope="module")
def fakes():
    f = Fakes.start()
    yield f
    f.close()


def _redis() -> tuple[subprocess.Popen, int, str]:
    port, password = free_port(), secrets.token_hex(16)
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--requirepass", password,
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return proc, port, password


def _proxy(fakes, rendering: str, port: int, password: str) -> Proxy:
    spec = dataclasses.replace(four_tier_spec(fakes, cooldown_seconds=COOLDOWN), redis=RedisSpec())
    files = render_gateway_files(spec)
    env = secret_env_for(spec)
    if rendering == "strait":
        env[REDIS_URL_ENV] = f"redis://:{password}@127.0.0.1:{port}"
    else:  # the control: the host/port/password form, LiteLLM's default timeouts
        cfg = yaml.safe_load(files[CONFIG_FILE])
        rs = cfg["router_settings"]
        del rs["redis_url"], rs["cache_kwargs"]
        rs.update(redis_host="127.0.0.1", redis_port=port, redis_password=f"os.environ/{REDIS_PASSWORD_ENV}")
        files[CONFIG_FILE] = yaml.safe_dump(cfg)
        env[REDIS_PASSWORD_ENV] = password
    return Proxy.from_files(files, env).start()


def _failover_seconds(proxy: Proxy, fakes: Fakes) -> float:
    """The fast tier fails: the time until its fallback (smart) answers."""
    fakes.fast.mode = "fail"
    t = time.monotonic()
    assert served_by(proxy.chat(FAST)) == "smart"
    return time.monotonic() - t


@pytest.mark.parametrize("rendering, how, first_max, control_min", [
    ("strait", "killed", 1.0, None),
    ("strait", "frozen", 2.0, None),
    ("control", "killed", None, 3.0),
])
def test_redis_failing_costs_little_failover_time(fakes, rendering, how, first_max, control_min):
    redis, port, password = _redis()
    proxy = _proxy(fakes, rendering, port, password)
    try:
        fakes.reset()
        assert served_by(proxy.chat(FAST)) == "fast"
        up = _failover_seconds(proxy, fakes)
        fakes.reset()
        time.sleep(COOLDOWN + 0.5)
        if how == "killed":
            redis.kill()
            redis.wait(timeout=10)
        else:
            os.kill(redis.pid, signal.SIGSTOP)
        assert served_by(proxy.chat(FAST)) == "fast"  # a healthy tier is served with Redis gone
        first = _failover_seconds(proxy, fakes)
        fakes.reset()
        time.sleep(COOLDOWN + 0.5)
        second = _failover_seconds(proxy, fakes)
        print(f"{rendering} rendering, Redis {how}: failover {up:.2f} s with Redis up; "
              f"{first:.2f} s, then {second:.2f} s with Redis {how}")
        assert up < 1.0, up
        if first_max is not None:
            # Frozen: each Redis call waits out its 0.25 s timeout until LiteLLM's circuit breaker opens
            # (5 timeouts spanning REDIS_CIRCUIT_BREAKER_TIMEOUT_MIN_DURATION, 5 s); killed: refused at once.
            assert first < first_max and second < first_max, (first, second)
        else:
            assert first > control_min, first  # the control shows what the short timeouts and the URL fix
    finally:
        proxy.cleanup()
        fakes.reset()
        if redis.poll() is None:
            os.kill(redis.pid, signal.SIGCONT)
            redis.kill()
            redis.wait(timeout=10)
