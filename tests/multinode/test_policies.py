"""The memory and hygiene policies read a LeaderWorkerSet's leader (pipeline stages included): a 70B bf16
checkpoint that cannot fit one 4 x L4 node fits two, one stage each, and the messages say how layers split."""
from __future__ import annotations

import datetime as dt

import pytest

from components.k8s.model_server import ServerSizing
from components.k8s.vllm_multinode import MultiNodeGroup, render_leaderworkerset
from policies import rules, views
from strait.catalog import load_catalog
from strait.config.checks import startup_budget_seconds
from strait.render.vllm import VllmSpec
from strait.render.vllm_multinode import MultiNodeSpec

URI = "s3://cache/models/meta-llama/Llama-3.3-70B-Instruct/rev"
CTX = rules.Ctx(catalog=load_catalog(), today=dt.date(2026, 11, 23))


def lws_res(nodes: int = 2, max_model_len: int = 8192, max_num_seqs: int = 4, startup: int = 1800) -> views.Res:
    engine = VllmSpec(model=URI, served_model_name="llama70b", max_model_len=max_model_len, tensor_parallel_size=4,
                      max_num_seqs=max_num_seqs)
    obj = render_leaderworkerset(MultiNodeGroup(
        name="llama70b", namespace="strait-serving", spec=MultiNodeSpec(engine=engine, nodes=nodes), image="vllm:0.33.0",
        engine_version="0.33.0", pool="l4x4", gpu_model="L4",
        sizing=ServerSizing(cpu_request=36, memory_request_gib=144, startup_timeout_seconds=startup),
        service_account="sa", key_secret="k"))
    return views.Res(urn="urn:lws", type=views.LEADER_WORKER_SET, name="llama70b", props=obj)


def deployment_res() -> views.Res:
    lws = lws_res().props["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
    pod = {**lws, "spec": {**lws["spec"], "containers": [
        {**lws["spec"]["containers"][0], "args": [a for a in lws["spec"]["containers"][0]["args"]
                                                  if a not in ("--pipeline-parallel-size", "2")]}]}}
    return views.Res(urn="urn:d", type="kubernetes:apps/v1:Deployment", name="llama70b",
                     props={"metadata": {"namespace": "strait-serving"}, "spec": {"replicas": 1, "template": pod}})


def test_the_view_reads_stages_and_group_size():
    server = views.vllm_server(lws_res(nodes=2))
    assert (server.tensor_parallel_size, server.pipeline_parallel_size) == (4, 2)
    assert server.gpu == "L4" and server.workload.nodes_per_replica == 2 and server.workload.long_running


def test_two_stages_fit_where_one_node_does_not():
    assert rules.check_max_model_len_fits(lws_res(nodes=2), {}, CTX) == []
    (msg,) = rules.check_max_model_len_fits(deployment_res(), {}, CTX)
    assert msg.startswith("131.4 GiB of weights do not fit: per GPU on L4 x TP 4:")


def test_the_message_names_the_stages():
    (msg,) = rules.check_max_model_len_fits(lws_res(nodes=2, max_model_len=131072), {}, CTX)
    assert "x PP 2 (layers per stage 40/40;" in msg and "vLLM would refuse to start" in msg


def test_kv_concurrency_uses_the_tightest_stage():
    plan, *_ = rules.plan_for(views.vllm_server(lws_res(nodes=2, max_num_seqs=512)), CTX)
    assert len(plan.stages) == 2 and plan.kv_tokens == min(s.kv_tokens for s in plan.stages)
    (msg,) = rules.check_kv_concurrency(lws_res(nodes=2, max_num_seqs=512), {}, CTX)
    assert "--max-num-seqs 512" in msg


@pytest.mark.parametrize("startup, ok", [(1800, True), (60, False)])
def test_startup_budget_counts_weights_per_gpu_of_one_stage(startup, ok):
    need = startup_budget_seconds(131.417 / 8)
    found = rules.check_gpu_hygiene(lws_res(startup=startup), {}, CTX)
    assert (found == []) is ok, found
    if not ok:
        assert f"loading needs about {max(300, need)} s" in found[0]


def test_the_workload_rules_apply_to_leaderworkersets():
    names = {r.name for r in rules.RULES if r.scope == "resource" and r.applies_to(views.LEADER_WORKER_SET)}
    assert {"strait-max-model-len-fits", "strait-kv-cache-concurrency"} <= names
