"""SGLang's own memory accounting: --mem-fraction-static covers weights and the KV pool together."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from strait import sizing
from strait.catalog import load_catalog

CAT = load_catalog()
CASES = yaml.safe_load((Path(__file__).parents[1] / "data" / "sglang_kv_cases.yaml").read_text())["cases"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_published_sglang_case(name):
    c = CASES[name]
    arch = CAT.models["qwen2.5-72b-instruct"]  # any arch: the case is about the budget, not the cell size
    gpu = CAT.gpus[c["gpu"]]
    plan = lambda f: sizing.plan_kv_sglang(  # noqa: E731
        arch, 0, gpu.memory_gib, mem_fraction_static=f, tp=c["tp"], gpu_name=c["gpu"],
        weights_per_gpu_gib=c["weights_per_gpu_gib"])
    # The planner's memory before the weights is within 0.5% of what the log implies.
    before = plan(0.5).requested_gib / 0.5
    assert before == pytest.approx(c["pre_model_load_gib"], rel=0.005)
    # Where SGLang refused to start, the planner finds no KV room; at SGLang's minimum it finds ~none.
    assert not plan(c["fails_at_fraction"]).weights_fit
    assert abs(plan(c["min_viable_fraction"]).available_kv_gib) < 0.5


def test_sglang_pool_is_fraction_times_memory_minus_weights():
    arch = CAT.models["llama-3.1-8b-instruct"]
    gpu = CAT.gpus["H100-80GB"] if "H100-80GB" in CAT.gpus else next(iter(CAT.gpus.values()))
    w = arch.variants["bf16"].weights_gib
    p = sizing.plan_kv_sglang(arch, w, gpu.memory_gib, mem_fraction_static=0.8, context_length=8192)
    assert p.available_kv_gib == pytest.approx((gpu.memory_gib - sizing.SGLANG_CONTEXT_GIB) * 0.8 - w)
    assert p.bytes_per_token == 2 * 32 * 8 * 128 * 2  # same cell as vLLM: K and V, 8 KV heads, bf16
    assert p.kv_tokens == int(p.available_kv_gib * sizing.GIB // p.bytes_per_token)
    # A higher fraction means a larger pool: the opposite of the activation margin it leaves.
    assert sizing.plan_kv_sglang(arch, w, gpu.memory_gib, mem_fraction_static=0.9).kv_tokens > p.kv_tokens


def test_plan_server_dispatches_by_engine():
    arch = CAT.models["qwen2.5-32b-instruct"]
    w, mem = arch.variants["awq"].weights_gib, CAT.gpus["T4"].memory_gib
    vl = sizing.plan_server("vllm", arch, w, mem, memory_fraction=0.9, tp=4, max_model_len=16384, gpu_name="T4")
    sg = sizing.plan_server("sglang", arch, w, mem, memory_fraction=0.9, tp=4, max_model_len=16384, gpu_name="T4")
    assert vl.activation_gib > 0 and sg.activation_gib == 0
    assert sg.kv_tokens != vl.kv_tokens
    with pytest.raises(ValueError, match="mem_fraction_static"):
        sizing.plan_kv_sglang(arch, w, mem, mem_fraction_static=1.2)
