"""The pod every model server shares, whatever the engine (vLLM, SGLang, and a LeaderWorkerSet's leader and workers).

Pure functions returning dicts (no resources, no cloud): requests sized from the node, the startup budget,
rollout surge, /dev/shm for tensor parallelism, probes, non-root with a read-only root, graceful drain,
GPU scheduling on one pool, one replica per node, and the weight cache's wait container and identity.
The engine-specific part is only the command line and its environment (``ServerPod.command/args/env``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from components.k8s.common import CONTAINER_SECURITY, POD_SECURITY
from components.platform import GpuPool, WeightSource
from strait.config.checks import startup_budget_seconds
from strait.gpu_labels import GPU_LABEL, GPU_RESOURCE, GPU_TOLERATION, POOL_LABEL
from strait.tags import k8s_labels, selector_labels

PROBE_PERIOD_SECONDS = 10
PRE_STOP_SECONDS = 10
#: Extra seconds between the engine's own drain deadline and the kubelet's SIGKILL.
GRACE_MARGIN_SECONDS = 20
#: Share of a node's CPU and memory one replica requests (the rest is the kubelet's, the DaemonSets').
NODE_SHARE = 0.75
MIN_CPU, MIN_MEMORY_GIB = 1, 8
#: A Deployment is marked failed this long after the startup budget if it still has not progressed.
PROGRESS_MARGIN_SECONDS = 600


@dataclass(frozen=True, kw_only=True)
class ServerSizing:
    """What one replica asks of its node and how long it may take to start."""

    cpu_request: float
    memory_request_gib: int
    startup_timeout_seconds: int
    """Budget for the first /health to answer: weights streamed, CUDA graphs captured."""
    max_surge: int = 0
    """0 when the pool has no spare GPU node, so a rollout replaces pods one at a time."""


def size_for_pool(pool: GpuPool, *, replicas: int, weights_gib_per_gpu: float,
                  startup_timeout_seconds: int | None = None) -> ServerSizing:
    """Requests from the pool's smallest node (``GpuPool.node_vcpu/node_memory_gib``), the startup budget from
    the weights each GPU loads (unless the stack sets one), and a surge only when the pool can grow past
    ``replicas`` nodes."""
    return ServerSizing(
        cpu_request=max(MIN_CPU, math.floor(pool.node_vcpu * NODE_SHARE)),
        memory_request_gib=max(MIN_MEMORY_GIB, math.floor(pool.node_memory_gib * NODE_SHARE)),
        startup_timeout_seconds=startup_timeout_seconds or startup_budget_seconds(weights_gib_per_gpu),
        max_surge=1 if pool.max_nodes > replicas else 0)


def server_selector(engine: str, instance: str) -> dict[str, str]:
    """The pod selector of model server ``instance`` running ``engine`` (vllm, sglang): its Deployment's
    matchLabels. Known before the server exists, so a vLLM router in front of it can discover its pods by label
    (``VllmRouterArgs.model_selector``) and the server can admit the router's pods."""
    return selector_labels(k8s_labels(name=engine, instance=instance, component="model-server"))


def shm_size_gib(tp: int) -> int:
    """NCCL uses /dev/shm between tensor-parallel ranks; 1 GiB suffices without TP."""
    return 1 if tp == 1 else 4 * tp


@dataclass(frozen=True, kw_only=True)
class LocalCopy:
    """A checkpoint the engine reads from local disk (vLLM loads LoRA adapters from a path, not from object
    storage): the weight source's wait and sync containers copy it from the cache into an emptyDir before the
    engine starts. Never from a hub."""

    name: str
    """Suffix of the init containers' names (``wait-<name>``, ``sync-<name>``): a DNS label, not user text."""
    source: WeightSource
    volume: str
    """The emptyDir it goes into (several copies may share one); mounted read-only in the engine at ``mount_path``."""
    mount_path: str
    dest: str
    """Where the copy lands: ``mount_path`` or a directory under it."""
    size_gib: float
    """The checkpoint's size; the emptyDir's sizeLimit is the sum over its copies plus slack."""


def local_copy_gib(size_gib: float) -> int:
    """An emptyDir's sizeLimit for checkpoints of ``size_gib`` in all: 10% and 1 GiB of slack."""
    return math.ceil(size_gib * 1.1) + 1


def local_copy_containers(c: LocalCopy) -> list[dict]:
    """The two init containers of one local copy: wait for the cache's completion marker, then sync. Both are
    the cloud's argv (never a shell string built from config) with the pod's hardening and mounts."""
    if c.source.sync_container is None:
        raise ValueError(f"the weight source of {c.name!r} cannot copy to local disk (no sync_container)")
    if not (c.dest == c.mount_path or c.dest.startswith(c.mount_path.rstrip("/") + "/")):
        raise ValueError(f"local copy {c.name!r}: dest {c.dest!r} is not under its mount path {c.mount_path!r}")
    tmp = {"name": "tmp", "mountPath": "/tmp"}
    # The copy's own directory of the volume, mounted at dest: the kubelet creates it, so the copier never has to,
    # and the copier sees no other copy.
    sub = c.dest[len(c.mount_path.rstrip("/")) + 1:]
    dest_mount = {"name": c.volume, "mountPath": c.dest, **({"subPath": sub} if sub else {})}
    return [
        {**dict(c.source.wait_container), "name": f"wait-{c.name}", "imagePullPolicy": "IfNotPresent",
         "securityContext": CONTAINER_SECURITY, "volumeMounts": [tmp]},
        {**dict(c.source.sync_container(c.dest)), "name": f"sync-{c.name}", "imagePullPolicy": "IfNotPresent",
         "securityContext": CONTAINER_SECURITY, "volumeMounts": [tmp, dest_mount]},
    ]


@dataclass(frozen=True, kw_only=True)
class ServerPod:
    """One model server's pod, engine-neutral but for ``command``, ``args`` and ``env``."""

    container: str
    """Container name (the engine: vllm, sglang)."""
    image: str
    command: Sequence[str]
    args: Sequence[str]
    env: Sequence[Mapping[str, object]]
    """The engine's environment; the weight source's (region, project) is appended."""
    port: int
    pool: str
    gpu_model: str
    gpus: int
    tensor_parallel_size: int
    sizing: ServerSizing
    shutdown_timeout_seconds: int
    """The engine's own drain time after SIGTERM; the grace period outlasts it."""
    service_account: str
    selector: Mapping[str, str]
    """Labels of this server's pods: anti-affinity and zone spread select on them."""
    weights: WeightSource | None = None
    """Default: no wait for a cache (the engine finds weights itself; tests only)."""
    home: str = "/home/server"
    """Writable home (an emptyDir): caches go there under a read-only root."""
    health_path: str = "/health"
    extra_volumes: Sequence[Mapping[str, object]] = ()
    """Engine-specific volumes, e.g. a Secret an engine reads its API key from (SGLang has no env var for it).
    Default: none."""
    extra_mounts: Sequence[Mapping[str, object]] = ()
    """Mounts of ``extra_volumes`` in the engine container. Default: none."""
    priority_class_name: str | None = None
    """PriorityClass of the pod (components/k8s/priority.py SERVING: serving above batch); the class must exist
    before the pod, so the workload depends on PriorityClasses.ready. Default: none (priority 0)."""
    serves_http: bool = True
    """False for a multi-node group's headless worker: no port and no HTTP probes (the group's leader is
    probed; LeaderWorkerSet recreates the whole group when any pod restarts). Default: serves and is probed."""
    extra_resources: Mapping[str, str] = field(default_factory=dict)
    """Further extended resources, requested and limited alike (e.g. EFA devices). Default: none."""
    zone_spread: bool = True
    """Spread replicas over zones. False for a multi-node group, whose pods must share a zone (placement comes
    from the LeaderWorkerSet's exclusive topology instead). Default: spread."""
    local_copies: Sequence[LocalCopy] = ()
    """Checkpoints synced from the cache into emptyDirs before the engine starts (LoRA adapters). Default: none."""
    streamed: Mapping[str, WeightSource] = field(default_factory=dict)
    """Further checkpoints the engine streams from the cache itself (a speculative draft model), by init-container
    suffix: the pod waits for each one's completion marker (``wait-<name>``). Default: none."""


def _probe(path: str, period: int, failures: int, timeout: int) -> dict:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "failureThreshold": failures,
            "timeoutSeconds": timeout}


def pod_spec(p: ServerPod) -> dict:
    """The pod spec: the engine container, the weight cache's wait container, scheduling and volumes."""
    if p.gpus != p.tensor_parallel_size:
        raise ValueError(f"gpus ({p.gpus}) must equal tensor_parallel_size ({p.tensor_parallel_size})")
    s = p.sizing
    mem = f"{s.memory_request_gib}Gi"
    extra = {k: str(v) for k, v in sorted(dict(p.extra_resources).items())}
    copy_mounts: dict[str, str] = {}
    copy_gib: dict[str, float] = {}
    for c in p.local_copies:
        if copy_mounts.setdefault(c.volume, c.mount_path) != c.mount_path:
            raise ValueError(f"local copies on volume {c.volume!r} name two mount paths")
        copy_gib[c.volume] = copy_gib.get(c.volume, 0.0) + c.size_gib
    container = {
        "name": p.container,
        "image": p.image,
        "imagePullPolicy": "IfNotPresent",
        "command": list(p.command),
        "args": list(p.args),
        "env": [dict(e) for e in p.env] + [dict(e) for e in (p.weights.env if p.weights else ())],
        "ports": [{"name": "http", "containerPort": p.port, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": f"{s.cpu_request:g}", "memory": mem, GPU_RESOURCE: str(p.gpus), **extra},
                      "limits": {"memory": mem, GPU_RESOURCE: str(p.gpus), **extra}},
        "startupProbe": _probe(p.health_path, PROBE_PERIOD_SECONDS,
                               math.ceil(s.startup_timeout_seconds / PROBE_PERIOD_SECONDS), 5),
        "readinessProbe": _probe(p.health_path, PROBE_PERIOD_SECONDS, 3, 5),
        "livenessProbe": _probe(p.health_path, 15, 4, 10),
        # Stop sending new work before SIGTERM; the engine then drains for its shutdown timeout.
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}, {"name": "home", "mountPath": p.home},
                         {"name": "tmp", "mountPath": "/tmp"}, *(dict(m) for m in p.extra_mounts),
                         *({"name": v, "mountPath": path, "readOnly": True} for v, path in copy_mounts.items())],
    }
    if not p.serves_http:
        for key in ("ports", "startupProbe", "readinessProbe", "livenessProbe"):
            del container[key]
    init = []
    if p.weights is not None:
        # The cloud says what to run (argv and env, never a shell string built from config); the pod adds
        # the same hardening as every container and a writable /tmp.
        init.append({**dict(p.weights.wait_container), "imagePullPolicy": "IfNotPresent",
                     "securityContext": CONTAINER_SECURITY, "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]})
    for name, src in sorted(dict(p.streamed).items()):
        init.append({**dict(src.wait_container), "name": f"wait-{name}", "imagePullPolicy": "IfNotPresent",
                     "securityContext": CONTAINER_SECURITY, "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]})
    for c in p.local_copies:
        init.extend(local_copy_containers(c))
    sel = dict(p.selector)
    return {
        "serviceAccountName": p.service_account,
        # Pod Identity / Workload Identity mount their own projected token; the Kubernetes API token is not needed.
        "automountServiceAccountToken": False,
        "securityContext": POD_SECURITY,
        "terminationGracePeriodSeconds": p.shutdown_timeout_seconds + PRE_STOP_SECONDS + GRACE_MARGIN_SECONDS,
        **({"priorityClassName": p.priority_class_name} if p.priority_class_name else {}),
        "nodeSelector": {POOL_LABEL: p.pool, GPU_LABEL: p.gpu_model},
        "tolerations": [GPU_TOLERATION],
        # One replica per node: a node loss (spot reclaim) takes down one replica, not all.
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": sel}, "topologyKey": "kubernetes.io/hostname"}]}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": sel}}]
        if p.zone_spread else [],
        "initContainers": init,
        "containers": [container],
        "volumes": [
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{shm_size_gib(p.tensor_parallel_size)}Gi"}},
            {"name": "home", "emptyDir": {"sizeLimit": "20Gi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "10Gi"}},
            *(dict(v) for v in p.extra_volumes),
            *({"name": v, "emptyDir": {"sizeLimit": f"{local_copy_gib(gib)}Gi"}} for v, gib in copy_gib.items()),
        ],
    }


def deployment_spec(p: ServerPod, *, replicas: int, labels: Mapping[str, str],
                    annotations: Mapping[str, str] | None = None) -> dict:
    """A Deployment of ``replicas`` such pods, rolled out within the pool's spare nodes."""
    s = p.sizing
    return {
        "replicas": replicas,
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": dict(p.selector)},
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxSurge": s.max_surge, "maxUnavailable": 0 if s.max_surge else 1}},
        # A rollout waits for model load; do not mark it failed before the startup budget runs out.
        "progressDeadlineSeconds": s.startup_timeout_seconds + PROGRESS_MARGIN_SECONDS,
        "template": {"metadata": {"labels": dict(labels), "annotations": dict(annotations or {})}, "spec": pod_spec(p)},
    }
