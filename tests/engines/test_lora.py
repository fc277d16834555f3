"""Multi-LoRA: typed adapters -> vLLM flags (vLLM's parser and its own LoRAConfig), the gateway exposing each
adapter as a model routed to its base model's servers (the real LiteLLM proxy), LoRA memory in the planner and
the memory policy, and the seeder copying an adapter into the cache (moto)."""
from __future__ import annotations

import copy
import json
import secrets
import subprocess
from pathlib import Path

import pytest

from strait import sizing
from strait.catalog import load_catalog
from strait.config import ConfigError, validate_stack
from strait.engines import extra_gpu_gib, lora_settings, vllm_spec
from strait.gateway.spec import gateway_spec
from strait.render.vllm import VllmSpec, render_vllm_args
from tests.conftest import ROOT, load_stack_raw
from tests.render.test_vllm_parser import JUDGE, JUDGE_PY, judge

CAT = load_catalog()
KEYS = {"anthropic_api_key", "openai_api_key", "deepseek_api_key"}
REV = "0123456789abcdef0123456789abcdef01234567"
ADAPTERS = {"sql-helper": {"hf_repo": "acme/qwen32b-sql-lora", "revision": REV, "rank": 16},
            "support-bot": {"hf_repo": "acme/qwen32b-support-lora", "revision": REV, "rank": 64}}


def stack(**model_fields) -> dict:
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["models"]["qwen32b"].update(model_fields)
    return raw


def cfg_with_adapters(**extra):
    """phase1-sg with adapters on its model, validated like any stack."""
    return validate_stack(stack(adapters=copy.deepcopy(ADAPTERS), **extra), "phase1-sg", secrets_set=KEYS)


def test_the_config_accepts_adapters_and_vllm_spec_renders_them():
    m = cfg_with_adapters().models["qwen32b"].model_copy(update={"max_num_seqs": 4})
    spec = vllm_spec("qwen32b", m, CAT, "s3://b/m")
    assert spec.lora_modules == (("sql-helper", "/adapters/sql-helper"), ("support-bot", "/adapters/support-bot"))
    assert (spec.max_loras, spec.max_lora_rank, spec.max_cpu_loras) == (2, 64, 2)


def spec_for(m) -> VllmSpec:
    return VllmSpec(model="s3://b/models/Qwen/Qwen2.5-32B-Instruct-AWQ/main", served_model_name="qwen32b",
                    max_model_len=m.max_model_len, tensor_parallel_size=m.tensor_parallel_size, **lora_settings(m))


def test_adapters_render_vllms_lora_flags():
    m = cfg_with_adapters().models["qwen32b"]
    args = render_vllm_args(spec_for(m))
    i = args.index("--enable-lora")
    assert args[i:] == ["--enable-lora", "--max-loras", "2", "--max-lora-rank", "64", "--max-cpu-loras", "2",
                        "--lora-modules", "sql-helper=/adapters/sql-helper", "support-bot=/adapters/support-bot"]
    assert "--enable-lora" not in render_vllm_args(spec_for(validate_stack(stack(), "phase1-sg", secrets_set=KEYS)
                                                                   .models["qwen32b"]))


def test_vllms_parser_and_its_own_lora_config_accept_them():
    m = cfg_with_adapters(max_loras=1).models["qwen32b"]
    argv = render_vllm_args(spec_for(m))
    bad = argv[:argv.index("--max-lora-rank") + 1] + ["24"] + argv[argv.index("--max-lora-rank") + 2:]
    results = judge([{"id": "lora", "engine": "vllm", "argv": argv}, {"id": "bad-rank", "engine": "vllm", "argv": bad}])
    assert results["lora"]["ok"], results["lora"]["error"]
    assert not results["bad-rank"]["ok"] and "invalid choice: 24" in results["bad-rank"]["error"]
    built = vllm_configs([{"id": "lora", "argv": argv},
                          {"id": "cpu-below-gpu", "argv": [*argv[:argv.index("--max-cpu-loras") + 1], "0",
                                                            *argv[argv.index("--max-cpu-loras") + 2:]]}])
    assert built["lora"]["error"] is None
    assert built["lora"]["lora"] == {"max_loras": 1, "max_lora_rank": 64, "max_cpu_loras": 2, "modules": {
        "sql-helper": "/adapters/sql-helper", "support-bot": "/adapters/support-bot"}}


def vllm_configs(items: list[dict]) -> dict[str, dict]:
    proc = subprocess.run([str(JUDGE_PY), str(ROOT / "tests" / "engines" / "vllm_configs.py"), str(JUDGE)],
                          input=json.dumps(items), capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["id"]: r for r in json.loads(proc.stdout)}


@pytest.mark.parametrize("fields,expected", [
    (dict(adapters={"x": {"hf_repo": "a/b", "revision": "main", "rank": 8}}),
     "strait:models.qwen32b.adapters.x.revision = 'main': string should match pattern '^[0-9a-f]{40}$'"),
    (dict(engine="sglang", adapters=ADAPTERS),
     'strait:models.qwen32b.adapters = ["sql-helper", "support-bot"]: LoRA adapters are served by vLLM here, not '
     'sglang. Fix: set engine: vllm for this model, or remove its adapters.'),
    (dict(adapters={"self-hosted": ADAPTERS["sql-helper"]}),
     "strait:models.qwen32b.adapters.self-hosted = 'self-hosted': clients would send this model name for two things "
     "(a model, a tier, the auto model or another adapter). Fix: give the adapter a name of its own."),
    (dict(max_loras=2), "strait:models.qwen32b.max_loras = 2: set without adapters. Fix: remove max_loras, or list "
     "adapters."),
])
def test_bad_adapters(fields, expected):
    with pytest.raises(ConfigError) as exc:
        validate_stack(stack(**copy.deepcopy(fields)), "phase1-sg", secrets_set=KEYS)
    assert any(line.startswith(f"  - {expected}") for line in exc.value.render().splitlines()), exc.value.render()


def test_an_adapters_cache_key_must_fit_its_seeding_jobs_name():
    """Names are at most 30 characters each; a 30-character model with a 30-character adapter does not fit."""
    from strait.engines import check_adapters

    cfg = cfg_with_adapters()
    m = cfg.models["qwen32b"].model_copy(update={"adapters": {"s" * 30: cfg.models["qwen32b"].adapters["sql-helper"]}})
    (issue,) = check_adapters("models." + "m" * 30, "m" * 30, m, cfg)
    assert issue.path == f"models.{'m' * 30}.adapters.{'s' * 30}" and "longer than 58 characters" in issue.problem
    assert check_adapters("models." + "m" * 22, "m" * 22, m, cfg) == []  # 22 + 6 + 30 = 58


def test_lora_memory_is_planned():
    cfg = cfg_with_adapters()
    m, arch = cfg.models["qwen32b"], CAT.models["qwen2.5-32b-instruct"]
    lora = extra_gpu_gib(m, arch)
    # 2 slots x rank 64 x (in+out of qkv, o, gate_up, down) x 64 layers x 2 B / TP 4
    inter = sizing.intermediate_size_estimate(arch)
    dims = (5120 + 5120 + 2048) + (5120 + 5120) + (5120 + 2 * inter) + (inter + 5120)
    assert lora == pytest.approx(2 * 64 * dims * 64 * 2 / 4 / sizing.GIB)
    assert abs(inter - 27648) / 27648 < 0.01  # Qwen2.5-32B's real intermediate_size
    w, mem = arch.variants["awq"].weights_gib, CAT.gpus["T4"].memory_gib
    base = sizing.plan_kv(arch, w, mem, tp=4, max_model_len=16384, gpu_name="T4")
    with_lora = sizing.plan_kv(arch, w, mem, tp=4, max_model_len=16384, gpu_name="T4", extra_gib=lora)
    assert base.available_kv_gib - with_lora.available_kv_gib == pytest.approx(lora)


def test_the_memory_policy_counts_lora_slots():
    import datetime as dt

    from policies import views as v
    from policies.rules import Ctx, plan_for
    from tests.policies.builders import deployment

    m = cfg_with_adapters().models["qwen32b"]
    srv = v.vllm_server(deployment(args=render_vllm_args(spec_for(m))))
    assert (srv.max_loras, srv.max_lora_rank) == (2, 64)
    ctx = Ctx(catalog=CAT, today=dt.date(2026, 11, 30))
    plan, arch, *_ = plan_for(srv, ctx)
    no_lora, *_ = plan_for(v.vllm_server(deployment(args=render_vllm_args(spec_for(
        validate_stack(stack(), "phase1-sg", secrets_set=KEYS).models["qwen32b"])))), ctx)
    assert no_lora.available_kv_gib - plan.available_kv_gib == pytest.approx(srv.lora_gpu_gib(arch))


def test_the_gateway_exposes_each_adapter_on_its_base_models_servers():
    cfg = cfg_with_adapters()
    models = {k: m.model_copy(update={"max_num_seqs": 6}) for k, m in cfg.models.items()}
    spec = gateway_spec(cfg.gateway, models, {"qwen32b": "http://qwen32b.strait-serving.svc.cluster.local:8000/v1"})
    for name in ADAPTERS:
        (ep,) = spec.tiers[name].self_hosted
        assert ep.served_model_name == name and ep.api_key_env == "VLLM_API_KEY_QWEN32B"
        assert ep.api_base.startswith("http://qwen32b.") and spec.tiers[name].fallbacks == ()


def test_adapter_requests_reach_the_base_server_with_the_adapter_as_model():
    """The real LiteLLM proxy, with the files Strait renders, in front of a fake vLLM started with the adapters."""
    import importlib.util

    if importlib.util.find_spec("litellm") is None:
        pytest.skip("needs litellm[proxy]")
    import openai

    from strait.render.litellm import MASTER_KEY_ENV, render_gateway_files
    from tests.engines.fake_engine import FakeEngine
    from tests.gateway.proxy import Proxy

    cfg = cfg_with_adapters()
    m = cfg.models["qwen32b"]
    key = "k-" + secrets.token_hex(8)
    base = FakeEngine(render_vllm_args(spec_for(m)), key)
    models = {k: mm.model_copy(update={"max_num_seqs": 6}) for k, mm in cfg.models.items()}
    spec = gateway_spec(cfg.gateway, models, {"qwen32b": f"{base.base}/v1"})
    spec = type(spec)(**{**spec.__dict__, "tiers": {k: t for k, t in spec.tiers.items() if k != "commercial"} | {
        "commercial": spec.tiers["commercial"]}})
    env = {MASTER_KEY_ENV: "sk-" + secrets.token_hex(24), "VLLM_API_KEY_QWEN32B": key,
           "ANTHROPIC_API_KEY": "unused-" + secrets.token_hex(4)}
    proxy = Proxy.from_files(render_gateway_files(spec), env).start()
    try:
        client = openai.OpenAI(base_url=f"{proxy.base}/v1", api_key=proxy.master_key, max_retries=0)
        for name in ADAPTERS:
            r = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
            assert r.choices[0].message.content == f"served-by:{name}"
        r = client.chat.completions.create(model="self-hosted", messages=[{"role": "user", "content": "hi"}])
        assert r.choices[0].message.content == "served-by:qwen32b"
        assert [b["model"] for b in base.requests] == ["sql-helper", "support-bot", "qwen32b"]
    finally:
        proxy.cleanup()
        base.close()


def test_the_seeder_copies_an_adapter_into_the_cache(tmp_path, monkeypatch):
    import boto3
    from moto import mock_aws

    from strait import seeding

    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(k, "testing")
    files = {"adapter_config.json": json.dumps({"r": 16, "peft_type": "LORA"}).encode(),
             "adapter_model.safetensors": b"\0" * 2048, "README.md": b"card"}
    calls = []

    def download(repo: str, revision: str, dest: Path) -> Path:
        calls.append((repo, revision))
        for rel, data in files.items():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(data)
        return dest

    a = ADAPTERS["sql-helper"]
    prefix = f"models/{a['hf_repo']}/{a['revision']}"
    with mock_aws():
        s3 = boto3.client("s3", region_name="ap-southeast-1")
        s3.create_bucket(Bucket="strait-lora-test", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"})
        first = seeding.seed(s3, "strait-lora-test", prefix, a["hf_repo"], a["revision"], tmp_path / "1", download)
        again = seeding.seed(s3, "strait-lora-test", prefix, a["hf_repo"], a["revision"], tmp_path / "2", download)
        stored = {o["Key"] for o in s3.list_objects_v2(Bucket="strait-lora-test")["Contents"]}
    assert first["status"] == "seeded" and again["status"] == "already-seeded" and calls == [(a["hf_repo"], REV)]
    assert stored == {f"{prefix}/{k}" for k in [*files, seeding.COMPLETE_MARKER]}
