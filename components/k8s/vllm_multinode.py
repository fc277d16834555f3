"""One model served by vLLM across several nodes: a LeaderWorkerSet (kubernetes-sigs/lws, v1 API).

Each group is one copy of the model: a leader pod (rank 0, serves the OpenAI API) and ``nodes - 1`` worker pods
(``--headless``), one pipeline stage per node, tensor parallelism over the node's GPUs
(``strait.render.vllm_multinode``). Every pod is the shared model-server pod (components/k8s/model_server.py):
requests from the node, non-root with a read-only root, GPU scheduling on one pool, /dev/shm, graceful drain,
the weight cache's wait container and identity. What LWS adds:

- ``startupPolicy: LeaderCreated``: workers are created with the leader, not after it is ready. The leader's
  /health answers only once every rank has joined and loaded its stage, so ``LeaderReady`` would never start.
- ``restartPolicy: RecreateGroupOnPodRestart``: a torch.distributed group cannot take a rank back, so any pod
  or container restart recreates the whole group.
- The leader carries the startup/readiness/liveness probes (the group's budget: every stage loads in
  parallel); workers have no HTTP server and no probes. LWS counts a group ready when all its pods are.
- Placement: ``leaderworkerset.sigs.k8s.io/exclusive-topology`` on a topology key (default: the zone), so a
  group's pods share one zone and each group has the zone to itself; one pod per node (anti-affinity).
- High-bandwidth networking where the instance has it and Strait can apply it (EFA devices + libfabric env;
  strait/catalog/data/interconnect.yaml). What cannot be checked here is in docs/multinode.md.

The Service selects the leaders only (LWS's worker-index label "0"). NetworkPolicies: clients and Prometheus
reach the leader's port; the group's pods reach each other on unprivileged TCP ports (torch's rendezvous on
the master port and NCCL's sockets, whose ports NCCL picks at run time).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.model_server import ServerPod, ServerSizing, pod_spec, size_for_pool
from components.k8s.vllm_service import HOME, engine_env
from components.platform import GpuPool, WeightSource
from strait.catalog.interconnect import EFA_RESOURCE, Interconnect, efa_pod_env
from strait.gpu_labels import POOL_LABEL
from strait.naming import child
from strait.render.netpol import Allow, Port, namespace_peer, pods_peer, prometheus_peer, same_namespace_peer, tcp, workload_policy
from strait.render.vllm import API_KEY_ENV, spec_checksum
from strait.render.vllm_multinode import MultiNodeSpec, render_leader_args, render_worker_args
from strait.tags import k8s_labels, selector_labels

LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1"
LWS_KIND = "LeaderWorkerSet"
#: Labels and annotations LWS v0.10.0 defines (api/leaderworkerset/v1/leaderworkerset_types.go).
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
EXCLUSIVE_TOPOLOGY = "leaderworkerset.sigs.k8s.io/exclusive-topology"
ZONE_KEY = "topology.kubernetes.io/zone"
#: Unprivileged TCP ports: torch.distributed's rendezvous and NCCL's bootstrap/socket transport pick ports here.
GROUP_PORTS = (Port(1024, "TCP", 65535),)


@dataclass(frozen=True, kw_only=True)
class MultiNodeGroup:
    """Everything the LeaderWorkerSet is rendered from (plain values: no Outputs, so it is a pure function)."""

    name: str
    """The LWS's name (also its headless Service's and the leader Service's)."""
    namespace: str
    spec: MultiNodeSpec
    image: str
    engine_version: str
    pool: str
    gpu_model: str
    sizing: ServerSizing
    """Per pod; ``startup_timeout_seconds`` is the group's budget (each stage's weights load in parallel)."""
    service_account: str
    key_secret: str
    groups: int = 1
    """Copies of the model (LWS replicas), each ``spec.nodes`` nodes. Default: one."""
    weights: WeightSource | None = None
    interconnect: Interconnect | None = None
    """The instance's high-bandwidth network (``load_interconnect().get(instance_type)``). Default: the pod
    network only (NCCL over TCP)."""
    placement_topology_key: str = ZONE_KEY
    """Node label whose value a whole group shares, exclusively (e.g. a placement-group or GKE compact-placement
    label). Default: the zone."""


def group_sizing(pool: GpuPool, *, groups: int, nodes: int, weights_gib: float,
                 startup_timeout_seconds: int | None = None) -> ServerSizing:
    """Per-pod requests from the pool's node, the startup budget from the weights one GPU of one stage loads
    (``weights_gib / (GPUs per node x nodes)``; stages load in parallel), and a rolling surge only when the pool
    can hold one more whole group (``max_nodes >= (groups + 1) x nodes``)."""
    s = size_for_pool(pool, replicas=groups * nodes, weights_gib_per_gpu=weights_gib / (pool.gpus_per_node * nodes),
                      startup_timeout_seconds=startup_timeout_seconds)
    return dataclasses.replace(s, max_surge=1 if pool.max_nodes >= (groups + 1) * nodes else 0)


def _labels(g: MultiNodeGroup) -> dict[str, str]:
    labels = k8s_labels(name="vllm", instance=g.name, component="model-server", version=g.engine_version)
    labels[POOL_LABEL] = g.pool
    return labels


def _pod(g: MultiNodeGroup, *, leader: bool) -> dict:
    spec, ic = g.spec, g.interconnect
    efa = ic is not None and ic.kind == "efa" and ic.applied
    pod = ServerPod(
        container="vllm", image=g.image, command=["vllm", "serve"],
        args=render_leader_args(spec) if leader else render_worker_args(spec),
        env=[*engine_env(g.key_secret), *(efa_pod_env() if efa else [])],
        port=spec.engine.port, pool=g.pool, gpu_model=g.gpu_model, gpus=spec.engine.tensor_parallel_size,
        tensor_parallel_size=spec.engine.tensor_parallel_size, sizing=g.sizing,
        shutdown_timeout_seconds=spec.engine.shutdown_timeout_seconds, service_account=g.service_account,
        selector=selector_labels(_labels(g)), weights=g.weights, home=HOME, serves_http=leader,
        extra_resources={EFA_RESOURCE: str(ic.devices_per_node)} if efa else {}, zone_spread=False)
    return pod_spec(pod)


def render_leaderworkerset(g: MultiNodeGroup) -> dict:
    """The LeaderWorkerSet object (apiVersion, kind, metadata, spec). Pure; validated in tests against the
    CRD's openAPIV3Schema (tests/data/lws)."""
    labels = _labels(g)
    checksum = spec_checksum(g.spec.engine, g.image, g.weights.uri if g.weights else None, g.spec.nodes,
                             g.spec.master_port)
    template = lambda leader: {  # noqa: E731
        "metadata": {"labels": dict(labels), "annotations": {"checksum/config": checksum}},
        "spec": _pod(g, leader=leader)}
    return {
        "apiVersion": LWS_API_VERSION, "kind": LWS_KIND,
        "metadata": {"name": g.name, "namespace": g.namespace, "labels": dict(labels),
                     "annotations": {EXCLUSIVE_TOPOLOGY: g.placement_topology_key}},
        "spec": {
            "replicas": g.groups,
            "startupPolicy": "LeaderCreated",
            "rolloutStrategy": {"type": "RollingUpdate",
                                "rollingUpdateConfiguration": {"maxUnavailable": 1,
                                                               "maxSurge": 1 if g.sizing.max_surge else 0}},
            "leaderWorkerTemplate": {
                "size": g.spec.nodes,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": template(True),
                "workerTemplate": template(False),
            },
        },
    }


def group_policies(g: MultiNodeGroup, client_namespaces: tuple[str, ...] = ()) -> dict[str, dict]:
    """NetworkPolicies (name -> spec): the leader's API for clients and Prometheus, and the group's own traffic."""
    sel = selector_labels(_labels(g))
    port = g.spec.engine.port
    group = Allow((same_namespace_peer({LWS_NAME_LABEL: g.name}),), GROUP_PORTS,
                  "the group's ranks: torch rendezvous on the master port, NCCL sockets")
    ingress = [Allow(tuple(namespace_peer(ns) for ns in sorted(set(client_namespaces))), tcp(port),
                     "clients (the gateway)")] if client_namespaces else []
    ingress.append(Allow((prometheus_peer(),), tcp(port), "Prometheus scrapes /metrics"))
    egress = list(g.weights.egress) if g.weights else []
    return {
        f"{g.name}-api": workload_policy({**sel, WORKER_INDEX_LABEL: "0"}, ingress=ingress),
        f"{g.name}-group": workload_policy({**sel, LWS_NAME_LABEL: g.name}, ingress=[group], egress=[group, *egress]),
    }


@dataclass(frozen=True, kw_only=True)
class VllmMultiNodeArgs:
    namespace: str
    spec: MultiNodeSpec
    image: str
    """Pinned vllm/vllm-openai image; its version must match the flags rendered (0.33.0)."""
    engine_version: str
    api_key: pulumi.Input[str]
    """Secret. Guards /v1 on the leader; /health and /metrics stay open for probes and scraping."""
    pool: str
    gpu_model: str
    gpus_per_node: int
    """The pool's GPUs per node; each pod takes all of them (tensor parallelism = this)."""
    sizing: ServerSizing
    """Per pod (components.k8s.model_server.size_for_pool with the weights per GPU of one stage)."""
    groups: int = 1
    """Copies of the model, each on ``spec.nodes`` nodes. Default: one copy, no HA."""
    weights: WeightSource | None = None
    """The cloud's weight source (the spec's model must be its ``uri``). Default: no cache (tests only)."""
    interconnect: Interconnect | None = None
    """Default: the pod network only."""
    placement_topology_key: str = ZONE_KEY
    """Default: one zone per group, exclusively."""
    client_namespaces: tuple[str, ...] = ()
    """Namespaces allowed to call the leader (the gateway's). Default: none but Prometheus."""
    lws: pulumi.Resource | None = None
    """The LWS controller (``components.k8s.lws.Lws.helm``); the object waits for its CRD and webhook.
    Default: installed elsewhere."""


def check_args(name: str, args: VllmMultiNodeArgs) -> list[str]:
    """Every problem with the args, each with the value and the fix (empty when fine)."""
    problems = []
    tp = args.spec.engine.tensor_parallel_size
    if tp != args.gpus_per_node:
        problems.append(f"{name}: tensor_parallel_size ({tp}) must equal the pool's GPUs per node "
                        f"({args.gpus_per_node}): each pod takes a whole node")
    if args.weights is not None and args.spec.engine.model != args.weights.uri:
        problems.append(f"{name}: spec.engine.model {args.spec.engine.model!r} is not the weight source's uri "
                        f"{args.weights.uri!r}")
    if args.groups < 1:
        problems.append(f"{name}: groups must be at least 1 (got {args.groups})")
    if args.interconnect is not None and args.interconnect.kind == "efa" and not args.interconnect.applied:
        problems.append(f"{name}: the interconnect is marked not applied; pass None instead")
    return problems


class VllmMultiNode(pulumi.ComponentResource):
    """ServiceAccount, API-key Secret, LeaderWorkerSet, leader Service and NetworkPolicies for one model."""

    service_name: str
    url: str
    """In-cluster OpenAI-compatible base URL of the leaders, ending in /v1."""
    leaderworkerset: dict
    """The rendered object (for plans, policies and the planner)."""

    def __init__(self, name: str, args: VllmMultiNodeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:serving:VllmMultiNode", name, None, opts)
        problems = check_args(name, args)
        if problems:
            raise ValueError("; ".join(problems))
        w = args.weights
        sa_name = w.service_account if w else name
        group = MultiNodeGroup(
            name=name, namespace=args.namespace, spec=args.spec, image=args.image, engine_version=args.engine_version,
            pool=args.pool, gpu_model=args.gpu_model, sizing=args.sizing, service_account=sa_name,
            key_secret=f"{name}-api-key", groups=args.groups, weights=w, interconnect=args.interconnect,
            placement_topology_key=args.placement_topology_key)
        self.leaderworkerset = render_leaderworkerset(group)
        labels = _labels(group)
        meta = lambda n: {"name": n, "namespace": args.namespace, "labels": labels}  # noqa: E731
        o = pulumi.ResourceOptions(parent=self)
        sa_meta = {**meta(sa_name), **({"annotations": dict(w.service_account_annotations)}
                                       if w and w.service_account_annotations else {})}
        k8s.core.v1.ServiceAccount(child(name, "sa"), metadata=sa_meta, automount_service_account_token=False, opts=o)
        k8s.core.v1.Secret(child(name, "api-key"), metadata=meta(group.key_secret), type="Opaque",
                           string_data={API_KEY_ENV: pulumi.Output.secret(args.api_key)}, opts=o)
        netpols = [k8s.networking.v1.NetworkPolicy(child(name, pname.removeprefix(f"{name}-")), metadata=meta(pname),
                                                   spec=spec, opts=o)
                   for pname, spec in sorted(group_policies(group, args.client_namespaces).items())]
        lws = self.leaderworkerset
        depends = [*(w.ready if w else ()), *netpols, *([args.lws] if args.lws is not None else [])]
        k8s.apiextensions.CustomResource(child(name, "lws"), api_version=LWS_API_VERSION, kind=LWS_KIND,
                                         metadata=lws["metadata"], spec=lws["spec"],
                                         opts=pulumi.ResourceOptions(parent=self, depends_on=depends))
        sel = selector_labels(labels)
        port = args.spec.engine.port
        k8s.core.v1.Service(child(name, "svc"), metadata=meta(f"{name}-api"), spec={
            "type": "ClusterIP", "selector": {**sel, WORKER_INDEX_LABEL: "0"},
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]}, opts=o)
        #: What a client's egress policy must allow to reach the leaders.
        self.client_egress = Allow((pods_peer(args.namespace, {**sel, WORKER_INDEX_LABEL: "0"}),), tcp(port),
                                   f"model server {name}")
        self.service_name = f"{name}-api"
        self.url = f"http://{self.service_name}.{args.namespace}.svc.cluster.local:{port}/v1"
        self.register_outputs({"url": self.url})
