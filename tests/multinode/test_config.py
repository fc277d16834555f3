"""models.<m>.nodes and gpu_pools.<p>.reservation in a real stack file: exact errors (field, value, fix), and a
model that fits only across two nodes validates with nodes: 2."""
from __future__ import annotations

import copy

import pytest

from strait.config import ConfigError, validate_stack
from tests.conftest import load_stack_raw
from tests.config.test_stack_config import PROVIDER_KEYS, _errors


def model(**kw):
    return lambda raw: raw["models"]["qwen32b"].update(kw)


def pool(**kw):
    return lambda raw: raw["gpu_pools"]["t4x4"].update(kw)


def both(*fs):
    def run(raw):
        for f in fs:
            f(raw)
    return run


def test_bf16_32b_fits_two_t4_nodes_and_not_one():
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["models"]["qwen32b"].update(quantization="bf16", replicas=1, nodes=2, max_model_len=4096, max_num_seqs=8)
    raw["models"]["qwen32b"].pop("tool_calling", None)
    cfg = validate_stack(raw, "phase1-sg", secrets_set=PROVIDER_KEYS)
    assert cfg.models["qwen32b"].nodes == 2
    errors = _errors(model(quantization="bf16", replicas=1, max_model_len=4096, max_num_seqs=8))
    assert any(e.startswith("strait:models.qwen32b.quantization = 'bf16': 61.") for e in errors), errors


CASES = {
    "stages do not split the layers": (
        model(nodes=3, replicas=1),
        "strait:models.qwen32b.nodes = 3: the model's 64 layers do not split evenly into 3 pipeline stages (the "
        "largest stage would set every stage's pace and KV cache). Fix: use nodes: 2."),
    "more nodes than the pool": (
        model(nodes=2),
        "strait:models.qwen32b.nodes = 2: 2 replica(s) x 2 nodes need 4 nodes but pool 't4x4' has max_size 3. Fix: "
        "raise gpu_pools.t4x4.max_size to at least 4, or lower replicas or nodes."),
    "a node not fully used": (
        model(nodes=2, replicas=1, tensor_parallel_size=2),
        "strait:models.qwen32b.tensor_parallel_size = 2: each node of a multi-node replica runs all of its GPUs, and "
        "pool 't4x4' has 4 per node. Fix: set tensor_parallel_size: 4."),
    "sglang": (
        model(nodes=2, replicas=1, engine="sglang"),
        "strait:models.qwen32b.nodes = 2: multi-node serving uses vLLM's own multi-node mode, but this model runs on "
        "sglang. Fix: set engine: vllm, or nodes: 1."),
    "reservation larger than the pool": (
        pool(reservation={"kind": "odcr", "instance_count": 4, "zone": "ap-southeast-1a"}),
        "strait:gpu_pools.t4x4.reservation.instance_count = 4: reserves more nodes than the pool's max_size 3; the "
        "rest would be paid for and never used. Fix: raise max_size to 4 or reserve 3."),
    "reservation above min_size": (
        pool(reservation={"kind": "odcr", "instance_count": 3, "zone": "ap-southeast-1a"}),
        "strait:gpu_pools.t4x4.reservation.instance_count = 3: the pool may shrink to min_size 2 but reserved "
        "capacity is billed whether a node runs in it or not. Fix: set min_size to at least 3."),
    "gke reservation on aws": (
        pool(reservation={"kind": "gke", "instance_count": 2, "zone": "ap-southeast-1a"}),
        "strait:gpu_pools.t4x4.reservation.kind = 'gke': is not a AWS reservation. Fix: use odcr or capacity_block "
        "on AWS, gke on GCP."),
    "capacity block without price": (
        pool(reservation={"kind": "capacity_block", "instance_count": 2, "existing_id": "cr-0123456789abcdef0"}),
        "strait:gpu_pools.t4x4.reservation.usd_per_hour = None: a Capacity Block's price is fixed at purchase and is "
        "not in the catalog. Fix: set usd_per_hour to the purchase price per instance hour."),
    "unknown reservation key": (
        pool(reservation={"kind": "odcr", "instance_count": 2, "zone": "ap-southeast-1a", "count": 2}),
        None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_the_exact_error(case):
    mutate, expected = CASES[case]
    errors = _errors(mutate)
    if expected is None:
        assert any("reservation.count" in e and "unknown key 'count'" in e for e in errors), errors
    else:
        assert expected in errors, errors


def test_a_good_odcr_validates():
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["gpu_pools"]["t4x4"]["reservation"] = {"kind": "odcr", "instance_count": 2, "zone": "ap-southeast-1a"}
    cfg = validate_stack(raw, "phase1-sg", secrets_set=PROVIDER_KEYS)
    assert cfg.gpu_pools["t4x4"].reservation.to_reservation().instance_count == 2
