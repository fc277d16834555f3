"""Cross-field checks of the `queue_autoscaling` section against the stack's models, pools and catalog.

A blueprint that offers queue autoscaling calls :func:`check_queue_autoscaling` from its config model's
validator, beside ``check_platform``; every issue is returned, never the first only.
"""
from __future__ import annotations

from typing import Mapping

from strait.catalog import Catalog
from strait.config.errors import ConfigIssue
from strait.config.sections import GpuPoolConfig, ModelConfig, QueueAutoscalingConfig

#: Model servers keep one replica per node (a required pod anti-affinity on the hostname,
#: components/k8s/model_server.py), so a pool of N nodes holds at most N replicas of each.
REPLICAS_PER_NODE = 1


def replicas_per_node(model: ModelConfig, pool: GpuPoolConfig, cat: Catalog) -> int:
    """Replicas of ``model`` one node of ``pool`` can hold: its GPUs over the model's tensor parallelism, and at
    most REPLICAS_PER_NODE."""
    gpus = [cat.instance_types[t].gpu_count for t in pool.instance_types if t in cat.instance_types]
    fit = min(gpus) // model.tensor_parallel_size if gpus else REPLICAS_PER_NODE
    return min(fit, REPLICAS_PER_NODE)


def check_queue_autoscaling(section: QueueAutoscalingConfig, models: Mapping[str, ModelConfig],
                            pools: Mapping[str, GpuPoolConfig], cat: Catalog,
                            path: str = "queue_autoscaling") -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    add = issues.append
    need: dict[str, list[tuple[str, int]]] = {}  # pool -> [(model, nodes at its most)]
    for key, m in sorted(models.items()):
        pool = pools.get(m.pool)
        if pool is None:
            continue  # the platform checks report an unknown pool
        a = section.models.get(key)
        replicas = a.max_replicas if a else m.replicas
        per = replicas_per_node(m, pool, cat)
        need.setdefault(m.pool, []).append((key, -(-replicas // per) if per else 0))
        if a and per and -(-a.max_replicas // per) > pool.max_size:
            add(ConfigIssue(f"{path}.models.{key}.max_replicas", a.max_replicas,
                            f"needs {-(-a.max_replicas // per)} nodes of pool {m.pool}, which has max_size "
                            f"{pool.max_size} (one replica per node); the replicas beyond it would stay Pending",
                            f"lower max_replicas to {pool.max_size * per} or raise gpu_pools.{m.pool}.max_size to "
                            f"{-(-a.max_replicas // per)}"))
    for key in sorted(set(section.models) - set(models)):
        add(ConfigIssue(f"{path}.models.{key}", key, "not a model of this stack",
                        f"use one of the keys of models: {', '.join(sorted(models)) or '(none)'}"))
    for pname, parts in sorted(need.items()):
        total = sum(n for _, n in parts)
        if total > pools[pname].max_size and any(k in section.models for k, _ in parts) and \
                all(n <= pools[pname].max_size for _, n in parts):
            detail = ", ".join(f"{k} {n}" for k, n in parts)
            add(ConfigIssue(f"gpu_pools.{pname}.max_size", pools[pname].max_size,
                            f"the models on this pool need {total} nodes at their most ({detail})",
                            f"raise max_size to {total} or lower those models' max_replicas"))
    return issues
