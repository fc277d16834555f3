"""max_num_seqs derived from the KV planner when a stack leaves it unset (strait.sizing.max_num_seqs_that_fit)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.rules import RULES, Ctx
from strait import sizing
from strait.catalog import load_catalog
from strait.config.sections import ModelConfig

CAT = load_catalog()
QWEN = CAT.models["qwen2.5-32b-instruct"]
T4 = CAT.gpus["T4"]


def _fit(n, **kw):
    return sizing.plan_kv(QWEN, QWEN.variants["awq"].weights_gib, T4.memory_gib, gpu_name="T4", tp=4,
                          max_num_seqs=n, **kw).full_length_sequences


def test_phase1_sg_shape_gets_six():
    """The flagship shape: Qwen2.5-32B-AWQ on 4x T4 at 16,384 tokens holds 6 full-length sequences."""
    n = sizing.max_num_seqs_that_fit(QWEN, QWEN.variants["awq"].weights_gib, T4.memory_gib, gpu_name="T4", tp=4,
                                     max_model_len=16384)
    assert n == 6
    assert _fit(6, max_model_len=16384) >= 6 and _fit(7, max_model_len=16384) < 7


@settings(max_examples=40, deadline=None)
@given(mml=st.sampled_from([2048, 4096, 8192, 12288, 16384, 24576, 32768]), tp=st.sampled_from([2, 4]),
       util=st.sampled_from([0.8, 0.9, 0.95]))
def test_derived_value_is_the_largest_that_fits(mml, tp, util):
    kw = dict(gpu_name="T4", tp=tp, max_model_len=mml)
    w = QWEN.variants["awq"].weights_gib
    n = sizing.max_num_seqs_that_fit(QWEN, w, T4.memory_gib, memory_fraction=util, **kw)
    fits = lambda k: sizing.plan_kv(QWEN, w, T4.memory_gib, max_num_seqs=k, gpu_memory_utilization=util,  # noqa: E731
                                    **kw).full_length_sequences >= k
    if fits(1):
        assert fits(n) and not fits(n + 1)
    else:
        assert n == 1  # nothing fits: strait-max-model-len-fits reports it


def test_share_scales_down_and_is_checked():
    w = QWEN.variants["awq"].weights_gib
    kw = dict(gpu_name="T4", tp=4, max_model_len=4096)
    full = sizing.max_num_seqs_that_fit(QWEN, w, T4.memory_gib, **kw)
    assert sizing.max_num_seqs_that_fit(QWEN, w, T4.memory_gib, share=0.5, **kw) == full // 2
    with pytest.raises(ValueError, match="share 0 must be in"):
        sizing.max_num_seqs_that_fit(QWEN, w, T4.memory_gib, share=0, **kw)


def test_capped_at_vllms_default():
    """A tiny context on a big GPU fits thousands of sequences; the derivation stops at vLLM's own default."""
    h100 = CAT.gpus["H100-80GB"]
    small = CAT.models["qwen2.5-7b-instruct"]
    n = sizing.max_num_seqs_that_fit(small, small.variants["awq"].weights_gib, h100.memory_gib, gpu_name="H100-80GB",
                                     max_model_len=256)
    assert n == sizing.default_batch_limits(h100.memory_gib, "H100-80GB")[1]


def _model(**kw):
    return ModelConfig(model="qwen2.5-32b-instruct", quantization="awq", pool="t4x4", tensor_parallel_size=4,
                       max_model_len=16384, **kw)


def test_explicit_value_wins_and_unset_is_derived():
    assert _model(max_num_seqs=32).max_num_seqs == 32
    assert sizing.resolve_max_num_seqs(_model(max_num_seqs=32), CAT, "T4") == 32
    assert _model().max_num_seqs is None
    assert sizing.resolve_max_num_seqs(_model(), CAT, "T4") == 6


def test_derived_value_passes_the_kv_concurrency_policy():
    """The derivation and strait-kv-cache-concurrency use the same planner inputs: the derived value never trips it,
    one more does."""
    from tests.policies.builders import deployment, vllm_args

    rule = next(r for r in RULES if r.name == "strait-kv-cache-concurrency")
    n = sizing.resolve_max_num_seqs(_model(), CAT, "T4")
    ok = deployment(args=vllm_args(seqs=n, mml=16384, tp=4))
    over = deployment(args=vllm_args(seqs=n + 1, mml=16384, tp=4))
    assert rule.check(ok, {}, Ctx(catalog=CAT)) == []
    assert "lower --max-num-seqs to 6" in rule.check(over, {}, Ctx(catalog=CAT))[0]
