"""Planner mechanics: bytes per token, MLA, kv_heads < TP, pipeline splits, dtype, throughput."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from strait import sizing
from strait.catalog import load_catalog

CAT = load_catalog()


def arch(layers=32, kv_heads=8, head_dim=128, hidden=4096, mla=None, ctx=131072):
    return SimpleNamespace(num_layers=layers, num_kv_heads=kv_heads, head_dim=head_dim, hidden_size=hidden,
                           native_context=ctx, mla=mla)


@pytest.mark.parametrize("kw, expected", [
    ({}, 2 * 32 * 8 * 128 * 2),                                   # Llama-3.1-8B bf16: 128 KiB
    ({"kv_cache_dtype": "fp8"}, 32 * 8 * 128 * 2),                # fp8 halves it
    ({"dtype_bytes": 4}, 2 * 32 * 8 * 128 * 4),                   # --dtype float32, kv auto
    ({"tp": 4}, 2 * 32 * 2 * 128 * 2),                            # heads shard over TP
    ({"tp": 16}, 2 * 32 * 1 * 128 * 2),                           # kv_heads < TP: one head per rank, replicated
    ({"pp": 2}, 2 * 16 * 8 * 128 * 2),
])
def test_bytes_per_token(kw, expected):
    assert sizing.kv_bytes_per_token(arch(), **kw) == expected


def test_mla_is_neither_doubled_nor_sharded():
    a = arch(layers=27, mla=SimpleNamespace(kv_lora_rank=512, qk_rope_head_dim=64))
    assert sizing.kv_bytes_per_token(a, tp=1) == sizing.kv_bytes_per_token(a, tp=8) == 27 * 576 * 2


@pytest.mark.parametrize("layers, pp, split", [(27, 2, [14, 13]), (27, 4, [7, 7, 7, 6]), (80, 3, [27, 27, 26]),
                                               (64, 4, [16, 16, 16, 16])])
def test_uneven_pipeline_split(layers, pp, split):
    assert sizing.stage_layers(layers, pp) == split


def test_pipeline_tokens_are_the_minimum_over_stages():
    p = sizing.plan_kv(arch(layers=27, mla=SimpleNamespace(kv_lora_rank=512, qk_rope_head_dim=64), hidden=2048),
                       29.256, 22.49, tp=2, pp=2, vocab_size=102400, cuda_graph_gib=0)
    assert len(p.stages) == 2 and p.kv_tokens == min(s.kv_tokens for s in p.stages)
    assert p.stages[0].layers == 14 and p.kv_tokens == p.stages[0].kv_tokens


def test_fp8_kv_doubles_tokens_from_the_same_pool():
    a = CAT.models["llama-3.1-8b-instruct"]
    auto = sizing.plan_kv(a, 14.958, 79.11, gpu_name="H100-80GB")
    fp8 = sizing.plan_kv(a, 14.958, 79.11, gpu_name="H100-80GB", kv_cache_dtype="fp8")
    assert fp8.available_kv_gib == auto.available_kv_gib
    assert fp8.kv_tokens == pytest.approx(2 * auto.kv_tokens, abs=16)


def test_weights_that_do_not_fit_and_sequences_that_do_not():
    a, t4 = CAT.models["qwen2.5-32b-instruct"], CAT.gpus["T4"]
    assert not sizing.plan_kv(a, a.variants["awq"].weights_gib, t4.memory_gib, tp=1).weights_fit
    p = sizing.plan_kv(a, a.variants["awq"].weights_gib, t4.memory_gib, tp=4, max_model_len=16384, max_num_seqs=32,
                       gpu_name="T4")
    assert p.weights_fit and p.one_sequence_fits
    assert p.full_length_sequences == p.kv_tokens // 16384 < 32 and not p.all_sequences_fit
    assert not sizing.plan_kv(a, a.variants["awq"].weights_gib, t4.memory_gib, tp=4, max_model_len=131072).one_sequence_fits


def test_block_rounding():
    p = sizing.plan_kv(arch(), 14.958, 79.11, block_size=32)
    assert p.kv_tokens % 32 == 0


def test_unknown_kv_dtype_is_an_error():
    with pytest.raises(ValueError, match="unknown kv_cache_dtype"):
        sizing.kv_bytes_per_token(arch(), kv_cache_dtype="int3")


def test_decode_throughput_is_bandwidth_bound():
    a, t4 = CAT.models["qwen2.5-32b-instruct"], CAT.gpus["T4"]
    p = sizing.plan_kv(a, a.variants["awq"].weights_gib, t4.memory_gib, tp=4, max_model_len=16384, max_num_seqs=32)
    slow = sizing.decode_throughput(p, memory_bandwidth_gbps=t4.memory_bandwidth_gbps)
    fast = sizing.decode_throughput(p, memory_bandwidth_gbps=2 * t4.memory_bandwidth_gbps)
    assert fast.tokens_per_second == pytest.approx(2 * slow.tokens_per_second)
    assert slow.batch == 32
    # one step reads the weights shard plus every running sequence's KV
    assert slow.bytes_per_step_per_gpu == pytest.approx(p.weights_gib * sizing.GIB + 32 * 2048 * p.bytes_per_token)
    longer = sizing.decode_throughput(p, memory_bandwidth_gbps=t4.memory_bandwidth_gbps, avg_context_tokens=16384)
    assert longer.batch == p.kv_tokens // 16384 and longer.tokens_per_second < slow.tokens_per_second
