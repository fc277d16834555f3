"""Config checks for multi-node models (``models.<m>.nodes``) and reserved capacity (``gpu_pools.<p>.reservation``).
Each returns every issue it finds, with the field path, the value, what is wrong and the fix."""
from __future__ import annotations

from strait.config.errors import ConfigIssue
from strait.config.sections import GpuPoolConfig, ModelConfig
from strait.reservations import reservation_problems


def even_node_counts(num_layers: int, up_to: int) -> list[int]:
    """Node counts (2..up_to) that split the layers evenly."""
    return [n for n in range(2, up_to + 1) if num_layers % n == 0]


def check_multinode(path: str, m: ModelConfig, pool_name: str, pool: GpuPoolConfig, num_layers: int,
                    gpus_per_node: int) -> list[ConfigIssue]:
    if m.nodes == 1:
        return []
    out: list[ConfigIssue] = []
    if m.engine != "vllm":
        out.append(ConfigIssue(f"{path}.nodes", m.nodes, f"multi-node serving uses vLLM's own multi-node mode, but "
                               f"this model runs on {m.engine}", "set engine: vllm, or nodes: 1"))
    if m.tensor_parallel_size != gpus_per_node:
        out.append(ConfigIssue(f"{path}.tensor_parallel_size", m.tensor_parallel_size,
                               f"each node of a multi-node replica runs all of its GPUs, and pool '{pool_name}' has "
                               f"{gpus_per_node} per node", f"set tensor_parallel_size: {gpus_per_node}"))
    if m.nodes > num_layers or num_layers % m.nodes:
        even = even_node_counts(num_layers, min(pool.max_size, 16))
        out.append(ConfigIssue(f"{path}.nodes", m.nodes, f"the model's {num_layers} layers do not split evenly into "
                               f"{m.nodes} pipeline stages (the largest stage would set every stage's pace and KV cache)",
                               f"use nodes: {' or '.join(map(str, even))}" if even else
                               "use nodes: 1, or a pool with more nodes"))
    if m.replicas * m.nodes > pool.max_size:
        out.append(ConfigIssue(f"{path}.nodes", m.nodes, f"{m.replicas} replica(s) x {m.nodes} nodes need "
                               f"{m.replicas * m.nodes} nodes but pool '{pool_name}' has max_size {pool.max_size}",
                               f"raise gpu_pools.{pool_name}.max_size to at least {m.replicas * m.nodes}, or lower "
                               "replicas or nodes"))
    if m.adapters or m.speculative is not None:
        out.append(ConfigIssue(f"{path}.nodes", m.nodes, "LoRA adapters and speculative decoding are not planned "
                               "across pipeline stages here", "remove adapters/speculative, or use nodes: 1"))
    return out


def check_pool_reservation(path: str, pool: GpuPoolConfig, cloud: str) -> list[ConfigIssue]:
    if pool.reservation is None:
        return []
    r = pool.reservation.to_reservation()
    return [ConfigIssue(f"{path}.reservation.{field}", value, what, fix) for field, value, what, fix in
            reservation_problems(r, cloud=cloud, instance_types=list(pool.instance_types), capacity=pool.capacity,
                                 min_size=pool.min_size, max_size=pool.max_size)]
