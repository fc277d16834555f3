"""The phase1-sg gateway exactly as the offline plan renders it (its ConfigMap: config.yaml, hook and
rules), run as two real LiteLLM proxies sharing one real Redis, as two gateway replicas do.

Only addresses change: every deployment's api_base points at a fake on 127.0.0.1 (the commercial
one too, which the production config leaves at the provider's own API), and the Redis URL at a
local redis-server. Everything else, including cooldowns and the auto model, is as planned.
"""
from __future__ import annotations

import importlib.util
import secrets
import shutil
import subprocess
import time

import pytest
import yaml

if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("litellm") is None:
    pytest.skip("needs litellm[proxy]: scripts/setup.sh --test", allow_module_level=True)
if shutil.which("redis-server") is None:
    pytest.skip("needs redis-server: scripts/setup.sh --test", allow_module_level=True)

from strait.render.litellm import CONFIG_FILE, REDIS_URL_ENV  # noqa: E402
from tests.gateway.fakes import FakeUpstream, free_port  # noqa: E402
from tests.gateway.proxy import Proxy, served_by  # noqa: E402


@pytest.fixture(scope="module")
def redis():
    port, password = free_port(), secrets.token_hex(16)
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--requirepass", password,
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    yield port, password
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def planned_files(planned) -> dict[str, str]:
    plan = planned["phase1-sg"]
    assert plan.proc.returncode == 0, plan.proc.stderr
    cms = [m for _, m in plan.manifests() if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "litellm-config"]
    assert len(cms) == 1
    return dict(cms[0]["data"])


@pytest.fixture(scope="module")
def fakes():
    f = {"self-hosted": FakeUpstream("qwen32b"), "commercial": FakeUpstream("anthropic")}
    yield f
    for x in f.values():
        x.close()


@pytest.fixture(scope="module")
def replicas(planned_files, redis, fakes):
    cfg = yaml.safe_load(planned_files[CONFIG_FILE])
    env = {}
    for d in cfg["model_list"]:
        fake = fakes[d["model_name"]]
        p = d["litellm_params"]
        p["api_base"] = f"{fake.base}/v1" if p["model"].startswith("hosted_vllm/") else fake.base
        env[p["api_key"].split("/", 1)[1]] = secrets.token_hex(16)
    port, password = redis
    rs = cfg["router_settings"]
    assert rs["redis_url"] == f"os.environ/{REDIS_URL_ENV}"  # the config stays as planned; only the env differs
    env.update({REDIS_URL_ENV: f"redis://:{password}@127.0.0.1:{port}", "LITELLM_MASTER_KEY": "sk-" + secrets.token_hex(24)})
    files = {**planned_files, CONFIG_FILE: yaml.safe_dump(cfg)}
    procs = [Proxy.from_files(files, env) for _ in range(2)]
    try:
        for p in procs:
            p.start()
        yield procs
    finally:
        for p in procs:
            p.cleanup()


def test_the_planned_config_serves_both_tiers_and_the_auto_model(replicas, fakes):
    a, _ = replicas
    assert served_by(a.chat("self-hosted")) == "qwen32b"
    assert served_by(a.chat("commercial")) == "anthropic"
    assert served_by(a.chat("auto", "What time zone is Singapore in?")) == "qwen32b"
    assert served_by(a.chat("auto", "Derive the closed form of the Fibonacci numbers step by step.")) == "anthropic"


def test_a_cooldown_one_replica_records_is_honoured_by_the_other(replicas, fakes):
    a, b = replicas
    fakes["self-hosted"].reset("fail")
    assert served_by(a.chat("self-hosted")) == "anthropic"
    assert len(fakes["self-hosted"].hits) == 1
    for proxy in (b, a, b):
        assert served_by(proxy.chat("self-hosted")) == "anthropic"
    assert len(fakes["self-hosted"].hits) == 1, "replica b must skip the tier replica a found failing"
