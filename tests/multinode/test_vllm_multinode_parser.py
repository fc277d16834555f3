"""Every node's `vllm serve` argv of a multi-node group, as the kubelet expands it, judged by vLLM 0.33.0.

The argv carry `$(LWS_...)` references; each node's is expanded with exactly what LWS v0.10.0 injects into
that pod (strait.render.vllm_multinode.lws_env), then checked by vLLM's serve parser, EngineArgs and vLLM's
ParallelConfig (tests/multinode/parallel_judge.py in .venv-vllm).
"""
from __future__ import annotations

import dataclasses
import json
import subprocess

import pytest

from strait.render.vllm import VllmSpec
from strait.render.vllm_multinode import (
    MultiNodeSpec,
    expand,
    lws_env,
    render_leader_args,
    render_worker_args,
)
from tests.conftest import ROOT

JUDGE_PY = ROOT / ".venv-vllm" / "bin" / "python"
JUDGE = ROOT / "tests" / "multinode" / "parallel_judge.py"
LWS, NS = "llama405b", "serving"

ENGINE = VllmSpec(model="s3://cache/models/meta-llama/Llama-3.1-405B-Instruct-FP8/rev", served_model_name="llama-405b",
                  max_model_len=32768, tensor_parallel_size=8, max_num_seqs=128, kv_cache_dtype="fp8")
SPECS = {
    "tp8-pp2": MultiNodeSpec(engine=ENGINE, nodes=2),
    "tp8-pp4": MultiNodeSpec(engine=ENGINE, nodes=4),
    "tp4-pp2-port": MultiNodeSpec(engine=dataclasses.replace(ENGINE, tensor_parallel_size=4), nodes=2,
                                  master_port=29600),
}


def node_argvs(key: str, spec: MultiNodeSpec, group: int = 0) -> list[dict]:
    items = []
    for rank in range(spec.nodes):
        argv = render_leader_args(spec) if rank == 0 else render_worker_args(spec)
        env = lws_env(lws_name=LWS, namespace=NS, group_index=group, worker_index=rank, size=spec.nodes)
        items.append({"id": f"{key}/{rank}", "argv": expand(argv, env)})
    return items


def run_judge(items: list[dict]) -> dict[str, dict]:
    if not JUDGE_PY.exists():
        pytest.fail("the vLLM judge venv is missing; run scripts/setup.sh --test")
    proc = subprocess.run([str(JUDGE_PY), str(JUDGE)], input=json.dumps(items), capture_output=True, text=True,
                          timeout=600, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["id"]: r for r in json.loads(proc.stdout)}


BAD = {
    # Ray instead of vLLM's own executor: 0.33.0 refuses nnodes > 1 with it.
    "ray-backend": ["--distributed-executor-backend", "ray"],
    # Unexpanded reference (no LWS env, e.g. a Deployment): not an int.
    "unexpanded": None,
}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, dict]:
    items = [it for key, spec in SPECS.items() for it in node_argvs(key, spec)]
    spec = SPECS["tp8-pp2"]
    ray = [a if a != "mp" else "ray" for a in render_worker_args(spec)]
    items.append({"id": "bad/ray-backend", "argv": expand(ray, lws_env(lws_name=LWS, namespace=NS, group_index=0,
                                                                     worker_index=1, size=2))})
    items.append({"id": "bad/unexpanded", "argv": render_worker_args(spec)})
    # LWS_GROUP_SIZE disagreeing with the pipeline stages: vLLM splits the world over the wrong node count.
    items.append({"id": "bad/size-mismatch", "argv": expand(render_worker_args(spec), lws_env(
        lws_name=LWS, namespace=NS, group_index=0, worker_index=1, size=4))})
    return run_judge(items)


@pytest.mark.parametrize("key", sorted(SPECS))
def test_every_node_passes_vllms_parser_and_parallel_config(verdicts, key):
    spec = SPECS[key]
    for rank in range(spec.nodes):
        v = verdicts[f"{key}/{rank}"]
        assert v["check"]["ok"], (rank, v["check"]["error"], v["check"]["stage"])
        assert v["parallel_error"] is None, v["parallel_error"]
        p = v["parallel"]
        assert p["backend"] == "mp"
        assert p["world_size"] == spec.world_size
        assert p["nnodes_within_dp"] == spec.nodes
        assert p["node_rank_within_dp"] == rank
        # What this node must hold: exactly the GPUs each LWS pod requests.
        assert p["local_world_size"] == spec.engine.tensor_parallel_size
        assert p["master_addr"] == f"{LWS}-0.{LWS}.{NS}"
        assert p["master_port"] == spec.master_port
        # Rank 0 serves the API; every other rank takes vLLM's headless multi-node worker path.
        assert p["headless"] is (rank > 0)
        assert p["headless_worker_path"] is (rank > 0)
        assert v["check"]["parsed"]["pipeline_parallel_size"] == spec.nodes


def test_ray_backend_is_refused_by_vllm(verdicts):
    v = verdicts["bad/ray-backend"]
    assert "nnodes > 1 can only be set when distributed executor backend is mp" in v["parallel_error"]


def test_unexpanded_reference_is_refused_by_vllm(verdicts):
    v = verdicts["bad/unexpanded"]
    assert not v["check"]["ok"]
    assert "$(LWS_WORKER_INDEX)" in v["check"]["error"] or "$(LWS_GROUP_SIZE)" in v["check"]["error"]


def test_group_size_mismatch_changes_what_a_node_must_hold(verdicts):
    p = verdicts["bad/size-mismatch"]["parallel"]
    assert p is not None and p["local_world_size"] == 4 != SPECS["tp8-pp2"].engine.tensor_parallel_size
