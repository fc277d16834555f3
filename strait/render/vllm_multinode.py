"""``vllm serve`` argv for one model served across the nodes of a LeaderWorkerSet group (vLLM 0.33.0).

vLLM 0.33.0 runs one model across nodes with its own multiprocessing executor, no Ray: every node runs
``vllm serve`` with the same model and parallel flags plus ``--nnodes``, ``--node-rank``, ``--master-addr`` and
``--master-port``; rank 0 (the LWS leader) serves the OpenAI API, the others add ``--headless`` and only run
workers (vllm/config/parallel.py ``ParallelConfig.nnodes``/``node_rank``: "num of nodes for multi-node
distributed inference when distributed_executor_backend is mp"; vllm/entrypoints/cli/serve.py
``run_headless``: "Run headless workers (for multi-node PP/TP)"). ``nnodes > 1`` is refused with any other
backend, so ``--distributed-executor-backend mp`` is rendered explicitly.

Layout: tensor parallelism within a node (NVLink), pipeline parallelism across nodes (one stage per node), so
only activations between stages cross the network, not every layer's all-reduce.

Values only the cluster knows come from the environment LeaderWorkerSet injects into every container
(``LWS_LEADER_ADDRESS``, ``LWS_GROUP_SIZE``, ``LWS_WORKER_INDEX``; kubernetes-sigs/lws v0.10.0
pkg/utils/pod/pod_utils.go ``AddLWSVariables``, prepended to the container's env so references resolve), as
Kubernetes ``$(VAR)`` references the kubelet expands in ``args``. No shell runs: no string is ever built from
config. :func:`expand` is the kubelet's expansion, used to judge each node's argv with vLLM's parser.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from strait.render.vllm import VllmSpec, render_vllm_args

LEADER_ADDRESS_ENV = "LWS_LEADER_ADDRESS"
GROUP_SIZE_ENV = "LWS_GROUP_SIZE"
WORKER_INDEX_ENV = "LWS_WORKER_INDEX"
#: torch.distributed's rendezvous on the leader (vLLM's ParallelConfig.master_port default).
MASTER_PORT = 29501


def env_ref(name: str) -> str:
    """A Kubernetes dependent-variable reference, expanded by the kubelet in command/args."""
    return f"$({name})"


@dataclass(frozen=True, kw_only=True)
class MultiNodeSpec:
    """One model across ``nodes`` nodes: ``engine.tensor_parallel_size`` GPUs per node, one pipeline stage each."""

    engine: VllmSpec
    nodes: int
    """Pipeline stages = LeaderWorkerSet group size (leader + workers). At least 2."""
    master_port: int = MASTER_PORT

    def __post_init__(self) -> None:
        if self.nodes < 2:
            raise ValueError(f"nodes must be at least 2 for multi-node serving (got {self.nodes}); "
                             "serve one node with VllmService")

    @property
    def world_size(self) -> int:
        return self.engine.tensor_parallel_size * self.nodes


def _parallel_args(spec: MultiNodeSpec, node_rank: str) -> list[str]:
    return ["--pipeline-parallel-size", str(spec.nodes),
            "--distributed-executor-backend", "mp",
            "--nnodes", env_ref(GROUP_SIZE_ENV),
            "--node-rank", node_rank,
            "--master-addr", env_ref(LEADER_ADDRESS_ENV),
            "--master-port", str(spec.master_port)]


def escape(value: str) -> str:
    """A config value the kubelet must pass through unchanged: ``$`` doubled, so ``$(X)`` in a model name or
    served name is never expanded into the pod's environment."""
    return value.replace("$", "$$")


def _engine_args(spec: MultiNodeSpec) -> list[str]:
    return [escape(a) for a in render_vllm_args(spec.engine)]


def render_leader_args(spec: MultiNodeSpec) -> list[str]:
    """Arguments after ``vllm serve`` on the leader (rank 0): serves the API, owns pipeline stage 0."""
    return [*_engine_args(spec), *_parallel_args(spec, "0")]


def render_worker_args(spec: MultiNodeSpec) -> list[str]:
    """Arguments after ``vllm serve`` on every worker: the same engine and parallel flags (each rank builds the
    same config), its rank from ``LWS_WORKER_INDEX`` (1..nodes-1), and ``--headless`` (no API server)."""
    return [*_engine_args(spec), *_parallel_args(spec, env_ref(WORKER_INDEX_ENV)), "--headless"]


_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(argv: list[str], env: dict[str, str]) -> list[str]:
    """The kubelet's ``$(VAR)`` expansion of command/args: a defined variable is replaced, ``$$`` is a literal
    ``$``, an undefined reference stays as written (k8s.io/kubernetes third_party/forked/golang/expansion)."""
    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return [_REF.sub(one, a) for a in argv]


def lws_env(*, lws_name: str, namespace: str, group_index: int, worker_index: int, size: int) -> dict[str, str]:
    """What LWS v0.10.0 injects into a pod of group ``group_index`` (pod_utils.go AddLWSVariables): the leader's
    address is ``<lws>-<group>.<subdomain>.<namespace>`` (subdomain: the LWS's headless Service, its name)."""
    return {LEADER_ADDRESS_ENV: f"{lws_name}-{group_index}.{lws_name}.{namespace}",
            GROUP_SIZE_ENV: str(size), WORKER_INDEX_ENV: str(worker_index)}
