"""The memory policies read `sglang serve` containers too, with SGLang's own accounting and flag names."""
from __future__ import annotations

import datetime as dt

import pytest

from policies import views as v
from policies.rules import Ctx, check_kv_concurrency, check_max_model_len_fits
from strait.catalog import load_catalog
from strait.render.sglang import SglangSpec, render_sglang_args
from tests.policies.builders import deployment

CTX = Ctx(catalog=load_catalog(), today=dt.date(2026, 11, 30))


def sglang_deployment(**spec_kw):
    spec = SglangSpec(model_path="s3://b/models/Qwen/Qwen2.5-32B-Instruct-AWQ/main", served_model_name="qwen32b",
                      tp_size=4, **spec_kw)
    return deployment(args=render_sglang_args(spec), command=("sglang", "serve"))


def test_the_view_reads_sglang_flags_under_vllm_names():
    srv = v.vllm_server(sglang_deployment(context_length=16384, mem_fraction_static=0.8, max_running_requests=8,
                                          kv_cache_dtype="fp8"))
    assert (srv.engine, srv.max_model_len, srv.max_num_seqs, srv.tensor_parallel_size) == ("sglang", 16384, 8, 4)
    assert srv.gpu_memory_utilization == 0.8 and srv.kv_cache_dtype == "fp8"
    assert srv.flag("max-model-len") == "--context-length"


def test_context_length_that_does_not_fit_is_reported_in_sglangs_terms():
    msgs = check_max_model_len_fits(sglang_deployment(context_length=32768, mem_fraction_static=0.45), {}, CTX)
    assert len(msgs) == 1
    assert msgs[0].startswith("one sequence of --context-length 32,768 tokens needs 2.00 GiB of KV cache")
    assert "SGLang would refuse to start. Set --context-length to" in msgs[0]


def test_a_fitting_sglang_server_passes_and_concurrency_uses_max_running_requests():
    ok = sglang_deployment(context_length=16384, mem_fraction_static=0.85, max_running_requests=4)
    assert check_max_model_len_fits(ok, {}, CTX) == []
    assert check_kv_concurrency(ok, {}, CTX) == []
    busy = sglang_deployment(context_length=16384, mem_fraction_static=0.85, max_running_requests=64)
    (msg,) = check_kv_concurrency(busy, {}, CTX)
    assert "(--max-num-seqs 64)" in msg or "64 must fit" in msg


@pytest.mark.parametrize("frac", [0.3, 0.85])
def test_sglang_and_vllm_plans_differ_where_their_accounting_does(frac):
    srv = v.vllm_server(sglang_deployment(context_length=8192, mem_fraction_static=frac))
    from policies.rules import plan_for

    plan, *_ , problem = plan_for(srv, CTX)
    assert problem is None and plan.activation_gib == 0.0
    assert plan.requested_gib == pytest.approx((CTX.catalog.gpus["T4"].memory_gib - 0.25 - 1.0) * frac)
