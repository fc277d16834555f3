"""Every rendered `vllm serve` argv parses with vLLM 0.33.0's own parser (.venv-vllm, CPU torch).

The judge (strait/judges/vllm_argcheck.py) runs vLLM's serve parser, its serve-arg validation and
EngineArgs.from_cli_args; it is set up by scripts/setup-judges.sh.
"""
import json
import subprocess

import pytest

from strait.render.vllm import VllmSpec, render_vllm_args
from tests.conftest import ROOT, STACKS

JUDGE_PY = ROOT / ".venv-vllm" / "bin" / "python"
JUDGE = ROOT / "strait" / "judges" / "vllm_argcheck.py"


def judge(items: list[dict]) -> dict[str, dict]:
    if not JUDGE_PY.exists():
        pytest.fail("the vLLM judge venv is missing; run scripts/setup.sh --test")
    proc = subprocess.run([str(JUDGE_PY), str(JUDGE)], input=json.dumps(items), capture_output=True, text=True,
                          timeout=600, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["id"]: r for r in json.loads(proc.stdout)}


def _rendered_argvs(planned) -> list[dict]:
    items = []
    for stack in STACKS:
        for path, m in planned[stack].manifests():
            if m["kind"] != "Deployment":
                continue
            for c in m["spec"]["template"]["spec"]["containers"]:
                if c.get("command") == ["vllm", "serve"]:
                    items.append({"id": f"{stack}/{path.name}/{c['name']}", "engine": "vllm", "argv": c["args"]})
    return items


VARIANTS = {
    "tp1-bf16": VllmSpec(model="s3://b/m", served_model_name="m", max_model_len=8192),
    "tp8-fp8kv-awq": VllmSpec(model="s3://b/m", served_model_name="m", max_model_len=131072, tensor_parallel_size=8,
                              kv_cache_dtype="fp8", quantization="awq", max_num_seqs=256, gpu_memory_utilization=0.95),
    "no-prefix-cache-hub": VllmSpec(model="Qwen/Qwen2.5-7B-Instruct", served_model_name="q", max_model_len=4096,
                                    enable_prefix_caching=False, load_format=None, shutdown_timeout_seconds=0),
}


def test_every_planned_and_variant_argv_parses(planned):
    items = _rendered_argvs(planned)
    assert items, "no vLLM Deployment in any planned stack"
    items += [{"id": k, "engine": "vllm", "argv": render_vllm_args(v)} for k, v in VARIANTS.items()]
    results = judge(items)
    bad = {k: r["error"] for k, r in results.items() if not r["ok"]}
    assert bad == {}
    q = results["tp8-fp8kv-awq"]["parsed"]
    assert q["max_model_len"] == 131072 and q["tensor_parallel_size"] == 8 and q["kv_cache_dtype"] == "fp8"
    assert results["no-prefix-cache-hub"]["parsed"]["enable_prefix_caching"] is False


def test_the_judge_rejects_flags_that_no_longer_exist():
    base = render_vllm_args(VARIANTS["tp1-bf16"])
    bad = {"swap-space": ["--swap-space", "4"], "speculative-model": ["--speculative-model", "x"],
           "num-scheduler-steps": ["--num-scheduler-steps", "8"], "quantization-gguf": ["--quantization", "gguf"]}
    results = judge([{"id": k, "engine": "vllm", "argv": base + v} for k, v in bad.items()])
    assert {k: r["ok"] for k, r in results.items()} == {k: False for k in bad}
