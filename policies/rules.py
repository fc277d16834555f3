"""Strait's policy rules: pure functions over ``policies.views`` with their metadata.

The CrossGuard pack (``policies/__main__.py`` via ``policies.pack``) and the offline report
(``policies.harness``, used by ``strait plan``) both run the functions in ``RULES`` with the same
defaults (each rule's ``config_schema``). Nothing here imports pulumi or pulumi_policy.

Resource rules: ``check(res, cfg, ctx) -> [message]``.
Stack rules:    ``check(resources, cfg, ctx) -> [(message, urn or None)]``.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, Mapping

from policies import clock
from policies import views as v
from strait import sizing
from strait.catalog import PRICE_MAX_AGE_DAYS, Catalog
from strait.config.checks import startup_budget_seconds
from strait.cost import HOURS_PER_MONTH, worst_price
from strait.render.keda import cron_problem, timezone_problem


Severity = Literal["low", "medium", "high", "critical"]
Level = Literal["advisory", "mandatory", "remediate", "disabled"]


@dataclass(frozen=True)
class Ctx:
    catalog: Catalog
    today: dt.date = field(default_factory=clock.today)
    """The day catalog dates are judged against. Callers pass it (`strait plan --today`, the pack); the default
    reads $STRAIT_TODAY, then the clock (policies/clock.py)."""


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    severity: Severity
    enforcement: Level
    scope: Literal["resource", "stack"]
    check: Callable[..., list]
    config_schema: dict[str, Any] = field(default_factory=lambda: {"properties": {}})
    resource_types: frozenset[str] | None = None
    """Resource rules only: the types the rule looks at (None: every type)."""
    remediation: str = ""

    def applies_to(self, res_type: str) -> bool:
        return self.resource_types is None or res_type in self.resource_types


# --- shared lookups ---------------------------------------------------------------------------
find_checkpoint = sizing.find_checkpoint


def plan_for(server: v.VllmServer, ctx: Ctx):
    """(plan, arch, variant, gpu key, problem). ``problem`` says why no plan could be made."""
    found = find_checkpoint(server.model_path, ctx.catalog)
    if found is None:
        return None, None, None, None, (f"model path {server.model_path!r} names no checkpoint in the catalog "
                                        "(strait/catalog/data/models.yaml), so its memory cannot be checked")
    _, arch, _, var = found
    gpu_key = server.gpu
    gpu = ctx.catalog.gpus.get(gpu_key or "")
    if gpu is None:
        return None, arch, var, gpu_key, (f"the pod's nodeSelector {v.GPU_LABEL}={gpu_key!r} is not a catalog GPU, "
                                          "so its memory cannot be checked")
    dtype_bytes = 4 if server.dtype in ("float32", "float") else 2
    # A draft model (speculative decoding) adds its weights and its own KV per token to every GPU.
    draft_path = (server.speculative or {}).get("model")
    draft = find_checkpoint(str(draft_path), ctx.catalog) if draft_path else None
    draft_gib = draft[3].weights_gib / server.tensor_parallel_size if draft else 0.0
    draft_bpt = sizing.kv_bytes_per_token(draft[1], server.tensor_parallel_size, 1, server.kv_cache_dtype) if draft else 0
    plan = sizing.plan_server(  # vLLM's or SGLang's own memory accounting (server.engine)
        server.engine, arch, var.weights_gib, gpu.memory_gib, memory_fraction=server.gpu_memory_utilization,
        tp=server.tensor_parallel_size, pp=server.pipeline_parallel_size, kv_cache_dtype=server.kv_cache_dtype,
        dtype_bytes=dtype_bytes, block_size=server.block_size, max_model_len=server.max_model_len or arch.native_context,
        max_num_seqs=server.max_num_seqs, gpu_name=gpu_key or "", extra_gib=server.lora_gpu_gib(arch) + draft_gib,
        extra_bytes_per_token=draft_bpt)
    return plan, arch, var, gpu_key, None


# --- GPU spend --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolCost:
    urn: str
    name: str
    instance_types: tuple[str, ...]
    capacity: str
    desired: int
    max_nodes: int
    gpu: bool
    hourly_usd: float | None
    """Worst (highest) catalog price among the pool's types; None when any is unknown."""
    unknown_types: tuple[str, ...]
    price_as_of: dt.date | None
    price_source: str | None
    autoscaled_nodes: int = 0
    """Nodes the pool's KEDA-scaled servers reach at their maxReplicaCount (plus its fixed servers); 0 when
    nothing on it is autoscaled."""

    @property
    def worst_nodes(self) -> int:
        """Nodes priced in the worst case: the pool's max size, or more when its autoscaled servers' maximum
        needs more (then strait-keda-max-within-pool also fails)."""
        return max(self.max_nodes, self.autoscaled_nodes)

    def monthly(self, nodes: int, hours: float = HOURS_PER_MONTH) -> float | None:
        return None if self.hourly_usd is None else round(self.hourly_usd * nodes * hours, 2)


def pool_costs(resources: Iterable[v.Res], cat: Catalog) -> list[PoolCost]:
    resources = list(resources)
    scaled = {d.pool.res.urn: d for d in autoscaled_demand(resources, cat)}
    out = []
    for res in resources:
        pool = v.node_pool(res)
        if pool is None:
            continue
        price, offer, unknown = worst_price(list(pool.instance_types), pool.capacity, pool.region or "", cat)
        if pool.reserved_usd_per_hour is not None:  # a Capacity Block: its purchase price, not the catalog's
            price, unknown = pool.reserved_usd_per_hour, ()
        is_gpu = bool(pool.gpu_label) or any(cat.gpu_of(t) is not None for t in pool.instance_types)
        out.append(PoolCost(
            urn=res.urn, name=res.name, instance_types=pool.instance_types, capacity=pool.capacity,
            # Reserved capacity is paid whether a node runs in it or not.
            desired=pool.billed_desired, max_nodes=pool.billed_max, gpu=is_gpu,
            hourly_usd=price, unknown_types=unknown,
            price_as_of=offer.price.as_of if offer else None, price_source=offer.price.source if offer else None,
            autoscaled_nodes=scaled[res.urn].nodes if res.urn in scaled else 0))
    return out


def gpu_spend_totals(resources: Iterable[v.Res], cat: Catalog, hours: float = HOURS_PER_MONTH) -> dict[str, Any]:
    """Worst-case (max nodes) and expected (desired nodes) monthly GPU spend; unknown prices listed, never 0."""
    pools = [p for p in pool_costs(resources, cat) if p.gpu]
    known = [p for p in pools if p.hourly_usd is not None]
    return {"worst_monthly_usd": round(sum(p.monthly(p.worst_nodes, hours) for p in known), 2),
            "expected_monthly_usd": round(sum(p.monthly(p.desired, hours) for p in known), 2),
            "pools": pools, "unknown": [p for p in pools if p.hourly_usd is None]}


def check_gpu_spend(resources: list[v.Res], cfg: Mapping[str, Any], ctx: Ctx) -> list[tuple[str, str | None]]:
    budget = cfg.get("monthly_budget_usd")
    hours = cfg.get("hours_per_month", HOURS_PER_MONTH)
    spend = gpu_spend_totals(resources, ctx.catalog, hours)
    out: list[tuple[str, str | None]] = []
    for p in spend["unknown"]:
        out.append((f"GPU pool {p.name}: no catalog {p.capacity.replace('_', '-')} price for "
                    f"{', '.join(p.unknown_types)} in this region; an unknown price is not $0. Add the price to "
                    "strait/catalog/data, or use a type/capacity the catalog prices.", p.urn))
    if budget is None:
        return out
    worst, expected = spend["worst_monthly_usd"], spend["expected_monthly_usd"]
    if worst > budget:
        detail = "; ".join(f"{p.name}: {p.worst_nodes} x {'/'.join(p.instance_types)} x ${p.hourly_usd:.3f}/h x {hours:g} h"
                           f" = ${p.monthly(p.worst_nodes, hours):,.0f}"
                           + (f" (autoscaled servers' maxReplicaCount needs {p.autoscaled_nodes} nodes)"
                              if p.autoscaled_nodes else "")
                           for p in spend["pools"] if p.hourly_usd is not None)
        out.append((f"worst-case GPU spend ${worst:,.0f}/month (every pool at max size) exceeds the budget "
                    f"${budget:,.0f}/month; expected at desired size ${expected:,.0f}/month. {detail}. Lower max_size, "
                    "use spot capacity, or raise strait:monthly_budget_usd.", None))
    return out


def check_price_freshness(resources: list[v.Res], cfg: Mapping[str, Any], ctx: Ctx) -> list[tuple[str, str | None]]:
    max_age = cfg.get("max_age_days", PRICE_MAX_AGE_DAYS)
    out = []
    for p in pool_costs(resources, ctx.catalog):
        if p.price_as_of is not None and (ctx.today - p.price_as_of).days > max_age:
            out.append((f"node pool {p.name}: the catalog price of {'/'.join(p.instance_types)} is dated "
                        f"{p.price_as_of} ({(ctx.today - p.price_as_of).days} days old, limit {max_age}); "
                        "refresh strait/catalog/data before trusting the estimate.", p.urn))
    return out


# --- instance offered in region ---------------------------------------------------------------
def check_offered_in_region(res: v.Res, cfg: Mapping[str, Any], ctx: Ctx) -> list[str]:
    types = v.instance_types_of(res)
    region = v.region_of(res)
    if not types:
        return []
    if not region:
        return [f"cannot tell the region of {res.name}: its aws Provider sets no region; pass an explicit "
                "aws.Provider(region=...)"]
    out = []
    for it in types:
        spec = ctx.catalog.instance_types.get(it)
        offered = ", ".join(ctx.catalog.offered_in(region, gpu=None if spec is None else spec.gpu is not None))
        if spec is None:
            out.append(f"instance type {it} is not in the catalog; use one offered in {region}: {offered}")
        elif region not in spec.regions:
            out.append(f"instance type {it} is not offered in {region} according to the catalog; "
                       f"use one offered there: {offered or '(none)'}")
    return out


# --- max-model-len fits / concurrency / cap ---------------------------------------------------
def _fmt_plan(p: sizing.KvPlan, gpu: str, tp: int) -> str:
    # Pipeline stages (one per node of a multi-node server): say how the layers split; tokens are the worst stage's.
    stages = (f" x PP {len(p.stages)} (layers per stage {'/'.join(str(s.layers) for s in p.stages)}; stage 0 shown, "
              "KV tokens of the tightest stage)") if len(p.stages) > 1 else ""
    return (f"per GPU on {gpu} x TP {tp}{stages}: {p.total_gib:.2f} GiB x util = {p.requested_gib:.2f} GiB, minus weights "
            f"{p.weights_gib:.2f} GiB, activations {p.activation_gib:.2f} GiB and runtime {p.overhead_gib:.2f} GiB "
            f"leaves {p.min_available_kv_gib:.2f} GiB of KV = {p.kv_tokens:,} tokens at {p.bytes_per_token:,} B/token")


def check_max_model_len_fits(res: v.Res, cfg: Mapping[str, Any], ctx: Ctx) -> list[str]:
    server = v.vllm_server(res)
    if server is None:
        return []
    plan, arch, var, gpu, problem = plan_for(server, ctx)
    if problem:
        return [problem]
    out = []
    mml = server.max_model_len or arch.native_context
    mml_flag, engine = server.flag("max-model-len"), "SGLang" if server.engine == "sglang" else "vLLM"
    if mml > arch.native_context:
        out.append(f"{mml_flag} {mml:,} exceeds the model's native context {arch.native_context:,} tokens; "
                   f"set it to {arch.native_context:,} or less")
    tp = server.tensor_parallel_size
    if not plan.weights_fit:
        out.append(f"{var.weights_gib:.1f} GiB of weights do not fit: {_fmt_plan(plan, gpu, tp)}. Use a quantized "
                   "checkpoint, more tensor parallelism or a larger GPU")
    elif not plan.one_sequence_fits:
        out.append(f"one sequence of {mml_flag} {mml:,} tokens needs {mml * plan.bytes_per_token / sizing.GIB:.2f} GiB "
                   f"of KV cache but {_fmt_plan(plan, gpu, tp)}; {engine} would refuse to start. Set {mml_flag} to "
                   f"{plan.kv_tokens:,} or less, use --kv-cache-dtype fp8 (Ada/Hopper) or raise tensor parallelism")
    return out


def check_speculative_ngram_fit(res: v.Res, cfg: Mapping[str, Any], ctx: Ctx) -> list[str]:
    server = v.vllm_server(res)
    if server is None or not server.speculative or server.speculative.get("method") != "ngram":
        return []
    found = find_checkpoint(server.model_path, ctx.catalog)
    if found is None or not found[1].ngram_unsuitable:
        return []
    return [f"n-gram speculative decoding on {found[0]}, which the catalog marks unsuitable: "
            f"{' '.join(found[1].ngram_unsuitable.split())} Drafts that are mostly rejected cost a verification step "
            "each; turn speculative off for this model, or use a draft model"]


def check_kv_concurrency(res: v.Res, cfg: Mapping[str, Any], ctx: Ctx) -> list[str]:
    server = v.vllm_server(res)
    if server is None:
        return []
    plan, arch, _, gpu, problem = plan_for(server, ctx)
    if problem or not plan.weights_fit or not plan.one_sequence_fits:
        return []  # strait-max-model-len-fits reports these
    need = cfg.get("min_full_length_sequences") or plan.max_num_seqs
    have = plan.full_length_sequences
    if have >= need:
        return []
    mml = plan.max_model_len
    return [f"at --max-model-len {mml:,} the KV cache holds {have} full-length sequences per replica but "
            f"{need} must fit (--max-num-seqs {plan.max_num_seqs}): {need} x {mml:,} tokens x {plan.bytes_per_token:,} B = "
            f"{need * mml * plan.bytes_per_token / sizing.GIB:.1f} GiB vs {plan.min_available_kv_gib:.2f} GiB available "
            f"({_fmt_plan(plan, gpu, server.tensor_parallel_size)}). Beyond {have} long requests vLLM preempts and "
            f"recomputes; lower --max-num-seqs to {max(have, 1)}, or --max-model-len to {plan.kv_tokens // need:,}"]


def check_max_model_len_cap(resources: list[v.Res], cfg: Mapping[str, Any], ctx: Ctx) -> list[tuple[str, str | None]]:
    phases = {v.tag(r, "blueprint") for r in resources} - {None}
    caps = cfg.get("caps_by_phase") or {}
    applicable = [caps[p] for p in phases if p in caps]
    cap = min(applicable) if applicable else cfg.get("default_cap")
    if cap is None:
        return []
    where = f"phase {', '.join(sorted(phases))}" if applicable else "the default cap"
    out = []
    for r in resources:
        server = v.vllm_server(r)
        if server is not None and server.max_model_len and server.max_model_len > cap:
            out.append((f"{r.name}: --max-model-len {server.max_model_len:,} is above {where}'s cap of {cap:,} "
                        "tokens; long contexts multiply KV memory and latency. Lower it or raise the cap in the "
                        "policy config (caps_by_phase).", r.urn))
    return out


# --- serving hygiene --------------------------------------------------------------------------
def _tolerates_gpu(tolerations: list[Mapping[str, Any]]) -> bool:
    return any((t.get("key") == v.GPU_TAINT_KEY or (t.get("operator") == "Exists" and not t.get("key")))
               and t.get("effect") in (None, "", "NoSchedule") for t in tolerations)


def check_gpu_hygiene(res: v.Res, cfg: Mapping[str, Any], ctx: Ctx) -> list[str]:
    wl = v.workload(res)
    if wl is None:
        return []
    gpu_containers = [c for c in wl.all_containers if any(v.gpu_request(c))]
    if not gpu_containers and v.GPU_LABEL not in wl.node_selector:
        return []
    out = []
    if not gpu_containers:
        out.append(f"pods are pinned to GPU nodes ({v.GPU_LABEL}) but no container requests {v.GPU_RESOURCE}; "
                   "the device plugin will not give them a GPU and they block the node's GPUs from other pods")
    for c in gpu_containers:
        req, lim = v.gpu_request(c)
        if lim == 0:
            out.append(f"container {c.get('name')}: sets no {v.GPU_RESOURCE} limit (Kubernetes schedules extended "
                       "resources by limit); set limits equal to requests")
        elif req and req != lim:
            out.append(f"container {c.get('name')}: {v.GPU_RESOURCE} request {req} differs from limit {lim}")
    if not _tolerates_gpu(wl.tolerations):
        out.append(f"GPU pods do not tolerate the {v.GPU_TAINT_KEY} NoSchedule taint, so they can never schedule "
                   f"on the GPU pools; add {{key: {v.GPU_TAINT_KEY}, operator: Exists, effect: NoSchedule}}")
    if wl.long_running:
        need = cfg.get("min_startup_seconds", 300)
        server = v.vllm_server(res)
        if server is not None:
            found = find_checkpoint(server.model_path, ctx.catalog)
            if found is not None:
                per_gpu = found[3].weights_gib / max(1, server.tensor_parallel_size * server.pipeline_parallel_size)
                need = max(need, startup_budget_seconds(per_gpu))
        for c in (gpu_containers or wl.containers):
            have = v.probe_budget_seconds(c.get("startupProbe"))
            if not c.get("startupProbe"):
                out.append(f"container {c.get('name')}: no startupProbe; model load takes minutes and the liveness "
                           f"probe would kill it first. Add a startupProbe with at least {need} s of budget")
            elif have < need:
                out.append(f"container {c.get('name')}: the startupProbe allows {have} s (initialDelaySeconds + "
                           f"periodSeconds x failureThreshold) but loading needs about {need} s; raise failureThreshold")
    return out


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == val for k, val in selector.items())


def _pct(value: Any) -> float | None:
    if isinstance(value, str) and value.endswith("%"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    return None


def check_pdb_drain(resources: list[v.Res], cfg: Mapping[str, Any], ctx: Ctx) -> list[tuple[str, str | None]]:
    wls = [w for w in (v.workload(r) for r in resources) if w is not None]
    out = []
    for r in resources:
        b = v.pdb(r)
        if b is None:
            continue
        matched = [w for w in wls if w.namespace == b.namespace and _matches(b.selector, w.labels)]
        replicas = sum(w.replicas for w in matched)
        mu, ma = b.max_unavailable, b.min_available
        if mu is not None:
            if (_pct(mu) == 0) or (not isinstance(mu, str) and int(float(mu)) == 0):
                out.append((f"PDB {r.name}: maxUnavailable {mu} never allows an eviction, so node drains "
                            "(upgrades, spot reclaims, scale-down) block forever; use maxUnavailable: 1", r.urn))
        elif ma is not None:
            pct = _pct(ma)
            if pct is not None and pct >= 100:
                out.append((f"PDB {r.name}: minAvailable {ma} blocks every drain; use maxUnavailable: 1", r.urn))
            elif pct is None and matched and int(float(ma)) >= replicas:
                out.append((f"PDB {r.name}: minAvailable {ma} with {replicas} replica(s) never allows an eviction, "
                            "so node drains block forever; use maxUnavailable: 1", r.urn))
    return out


# --- plaintext secrets ------------------------------------------------------------------------
#: A variable or config key that names a credential (suffix match, so MAX_TOKENS or max_input_tokens do not count).
SECRET_NAME = re.compile(r"(^|[_-])(api[_-]?key|master[_-]?key|private[_-]?key|access[_-]?key([_-]?id)?"
                         r"|secret([_-]?(access[_-]?)?key)?|password|passwd|token|credentials?)$", re.IGNORECASE)
SECRET_VALUE = re.compile(
    r"(sk-(ant-|proj-)?[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|xox[baprs]-[A-Za-z0-9-]{10,}|-----BEGIN [A-Z ]*PRIVATE KEY-----|\[secret\])")
SECRET_ARG = re.compile(r"^--(api-key|hf-token|token|password|secret)(=|$)")
#: ``key: value`` lines in YAML/INI-ish text with a literal (not os.environ/...) value.
KEY_LINE = re.compile(r"^[ \t-]*[\"']?([\w-]+)[\"']?[ \t]*[:=][ \t]*[\"']?(?!os\.environ/)([^\s\"'#]+)", re.MULTILINE)


def _secret_like(value: str) -> bool:
    return bool(SECRET_VALUE.search(value))


def _could_be_credential(value: str) -> bool:
    """A literal under a credential-named key: numbers, booleans and short words are settings, not secrets."""
    v_ = value.strip().strip("\"'")
    if v_.lower() in ("null", "none", "~", "true", "false", "") or v_.startswith("${"):
        return False
    try:
        float(v_)
        return False
    except ValueError:
        return len(v_) >= 8


def check_plaintext_secrets(res: v.Res, cfg: Mapping[str, Any], ctx: Ctx) -> list[str]:
    out = []
    wl = v.workload(res)
    if wl is not None:
        for c in wl.all_containers:
            cname = c.get("name")
            for e in c.get("env") or []:
                name, val = str(e.get("name", "")), e.get("value")
                if val in (None, ""):
                    continue
                if (SECRET_NAME.search(name) and _could_be_credential(str(val))) or _secret_like(str(val)):
                    out.append(f"container {cname}: env {name} carries a literal value; read it from a Secret "
                               "(valueFrom.secretKeyRef)")
            argv = [str(a) for a in [*(c.get("command") or []), *(c.get("args") or [])]]
            for i, a in enumerate(argv):
                if SECRET_ARG.match(a) or _secret_like(a):
                    out.append(f"container {cname}: argument {a.split('=', 1)[0]!r} puts a credential on the command "
                               "line (visible in the pod spec and `ps`); pass it through an env var from a Secret")
    for key, text in v.config_map_data(res).items():
        if _secret_like(text):
            out.append(f"ConfigMap key {key!r} contains a credential-shaped value; ConfigMaps are not secret. Move it "
                       "to a Secret and reference it (LiteLLM: os.environ/VAR)")
            continue
        for m in KEY_LINE.finditer(text):
            lit = m.group(2)
            if not SECRET_NAME.search(m.group(1)) or not _could_be_credential(lit):
                continue
            out.append(f"ConfigMap key {key!r}: {m.group(1)} has a literal value; ConfigMaps are not secret. Use "
                       "os.environ/VAR and a Secret")
    return out


# --- a public control-plane endpoint ------------------------------------------------------------
def check_api_endpoint_public(res: v.Res, cfg: Mapping[str, Any], ctx: Ctx) -> list[str]:
    ep = v.api_endpoint(res)
    if ep is None or not ep.public:
        return []
    min_prefix = cfg.get("min_prefix_length", 16)
    wide = [c for c in ep.public_cidrs if ipaddress.ip_network(c, strict=False).prefixlen < min_prefix]
    if not wide:
        return []
    return [f"the Kubernetes API endpoint is public to {', '.join(wide)} (wider than /{min_prefix}): anyone there can "
            "reach the API server and probe it, and only authentication stands in the way. Narrow "
            "strait:cluster.api_public_cidrs to your office or CI egress ranges, or leave it empty for a private "
            "endpoint (then run pulumi from inside the VPC or over a VPN)"]


# --- KEDA autoscaling -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScaledServer:
    scaled: v.ScaledObjectView | None
    """None for a server on the pool with fixed replicas."""
    workload: v.Workload
    replicas: int
    """maxReplicaCount for an autoscaled server, spec.replicas for a fixed one."""
    per_node: int
    """Replicas one node of the pool holds (its GPUs / the pod's, and 1 under a hostname anti-affinity)."""

    @property
    def nodes(self) -> int:
        # A LeaderWorkerSet replica is a group of nodes_per_replica pods, one per node.
        return (-(-self.replicas // self.per_node) if self.per_node else 0) * self.workload.nodes_per_replica


@dataclass(frozen=True)
class PoolDemand:
    pool: v.NodePool
    servers: tuple[ScaledServer, ...]

    @property
    def nodes(self) -> int:
        return sum(s.nodes for s in self.servers)

    def detail(self) -> str:
        return ", ".join(f"{s.workload.res.name}: {s.replicas} {'max ' if s.scaled else 'fixed '}replicas / "
                         f"{s.per_node} per node = {s.nodes} nodes" for s in self.servers)


def _per_node(wl: v.Workload, pool: v.NodePool, cat: Catalog) -> int:
    gpus = v.pod_gpus(wl)
    node_gpus = [cat.instance_types[t].gpu_count for t in pool.instance_types if t in cat.instance_types]
    fit = (min(node_gpus) // gpus) if (gpus and node_gpus) else 1
    return min(fit, 1) if v.one_per_node(wl) else fit


def _pool_of(wl: v.Workload, pools: list[v.NodePool]) -> v.NodePool | None:
    """The pool a server's nodes come from: its nodeSelector's, or for a spot-first server (required node affinity
    over a spot and an on-demand pool, components/k8s/spot_fallback.py) its spot pool, the one it scales into."""
    from strait.cost import server_pools

    names = server_pools(wl)
    named = [p for p in pools if p.labels.get(v.POOL_LABEL) in names]
    return next((p for p in named if p.capacity == "spot"), named[0] if named else None) if len(names) > 1 else \
        next(iter(named), None)


def autoscaled_demand(resources: list[v.Res], cat: Catalog) -> list[PoolDemand]:
    """Per GPU pool with at least one KEDA-scaled server: every server on it at its most (autoscaled ones at
    maxReplicaCount, the others at their fixed replicas), in nodes."""
    pools = [p for p in (v.node_pool(r) for r in resources) if p is not None]
    scaled: dict[tuple[str, str], v.ScaledObjectView] = {}
    for r in resources:
        so = v.scaled_object(r)
        if so is not None and so.target_kind == "Deployment":
            scaled[(so.namespace, so.target_name)] = so
    by_pool: dict[str, list[ScaledServer]] = {}
    for r in resources:
        wl = v.workload(r)
        if wl is None or not wl.long_running:
            continue
        pool = _pool_of(wl, pools)
        if pool is None:
            continue
        so = scaled.get((wl.namespace, (r.props.get("metadata") or {}).get("name")))
        by_pool.setdefault(pool.res.urn, []).append(ScaledServer(
            scaled=so, workload=wl, replicas=so.max_replicas if so else wl.replicas, per_node=_per_node(wl, pool, cat)))
    out = []
    for p in pools:
        servers = by_pool.get(p.res.urn, [])
        if any(s.scaled for s in servers):
            out.append(PoolDemand(pool=p, servers=tuple(sorted(servers, key=lambda s: s.workload.res.name))))
    return out


def check_keda_max_within_pool(resources: list[v.Res], cfg: Mapping[str, Any], ctx: Ctx) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for r in resources:
        so = v.scaled_object(r)
        if so is not None and so.target_kind == "Deployment" and v.deployment_named(resources, so.namespace,
                                                                                   so.target_name) is None:
            out.append((f"ScaledObject {so.namespace}/{so.name} scales Deployment {so.target_name}, which this stack "
                        "does not create; KEDA would report it not found. Point scaleTargetRef at the model server's "
                        "Deployment.", r.urn))
    for d in autoscaled_demand(resources, ctx.catalog):
        pool = d.pool
        for s in d.servers:
            if s.scaled is None:
                continue
            if s.per_node == 0:
                out.append((f"ScaledObject {s.scaled.namespace}/{s.scaled.name}: a pod of {s.workload.res.name} needs "
                            f"{v.pod_gpus(s.workload)} GPUs but a node of pool {pool.res.name} has fewer; no replica "
                            "can ever schedule. Use a pool with more GPUs per node or less tensor parallelism.",
                            s.scaled.res.urn))
            elif s.nodes > pool.max_size:
                out.append((f"ScaledObject {s.scaled.namespace}/{s.scaled.name}: maxReplicaCount {s.replicas} needs "
                            f"{s.nodes} nodes ({s.per_node} replica(s) per node) but pool {pool.res.name} has at most "
                            f"{pool.max_size}; the replicas beyond it stay Pending while the queue grows. Lower "
                            f"max_replicas to {pool.max_size * s.per_node} or raise the pool's max_size to {s.nodes}.",
                            s.scaled.res.urn))
        if d.nodes > pool.max_size and all(s.nodes <= pool.max_size for s in d.servers):
            out.append((f"GPU pool {pool.res.name}: its servers together need {d.nodes} nodes at their maximum "
                        f"({d.detail()}) but the pool has at most {pool.max_size}. Lower their max_replicas or raise "
                        "the pool's max_size.", pool.res.urn))
    return out


def check_keda_cron(res: v.Res, cfg: Mapping[str, Any], ctx: Ctx) -> list[str]:
    so = v.scaled_object(res)
    if so is None:
        return []
    out = []
    for t in so.cron:
        where = f"cron trigger {t.start!r}-{t.end!r}"
        tz = timezone_problem(t.timezone)
        if tz:
            out.append(f"{where}: timezone {t.timezone!r} is {tz}; KEDA cannot load it, so the window never opens "
                       "and the business-hours floor never comes. Use an IANA name such as Asia/Jakarta")
        for key in ("start", "end"):
            problem = cron_problem(getattr(t, key))
            if problem:
                out.append(f"{where}: {key} {getattr(t, key)!r} {problem}; KEDA refuses the trigger")
        if t.start == t.end:
            out.append(f"{where}: start and end are the same schedule; KEDA refuses the trigger")
        if not 1 <= t.desired_replicas <= so.max_replicas:
            out.append(f"{where}: desiredReplicas {t.desired_replicas} must lie between 1 and maxReplicaCount "
                       f"{so.max_replicas}")
    return out


# --- the registry ---------------------------------------------------------------------------
_WORKLOADS = frozenset(v.POD_TEMPLATE_KINDS)
RULES: tuple[Rule, ...] = (
    Rule(
        name="strait-gpu-spend-monthly-cap",
        description="Worst-case monthly GPU spend (every pool at max size, catalog price x 730 h) stays within the "
                    "stack budget; unknown prices are violations.",
        severity="high", enforcement="mandatory", scope="stack", check=check_gpu_spend,
        config_schema={"properties": {
            "monthly_budget_usd": {"type": ["number", "null"], "default": None, "exclusiveMinimum": 0,
                                   "description": "Stack budget in USD/month (strait:monthly_budget_usd). "
                                                  "Default: no cap; unknown prices are still reported."},
            "hours_per_month": {"type": "number", "default": HOURS_PER_MONTH, "minimum": 1,
                                "description": "Hours in a billing month. Default: 730 (as AWS and Infracost)."}}},
        remediation="Lower gpu_pools.*.max_size, use spot capacity, or raise strait:monthly_budget_usd."),
    Rule(
        name="strait-gpu-price-fresh",
        description="Node pools are priced from catalog entries younger than the age limit.",
        severity="low", enforcement="advisory", scope="stack", check=check_price_freshness,
        config_schema={"properties": {
            "max_age_days": {"type": "integer", "default": PRICE_MAX_AGE_DAYS, "minimum": 1,
                             "description": f"Oldest acceptable price entry. Default: {PRICE_MAX_AGE_DAYS} days."}}},
        remediation="Refresh the instance's entry in strait/catalog/data/instances_*.yaml."),
    Rule(
        name="strait-instance-offered-in-region",
        description="Every instance type is offered in the region of its aws Provider, per the catalog.",
        severity="high", enforcement="mandatory", scope="resource", check=check_offered_in_region,
        resource_types=frozenset({v.NODE_GROUP, v.LAUNCH_TEMPLATE, v.GKE_NODE_POOL}),
        remediation="Pick an instance type the catalog lists for the region, or another region."),
    Rule(
        name="strait-speculative-ngram-fit",
        description="n-gram (prompt-lookup) speculative decoding runs only on models the catalog does not mark "
                    "unsuitable for it (reasoning models rarely repeat their prompt).",
        severity="low", enforcement="advisory", scope="resource", check=check_speculative_ngram_fit,
        resource_types=_WORKLOADS,
        remediation="Remove models.<key>.speculative, or use a draft model."),
    Rule(
        name="strait-max-model-len-fits",
        description="--max-model-len is within the model's native context and one sequence of that length fits the "
                    "KV cache left on the pod's GPU type and tensor parallelism (vLLM refuses to start otherwise).",
        severity="high", enforcement="mandatory", scope="resource", check=check_max_model_len_fits,
        resource_types=_WORKLOADS,
        remediation="Lower max_model_len, use fp8 KV cache or a quantized checkpoint, or raise tensor_parallel_size."),
    Rule(
        name="strait-kv-cache-concurrency",
        description="At --max-model-len, the KV cache holds --max-num-seqs full-length sequences (else vLLM preempts "
                    "under long-context load).",
        severity="medium", enforcement="advisory", scope="resource", check=check_kv_concurrency,
        resource_types=_WORKLOADS,
        config_schema={"properties": {
            "min_full_length_sequences": {"type": ["integer", "null"], "default": None, "minimum": 1,
                                          "description": "How many max-length sequences must fit at once. "
                                                         "Default: all of --max-num-seqs."}}},
        remediation="Lower max_num_seqs or max_model_len, or use fp8 KV cache."),
    Rule(
        name="strait-max-model-len-cap",
        description="--max-model-len stays under the cap set for the stack's phase (blueprint).",
        severity="medium", enforcement="mandatory", scope="stack", check=check_max_model_len_cap,
        config_schema={"properties": {
            "caps_by_phase": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 256},
                              "default": {"phase1_mvp": 32768},
                              "description": "Cap per blueprint (the 'blueprint' tag). Default: phase1_mvp 32768."},
            "default_cap": {"type": ["integer", "null"], "default": 131072, "minimum": 256,
                            "description": "Cap for phases not listed. Default: 131072; null: no cap."}}},
        remediation="Lower max_model_len, or raise the phase's cap in the policy config."),
    Rule(
        name="strait-gpu-serving-hygiene",
        description="GPU workloads set GPU limits, tolerate the GPU taint, and (long-running) have a startup probe "
                    "with enough budget for the model size.",
        severity="medium", enforcement="mandatory", scope="resource", check=check_gpu_hygiene,
        resource_types=_WORKLOADS,
        config_schema={"properties": {
            "min_startup_seconds": {"type": "integer", "default": 300, "minimum": 0,
                                    "description": "Startup budget floor; vLLM pods need 5 min + 20 s per GiB of "
                                                   "weights per GPU. Default: 300."}}},
        remediation="Render GPU pods through components/k8s (GPU_TOLERATION, startup probe from the weights size)."),
    Rule(
        name="strait-pdb-allows-drain",
        description="No PodDisruptionBudget can block node drains forever (maxUnavailable 0, or minAvailable >= "
                    "replicas).",
        severity="medium", enforcement="mandatory", scope="stack", check=check_pdb_drain,
        remediation="Use maxUnavailable: 1 (components.k8s.common.pdb_spec)."),
    Rule(
        name="strait-eks-endpoint-public",
        description="The cluster's API endpoint is private, or public only to ranges no wider than the limit.",
        severity="high", enforcement="advisory", scope="resource", check=check_api_endpoint_public,
        resource_types=frozenset({v.EKS_CLUSTER, v.GKE_CLUSTER}),
        config_schema={"properties": {
            "min_prefix_length": {"type": "integer", "default": 16, "minimum": 0, "maximum": 32,
                                  "description": "Narrowest allowed public range: a CIDR with a shorter prefix (more "
                                                 "addresses, 0.0.0.0/0 above all) is reported. Default: 16."}}},
        remediation="Set strait:cluster.api_public_cidrs to your office or CI egress ranges, or to [] (private)."),
    Rule(
        name="strait-keda-max-within-pool",
        description="Every KEDA ScaledObject scales a Deployment the stack creates, and its maxReplicaCount fits its "
                    "GPU pool's max size (replicas per node from the node's GPUs and the pod's anti-affinity), alone "
                    "and together with the pool's other servers.",
        severity="high", enforcement="mandatory", scope="stack", check=check_keda_max_within_pool,
        remediation="Lower the model's autoscaling max_replicas, or raise its pool's max_size."),
    Rule(
        name="strait-keda-cron-window-valid",
        description="Every KEDA cron trigger names an IANA time zone that exists, five-field schedules KEDA parses, "
                    "distinct start and end, and desiredReplicas within the ScaledObject's bounds.",
        severity="high", enforcement="mandatory", scope="resource", check=check_keda_cron,
        resource_types=frozenset({v.SCALED_OBJECT}),
        remediation="Set business_hours.timezone to a tz database name (Asia/Jakarta) and HH:MM start/end."),
    Rule(
        name="strait-no-plaintext-secrets",
        description="No credentials in plain text in container env, args or ConfigMaps.",
        severity="critical", enforcement="mandatory", scope="resource", check=check_plaintext_secrets,
        resource_types=_WORKLOADS | {v.CONFIG_MAP},
        remediation="Keep credentials in Pulumi secrets -> Kubernetes Secrets; reference them with secretKeyRef or "
                    "os.environ/VAR."),
)

BY_NAME = {r.name: r for r in RULES}
