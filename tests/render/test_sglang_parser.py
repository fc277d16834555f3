"""Every rendered `sglang serve` argv is accepted by SGLang 0.5.23's own `prepare_server_args`
(.venv-vllm; the judge runs it in a child process), and its parser names are in SGLang's registries."""
from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import pytest

from strait.catalog import load_catalog
from strait.engines import ServingFeatures, resolve_features
from strait.render.sglang import (SECRET_DIR, SECRET_FILE, SglangSpec, parse_sglang_command, render_sglang_args,
                                  render_sglang_command, secret_config)
from tests.conftest import STACKS
from tests.engines.registries import registry
from tests.render.test_vllm_parser import judge as _judge

#: The API key's --config file is a Secret mounted in the pod; the judge reads a stand-in with a test key.
_STAND_IN = Path(tempfile.mkdtemp(prefix="strait-sglang-")) / SECRET_FILE
_STAND_IN.write_text(secret_config('judge key: "x" #1'))


def judge(items: list[dict]) -> dict[str, dict]:
    mounted = f"{SECRET_DIR}/{SECRET_FILE}"
    return _judge([{**it, "argv": [str(_STAND_IN) if a == mounted else a for a in it["argv"]]} for it in items])

CAT = load_catalog()
VARIANTS = {
    "tp1": SglangSpec(model_path="s3://b/models/Qwen/Qwen2.5-7B-Instruct/main", served_model_name="q", context_length=8192),
    "tp8-fp8kv-awq-nochunk": SglangSpec(model_path="gs://b/m", served_model_name="m", context_length=131072, tp_size=8,
                                        kv_cache_dtype="fp8", quantization="awq", chunked_prefill_size=-1,
                                        enable_radix_cache=False, mem_fraction_static=0.9, max_running_requests=256),
    "local-no-key": SglangSpec(model_path="/models/q", served_model_name="q", context_length=4096, load_format=None,
                               secret_config_path=None, chunked_prefill_size=4096),
}
for _key, _arch in sorted(CAT.models.items()):
    _f = resolve_features(_arch, "sglang", tool_calling=None, reasoning=None)
    if _f != ServingFeatures():
        VARIANTS[f"catalog-{_key}"] = SglangSpec(model_path="s3://b/m", served_model_name=_key, context_length=8192,
                                                 **dataclasses.asdict(_f))


def _planned_sglang(planned) -> list[dict]:
    items = []
    for stack in STACKS:
        for path, m in planned[stack].manifests():
            if m["kind"] != "Deployment":
                continue
            for c in m["spec"]["template"]["spec"]["containers"]:
                if c.get("command") == ["sglang", "serve"]:
                    items.append({"id": f"{stack}/{path.name}/{c['name']}", "engine": "sglang", "argv": c["args"]})
    return items


def test_every_planned_and_variant_argv_is_accepted_by_sglang(planned):
    items = _planned_sglang(planned)
    items += [{"id": k, "engine": "sglang", "argv": render_sglang_args(v)} for k, v in VARIANTS.items()]
    results = judge(items)
    assert {k: r["error"] for k, r in results.items() if not r["ok"]} == {}
    p = results["tp8-fp8kv-awq-nochunk"]["parsed"]
    assert (p["tp_size"], p["context_length"], p["kv_cache_dtype"], p["mem_fraction_static"]) == (8, 131072, "fp8_e4m3", 0.9)
    assert p["disable_radix_cache"] is True and p["enable_metrics"] is True and p["host"] == "0.0.0.0"
    assert results["tp1"]["parsed"]["api_key_present"] and not results["local-no-key"]["parsed"]["api_key_present"]
    # SGLang takes any string for the parser names at parse time and fails at startup: check its registries.
    for it in items:
        _, flags = parse_sglang_command(["sglang", "serve", *it["argv"]])
        if "tool-call-parser" in flags:
            assert flags["tool-call-parser"] in registry("sglang", "tool"), it["id"]
        if "reasoning-parser" in flags:
            assert flags["reasoning-parser"] in registry("sglang", "reasoning"), it["id"]


def test_the_judge_rejects_what_sglang_rejects():
    base = render_sglang_args(VARIANTS["tp1"])
    bad = {"tp-abbreviation": ["--tp", "2"], "vllm-kv-dtype": ["--kv-cache-dtype", "fp8"],
           "vllm-flag": ["--max-model-len", "4096"], "bad-fraction": ["--mem-fraction-static", "lots"]}
    results = judge([{"id": k, "engine": "sglang", "argv": base + v} for k, v in bad.items()])
    assert {k: r["ok"] for k, r in results.items()} == {k: False for k in bad}


def test_render_parse_round_trip():
    spec = VARIANTS["tp8-fp8kv-awq-nochunk"]
    model, flags = parse_sglang_command(render_sglang_command(spec))
    assert model == "gs://b/m" and flags["tp-size"] == "8" and flags["context-length"] == "131072"
    assert flags["disable-radix-cache"] == "true" and flags["config"] == f"{SECRET_DIR}/{SECRET_FILE}"
    assert "api-key" not in flags
    assert parse_sglang_command(["vllm", "serve", "m"]) is None
    assert parse_sglang_command(["python", "-m", "sglang.launch_server", "--model-path", "x"])[0] == "x"


@pytest.mark.parametrize("spec", list(VARIANTS.values()), ids=list(VARIANTS))
def test_no_secret_and_no_duplicate_flag(spec):
    args = render_sglang_args(spec)
    flags = [a for a in args if a.startswith("--")]
    assert len(flags) == len(set(flags))
    assert "--api-key" not in args  # a key on the command line shows in the pod spec and in ps
    import yaml

    for key in ("abc123", 'with: "quotes" # and a hash', "ünï"):
        assert yaml.safe_load(secret_config(key)) == {"api-key": key}


def test_golden_argv():
    from tests.helpers import check_golden

    spec = SglangSpec(model_path="s3://strait-engines-jkt-weights/models/casperhansen/deepseek-r1-distill-qwen-14b-awq/main",
                      served_model_name="reasoner", context_length=16384, max_running_requests=3,
                      reasoning_parser="deepseek-r1")
    check_golden(Path(__file__).parent / "golden", "sglang-reasoner.args.json",
                 json.dumps(render_sglang_args(spec), indent=1) + "\n")
