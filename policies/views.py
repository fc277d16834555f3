"""The small resource view the rules see, and the adapters that build it.

Only this module knows the camelCase ``props`` shapes of Pulumi resource inputs (aws node groups,
Kubernetes workloads, PDBs, ConfigMaps) and how a CrossGuard argument bag or an offline plan
record carries them. Rules (``policies.rules``) work on the views returned here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from strait.gpu_labels import GPU_LABEL, GPU_RESOURCE, GPU_TAINT_KEY, POOL_LABEL
from strait.render.sglang import parse_sglang_command
from strait.render.vllm import parse_vllm_command
from strait.reservations import GCP_RESERVED_NODES_LABEL, RESERVED_NODES_TAG, RESERVED_PRICE_TAG

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AWS_PROVIDER = "pulumi:providers:aws"
LEADER_WORKER_SET = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"
POD_TEMPLATE_KINDS = {
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
    # A multi-node model server: the leader's pod carries the full argv (pipeline stages included) and the
    # probes; workers run the same engine flags from the same renderer (components/k8s/vllm_multinode.py).
    LEADER_WORKER_SET: ("spec", "leaderWorkerTemplate", "leaderTemplate"),
}
LONG_RUNNING = {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", LEADER_WORKER_SET}
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GCP_PROVIDER = "pulumi:providers:gcp"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


@dataclass(frozen=True)
class Res:
    """One resource: its type, name, URN, camelCase input ``props`` and its provider's props."""

    urn: str
    type: str
    name: str
    props: Mapping[str, Any]
    provider_type: str | None = None
    provider_props: Mapping[str, Any] = field(default_factory=dict)


# --- front ends -------------------------------------------------------------------------------
def from_plan_records(records: Iterable[Any]) -> list[Res]:
    """Offline plan records (``strait.plan.engine.ResourceRecord`` or resources.json dicts)."""
    recs = [r if not isinstance(r, dict) else _DictRecord(r) for r in records]
    urn = lambda r: getattr(r, "urn", None) or r.name  # noqa: E731  (hand-made records in tests carry no URN)
    providers = {urn(r): r for r in recs if r.type.startswith("pulumi:providers:")}
    out = []
    for r in recs:
        if not getattr(r, "custom", True):  # components have no props a rule could judge
            continue
        provider = getattr(r, "provider", None)
        prov = providers.get(provider.rsplit("::", 1)[0]) if provider else None
        out.append(Res(urn=urn(r), type=r.type, name=r.name, props=r.inputs,
                       provider_type=prov.type if prov else None, provider_props=prov.inputs if prov else {}))
    return out


class _DictRecord:
    def __init__(self, d: dict):
        self.urn, self.type, self.name = d["urn"], d["type"], d["name"]
        self.custom, self.provider, self.inputs = d.get("custom", True), d.get("provider"), d.get("inputs") or {}


def from_policy_args(args: Any) -> Res:
    """A CrossGuard ``ResourceValidationArgs``."""
    p = args.provider
    return Res(urn=args.urn, type=args.resource_type, name=args.name, props=args.props,
               provider_type=p.resource_type if p is not None else None, provider_props=p.props if p is not None else {})


def from_policy_resources(resources: Iterable[Any]) -> list[Res]:
    """The ``resources`` of a CrossGuard ``StackValidationArgs`` (``PolicyResource`` objects).

    During a preview some props are unknown and the SDK's proxies raise on access. A stack rule reads
    every resource, so one unknown field anywhere would stop it for the whole stack: here unknown
    values become None (a rule then judges what is known). Resource rules keep the SDK's behaviour
    (the engine reports "can't run policy during preview" for the resource).
    """
    out = []
    for r in resources:
        p = r.provider
        out.append(Res(urn=r.urn, type=r.resource_type, name=r.name, props=_known(r.props),
                       provider_type=p.resource_type if p is not None else None,
                       provider_props=_known(p.props) if p is not None else {}))
    return out


def _known(value: Any) -> Any:
    """Plain dicts/lists with unknown preview values replaced by None."""
    if isinstance(value, (str, bytes)) or value is None:
        return value
    if isinstance(value, Mapping):
        out = {}
        for k in list(value):
            try:
                out[k] = _known(value[k])
            except Exception as exc:  # pulumi_policy.proxy.UnknownValueError; views stay SDK-free
                if type(exc).__name__ != "UnknownValueError":
                    raise
                out[k] = None
        return out
    if isinstance(value, (list, tuple)) or (hasattr(value, "__getitem__") and hasattr(value, "__len__")):
        items = []
        for i in range(len(value)):
            try:
                items.append(_known(value[i]))
            except Exception as exc:
                if type(exc).__name__ != "UnknownValueError":
                    raise
                items.append(None)
        return items
    return value


# --- cloud views ------------------------------------------------------------------------------
def _int(v: Any, default: int = 0) -> int:
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return default


def region_of(res: Res) -> str | None:
    """Region from the resource's aws or gcp Provider inputs (never from the environment)."""
    if res.provider_type in (AWS_PROVIDER, GCP_PROVIDER):
        return res.provider_props.get("region")
    return None


def stack_region(resources: Iterable[Res]) -> str | None:
    for r in resources:
        if r.type in (AWS_PROVIDER, GCP_PROVIDER) and r.props.get("region"):
            return r.props["region"]
        reg = region_of(r)
        if reg:
            return reg
    return None


@dataclass(frozen=True)
class NodePool:
    res: Res
    instance_types: tuple[str, ...]
    capacity: str  # "spot" | "on_demand"
    min_size: int
    desired_size: int
    max_size: int
    labels: Mapping[str, str]
    region: str | None
    reserved_nodes: int = 0
    """Nodes of reserved capacity backing the pool (strait.reservations), billed whether they run or not."""
    reserved_usd_per_hour: float | None = None
    """Price per reserved instance hour when it is not the catalog's on-demand price (a Capacity Block)."""

    @property
    def gpu_label(self) -> str | None:
        return self.labels.get(GPU_LABEL)

    @property
    def billed_desired(self) -> int:
        """Nodes paid for at the expected size: a reservation is paid in full whether used or not."""
        return max(self.desired_size, self.reserved_nodes)

    @property
    def billed_max(self) -> int:
        return max(self.max_size, self.reserved_nodes)


def node_pool(res: Res) -> NodePool | None:
    if res.type == GKE_NODE_POOL:
        return _gke_node_pool(res)
    if res.type != NODE_GROUP:
        return None
    p = res.props
    sc = p.get("scalingConfig") or {}
    tags = p.get("tags") if isinstance(p.get("tags"), Mapping) else {}
    price = tags.get(RESERVED_PRICE_TAG)
    return NodePool(res=res, instance_types=tuple(p.get("instanceTypes") or ()),
                    capacity="spot" if p.get("capacityType") == "SPOT" else "on_demand",
                    min_size=_int(sc.get("minSize")), desired_size=_int(sc.get("desiredSize")),
                    max_size=_int(sc.get("maxSize")), labels=dict(p.get("labels") or {}), region=region_of(res),
                    reserved_nodes=_int(tags.get(RESERVED_NODES_TAG)),
                    reserved_usd_per_hour=float(price) if price is not None else None)


def _gke_node_pool(res: Res) -> NodePool:
    """A GKE node pool: one machine type; ``autoscaling.total*NodeCount`` bound the whole pool (all zones),
    ``initialNodeCount`` and ``nodeCount`` are per zone. Expected size: the larger of the total minimum and the
    initial nodes; without autoscaling, min = max = that fixed size."""
    p = res.props
    nc = p.get("nodeConfig") or {}
    zones = max(1, len(p.get("nodeLocations") or ()))
    fixed = _int(p.get("nodeCount"), _int(p.get("initialNodeCount"))) * zones
    auto = p.get("autoscaling") or {}
    lo = _int(auto.get("totalMinNodeCount"), _int(auto.get("minNodeCount")) * zones) if auto else fixed
    hi = _int(auto.get("totalMaxNodeCount"), _int(auto.get("maxNodeCount")) * zones) if auto else fixed
    return NodePool(res=res, instance_types=(nc["machineType"],) if nc.get("machineType") else (),
                    capacity="spot" if nc.get("spot") or nc.get("preemptible") else "on_demand",
                    min_size=lo, desired_size=max(lo, fixed), max_size=hi, labels=dict(nc.get("labels") or {}),
                    region=region_of(res),
                    reserved_nodes=_int((nc.get("resourceLabels") or {}).get(GCP_RESERVED_NODES_LABEL)))


def instance_types_of(res: Res) -> list[str]:
    """Instance types a resource launches (node groups, launch templates, GKE node pools)."""
    if res.type == GKE_NODE_POOL:
        mt = (res.props.get("nodeConfig") or {}).get("machineType")
        return [mt] if mt else []
    if res.type == NODE_GROUP:
        return list(res.props.get("instanceTypes") or [])
    if res.type == LAUNCH_TEMPLATE and res.props.get("instanceType"):
        return [res.props["instanceType"]]
    return []


def tag(res: Res, key: str) -> str | None:
    return (res.props.get("tags") or {}).get(key) if isinstance(res.props.get("tags"), Mapping) else None


# --- Kubernetes views -------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    res: Res
    kind: str
    namespace: str
    replicas: int
    labels: Mapping[str, str]
    pod: Mapping[str, Any]
    nodes_per_replica: int = 1
    """Pods (one per node) each replica takes: a LeaderWorkerSet group's size; 1 otherwise."""

    @property
    def containers(self) -> list[Mapping[str, Any]]:
        return list(self.pod.get("containers") or [])

    @property
    def all_containers(self) -> list[Mapping[str, Any]]:
        return list(self.pod.get("initContainers") or []) + self.containers

    @property
    def node_selector(self) -> Mapping[str, str]:
        return self.pod.get("nodeSelector") or {}

    @property
    def tolerations(self) -> list[Mapping[str, Any]]:
        return list(self.pod.get("tolerations") or [])

    @property
    def long_running(self) -> bool:
        return self.res.type in LONG_RUNNING


def workload(res: Res) -> Workload | None:
    path = POD_TEMPLATE_KINDS.get(res.type)
    if path is None:
        return None
    node: Any = res.props
    for key in path:
        node = (node or {}).get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping):
        return None
    meta = res.props.get("metadata") or {}
    spec = res.props.get("spec") or {}
    size = _int((spec.get("leaderWorkerTemplate") or {}).get("size"), 1) if res.type == LEADER_WORKER_SET else 1
    return Workload(res=res, kind=res.type.rsplit(":", 1)[-1], namespace=meta.get("namespace") or "default",
                    replicas=_int(spec.get("replicas"), 1), labels=dict((node.get("metadata") or {}).get("labels") or {}),
                    pod=node.get("spec") or {}, nodes_per_replica=size)


def gpu_request(container: Mapping[str, Any]) -> tuple[int, int]:
    """(requested, limited) nvidia.com/gpu of one container; 0 when absent."""
    res = container.get("resources") or {}
    return (_int((res.get("requests") or {}).get(GPU_RESOURCE)), _int((res.get("limits") or {}).get(GPU_RESOURCE)))


def probe_budget_seconds(probe: Mapping[str, Any] | None) -> int:
    """How long a startup probe lets a container take before it is killed."""
    if not probe:
        return 0
    return (_int(probe.get("initialDelaySeconds")) + _int(probe.get("periodSeconds"), 10)
            * _int(probe.get("failureThreshold"), 3))


@dataclass(frozen=True)
class VllmServer:
    """A model-server container (``vllm serve``, or ``sglang serve`` with ``engine`` "sglang"): the flags the
    sizing rules need, under vLLM's names. For SGLang: ``max_model_len`` is ``--context-length``,
    ``max_num_seqs`` ``--max-running-requests``, ``gpu_memory_utilization`` ``--mem-fraction-static``."""

    workload: Workload
    container: Mapping[str, Any]
    model_path: str
    max_model_len: int | None
    max_num_seqs: int | None
    tensor_parallel_size: int
    pipeline_parallel_size: int
    gpu_memory_utilization: float
    kv_cache_dtype: str
    block_size: int
    dtype: str
    gpu: str | None
    engine: str = "vllm"
    max_loras: int = 0
    """vLLM --max-loras when --enable-lora is on, else 0."""
    max_lora_rank: int = 0
    speculative: Mapping[str, Any] | None = None
    """vLLM --speculative-config, parsed (None: off, or not JSON)."""

    def lora_gpu_gib(self, arch) -> float:
        """GPU memory the server's LoRA slots take (strait.sizing.lora_gpu_gib); 0 without LoRA."""
        from strait import sizing

        if not self.max_loras:
            return 0.0
        return sizing.lora_gpu_gib(arch, max_loras=self.max_loras, max_lora_rank=self.max_lora_rank,
                                   tp=self.tensor_parallel_size)

    def flag(self, vllm_name: str) -> str:
        """The engine's own name for a vLLM flag, for messages."""
        return "--" + (SGLANG_FLAG.get(vllm_name, vllm_name) if self.engine == "sglang" else vllm_name)


#: vLLM flag -> SGLang 0.5.23 flag, for the fields VllmServer holds.
SGLANG_FLAG = {"max-model-len": "context-length", "max-num-seqs": "max-running-requests",
               "tensor-parallel-size": "tp-size", "pipeline-parallel-size": "pp-size",
               "gpu-memory-utilization": "mem-fraction-static", "kv-cache-dtype": "kv-cache-dtype"}


def _json_object(text: str | None) -> Mapping[str, Any] | None:
    import json

    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _sglang_server(wl: Workload, c: Mapping[str, Any]) -> VllmServer | None:
    parsed = parse_sglang_command([*(c.get("command") or []), *(c.get("args") or [])])
    if parsed is None:
        return None
    model, f = parsed
    num = lambda k, d=None: _int(f[k]) if k in f else d  # noqa: E731
    kv = f.get("kv-cache-dtype", "auto")
    return VllmServer(
        workload=wl, container=c, model_path=model or "", max_model_len=num("context-length"),
        max_num_seqs=num("max-running-requests"), tensor_parallel_size=num("tp-size", 1),
        pipeline_parallel_size=num("pp-size", 1),
        # SGLang derives a default from the GPU size; 0.85 is close for 24-80 GB parts (memory_hook.py).
        gpu_memory_utilization=float(f.get("mem-fraction-static", 0.85)),
        kv_cache_dtype="fp8" if kv.startswith("fp8") else kv, block_size=num("page-size", 1),
        dtype=f.get("dtype", "auto"), gpu=wl.node_selector.get(GPU_LABEL), engine="sglang")


def vllm_server(res: Res) -> VllmServer | None:
    wl = workload(res)
    if wl is None:
        return None
    for c in wl.containers:
        parsed = parse_vllm_command([*(c.get("command") or []), *(c.get("args") or [])])
        if parsed is None:
            sg = _sglang_server(wl, c)
            if sg is not None:
                return sg
            continue
        model, f = parsed
        num = lambda k, d=None: _int(f[k]) if k in f else d  # noqa: E731
        return VllmServer(
            workload=wl, container=c, model_path=model or "", max_model_len=num("max-model-len"),
            max_num_seqs=num("max-num-seqs"), tensor_parallel_size=num("tensor-parallel-size", 1),
            pipeline_parallel_size=num("pipeline-parallel-size", 1),
            gpu_memory_utilization=float(f.get("gpu-memory-utilization", 0.92)),  # vLLM 0.33 default
            kv_cache_dtype=f.get("kv-cache-dtype", "auto"), block_size=num("block-size", 16),
            dtype=f.get("dtype", "auto"), gpu=wl.node_selector.get(GPU_LABEL),
            # vLLM's defaults when LoRA is on: 1 slot of rank 16 (vllm/config/lora.py).
            max_loras=num("max-loras", 1) if "enable-lora" in f else 0, max_lora_rank=num("max-lora-rank", 16),
            speculative=_json_object(f.get("speculative-config")))
    return None


@dataclass(frozen=True)
class Pdb:
    res: Res
    namespace: str
    selector: Mapping[str, str]
    min_available: Any
    max_unavailable: Any


@dataclass(frozen=True)
class ApiEndpoint:
    """A managed Kubernetes control plane's public endpoint."""

    public: bool
    public_cidrs: tuple[str, ...]
    """Who may reach it; empty when it is private."""


def api_endpoint(res: Res) -> ApiEndpoint | None:
    """EKS: ``vpcConfig.endpointPublicAccess`` defaults to true and ``publicAccessCidrs`` to 0.0.0.0/0 (EKS API
    reference, VpcConfigRequest), so an unset field means public to everyone."""
    if res.type == GKE_CLUSTER:
        return _gke_endpoint(res)
    if res.type != EKS_CLUSTER:
        return None
    vpc = _known(res.props.get("vpcConfig")) or {}
    public = vpc.get("endpointPublicAccess")
    public = True if public is None else bool(public)
    cidrs = tuple(vpc.get("publicAccessCidrs") or (["0.0.0.0/0"] if public else []))
    return ApiEndpoint(public=public, public_cidrs=cidrs if public else ())


def _gke_endpoint(res: Res) -> ApiEndpoint:
    """GKE: the endpoint is public unless ``privateClusterConfig.enablePrivateEndpoint``; without master
    authorised networks a public endpoint admits everyone (GKE API reference, MasterAuthorizedNetworksConfig)."""
    priv = _known(res.props.get("privateClusterConfig")) or {}
    if priv.get("enablePrivateEndpoint"):
        return ApiEndpoint(public=False, public_cidrs=())
    man = _known(res.props.get("masterAuthorizedNetworksConfig"))
    cidrs = tuple(b.get("cidrBlock") for b in (man or {}).get("cidrBlocks") or [] if b.get("cidrBlock"))
    return ApiEndpoint(public=True, public_cidrs=cidrs if man is not None else ("0.0.0.0/0",))


def pdb(res: Res) -> Pdb | None:
    if res.type != PDB:
        return None
    spec = res.props.get("spec") or {}
    return Pdb(res=res, namespace=(res.props.get("metadata") or {}).get("namespace") or "default",
               selector=dict((spec.get("selector") or {}).get("matchLabels") or {}),
               min_available=spec.get("minAvailable"), max_unavailable=spec.get("maxUnavailable"))


def config_map_data(res: Res) -> dict[str, str]:
    if res.type != CONFIG_MAP:
        return {}
    return {k: str(v) for k, v in (res.props.get("data") or {}).items()}


# --- KEDA ScaledObjects ---------------------------------------------------------------------------
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


@dataclass(frozen=True)
class CronTrigger:
    timezone: str
    start: str
    end: str
    desired_replicas: int


@dataclass(frozen=True)
class ScaledObjectView:
    """A KEDA ScaledObject: what it scales, between which bounds, and its cron windows."""

    res: Res
    namespace: str
    name: str
    target_kind: str
    target_name: str
    min_replicas: int
    max_replicas: int
    cron: tuple[CronTrigger, ...]
    trigger_types: tuple[str, ...]


def scaled_object(res: Res) -> ScaledObjectView | None:
    """KEDA's defaults where a field is unset: minReplicaCount 0, maxReplicaCount 100, kind Deployment."""
    if res.type != SCALED_OBJECT:
        return None
    meta = res.props.get("metadata") or {}
    spec = res.props.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    triggers = [t for t in spec.get("triggers") or [] if isinstance(t, Mapping)]
    cron = tuple(CronTrigger(timezone=str((t.get("metadata") or {}).get("timezone", "")),
                             start=str((t.get("metadata") or {}).get("start", "")),
                             end=str((t.get("metadata") or {}).get("end", "")),
                             desired_replicas=_int((t.get("metadata") or {}).get("desiredReplicas")))
                 for t in triggers if t.get("type") == "cron")
    return ScaledObjectView(res=res, namespace=meta.get("namespace") or "default", name=meta.get("name") or res.name,
                            target_kind=ref.get("kind") or "Deployment", target_name=ref.get("name") or "",
                            min_replicas=_int(spec.get("minReplicaCount"), 0),
                            max_replicas=_int(spec.get("maxReplicaCount"), 100), cron=cron,
                            trigger_types=tuple(str(t.get("type")) for t in triggers))


def deployment_named(resources: Iterable[Res], namespace: str, name: str) -> Workload | None:
    for r in resources:
        if r.type == DEPLOYMENT:
            meta = r.props.get("metadata") or {}
            if (meta.get("namespace") or "default") == namespace and meta.get("name") == name:
                return workload(r)
    return None


def one_per_node(wl: Workload) -> bool:
    """True when a required pod anti-affinity on the node's hostname keeps the pod's own replicas apart."""
    terms = (((wl.pod.get("affinity") or {}).get("podAntiAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or [])
    for t in terms:
        sel = (t.get("labelSelector") or {}).get("matchLabels") or {}
        if t.get("topologyKey") == "kubernetes.io/hostname" and sel and all(wl.labels.get(k) == v for k, v in sel.items()):
            return True
    return False


def pod_gpus(wl: Workload) -> int:
    return sum(max(gpu_request(c)) for c in wl.containers)
