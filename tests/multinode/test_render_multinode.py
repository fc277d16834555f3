"""The pure multi-node renderer on its own: flags, env references, the kubelet's expansion."""
from __future__ import annotations

import pytest

from strait.render.vllm import VllmSpec, render_vllm_args
from strait.render.vllm_multinode import MultiNodeSpec, expand, lws_env, render_leader_args, render_worker_args

ENGINE = VllmSpec(model="s3://b/m", served_model_name="m", max_model_len=8192, tensor_parallel_size=8)


def test_leader_and_worker_share_the_engine_and_differ_only_in_rank_and_headless():
    spec = MultiNodeSpec(engine=ENGINE, nodes=3)
    leader, worker = render_leader_args(spec), render_worker_args(spec)
    base = render_vllm_args(ENGINE)
    assert leader[:len(base)] == base and worker[:len(base)] == base
    assert leader[len(base):] == ["--pipeline-parallel-size", "3", "--distributed-executor-backend", "mp",
                                  "--nnodes", "$(LWS_GROUP_SIZE)", "--node-rank", "0",
                                  "--master-addr", "$(LWS_LEADER_ADDRESS)", "--master-port", "29501"]
    assert worker[len(base):] == ["--pipeline-parallel-size", "3", "--distributed-executor-backend", "mp",
                                  "--nnodes", "$(LWS_GROUP_SIZE)", "--node-rank", "$(LWS_WORKER_INDEX)",
                                  "--master-addr", "$(LWS_LEADER_ADDRESS)", "--master-port", "29501", "--headless"]


def test_one_node_is_refused():
    with pytest.raises(ValueError, match="nodes must be at least 2"):
        MultiNodeSpec(engine=ENGINE, nodes=1)


def test_expansion_follows_the_kubelet():
    env = {"A": "x", "B": "y"}
    assert expand(["$(A)", "p$(B)q", "$$(A)", "$(C)", "$", "$(A"], env) == ["x", "pyq", "$(A)", "$(C)", "$", "$(A"]


def test_a_hostile_value_stays_one_argument():
    # A model name with shell metacharacters is data: one argv element, never parsed by a shell.
    spec = MultiNodeSpec(engine=VllmSpec(model="s3://b/m; rm -rf /", served_model_name="$(LWS_GROUP_SIZE)",
                                         max_model_len=8192, tensor_parallel_size=8), nodes=2)
    argv = expand(render_worker_args(spec), lws_env(lws_name="x", namespace="n", group_index=0, worker_index=1, size=2))
    assert argv[0] == "s3://b/m; rm -rf /"
    # A reference inside a config value is escaped ($$), so the kubelet passes it through unexpanded.
    assert argv[argv.index("--served-model-name") + 1] == "$(LWS_GROUP_SIZE)"


def test_lws_env_matches_upstream_format():
    assert lws_env(lws_name="llm", namespace="serving", group_index=1, worker_index=2, size=4) == {
        "LWS_LEADER_ADDRESS": "llm-1.llm.serving", "LWS_GROUP_SIZE": "4", "LWS_WORKER_INDEX": "2"}
