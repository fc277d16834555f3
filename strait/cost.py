"""Monthly cost estimate from a plan's resources and the catalog's dated prices (Infracost-style).

A month is 730 hours. Each cost component carries its quantity, unit, unit price, monthly cost, and the
source and date of the price. A price the catalog does not have is reported as unknown, never as 0.

``cost.json`` (``CostEstimate.as_json``) groups components by resource like Infracost's JSON
(``resources[].costComponents[]``), adds totals, and a serving section: dollars per million output
tokens per model server at a prompt/response mix (default 500 in, 200 out), from the KV planner's batch and a
memory/compute roofline (``strait.sizing.serving_throughput``, calibrated on published vLLM runs), at an
assumed utilisation; beside it the commercial tier's list price for the same mix
(``strait/catalog/data/provider_prices.yaml``), so the break-even is visible. ``diff()`` compares two
cost.json documents for ``strait plan --compare-to``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from policies import views as v
from strait import sizing
from strait.catalog import Catalog
from strait.catalog.schema import ProviderPrice
from strait.gpu_labels import POOL_LABEL

HOURS_PER_MONTH = 730
COST_FORMAT = "strait-cost/1"
#: Assumed share of each hour a model server spends decoding at its KV-limited batch. Default for $/Mtok.
DEFAULT_UTILISATION = 0.5
#: Assumed prompt + output tokens per sequence when estimating the decode batch.
DEFAULT_AVG_CONTEXT_TOKENS = 2048
#: The request mix $/M tokens is quoted at (the seeds' 500 prompt / 200 output tokens).
DEFAULT_PROMPT_TOKENS = sizing.DEFAULT_PROMPT_TOKENS
DEFAULT_OUTPUT_TOKENS = sizing.DEFAULT_OUTPUT_TOKENS


@dataclass(frozen=True)
class CostComponent:
    resource: str
    """Resource name (URN tail)."""
    resource_type: str
    name: str
    unit: str
    monthly_quantity: float
    """At the expected (desired) size."""
    unit_price_usd: float | None
    monthly_cost_usd: float | None
    monthly_cost_max_usd: float | None
    """At the worst case (max size) for scalable resources."""
    price_source: str | None = None
    price_as_of: str | None = None

    @property
    def price_known(self) -> bool:
        return self.unit_price_usd is not None


@dataclass(frozen=True)
class ServingCost:
    """What one model server's tokens cost (per replica, steady decode)."""

    resource: str
    model_path: str
    gpu: str
    tensor_parallel_size: int
    replicas: int
    batch: int
    tokens_per_second_per_replica: float
    hourly_usd_per_replica: float | None
    utilisation: float
    usd_per_million_tokens: float | None
    """Per million OUTPUT tokens at the mix (each carries prompt/output prompt tokens, included)."""
    note: str = ""
    bound: str = ""
    """'memory' or 'compute': the roof the throughput estimate hits."""
    speculative_tokens_per_step: float = 1.0
    hourly_usd_per_replica_worst: float | None = None
    """Set when the server runs spot-first with an on-demand fallback (several pools): the dearest pool's price, the
    worst case when spot is gone; ``hourly_usd_per_replica`` is then the cheapest (spot) pool's, the expected one."""
    usd_per_million_tokens_worst: float | None = None


@dataclass
class CostEstimate:
    region: str
    components: list[CostComponent] = field(default_factory=list)
    serving: list[ServingCost] = field(default_factory=list)
    assumptions: dict[str, Any] = field(default_factory=dict)
    commercial: list[dict[str, Any]] = field(default_factory=list)
    """The gateway's commercial models at the same mix: list price per million output tokens."""

    @property
    def unknown(self) -> list[CostComponent]:
        return [c for c in self.components if not c.price_known]

    def total(self, worst: bool = False) -> float:
        key = "monthly_cost_max_usd" if worst else "monthly_cost_usd"
        return round(sum(getattr(c, key) or 0.0 for c in self.components), 2)

    def as_json(self, stack: str | None = None) -> dict[str, Any]:
        resources: dict[str, dict[str, Any]] = {}
        for c in self.components:
            r = resources.setdefault(c.resource, {"name": c.resource, "resourceType": c.resource_type,
                                                  "monthlyCost": 0.0, "monthlyCostMax": 0.0, "costComponents": []})
            r["costComponents"].append({
                "name": c.name, "unit": c.unit, "monthlyQuantity": c.monthly_quantity, "price": c.unit_price_usd,
                "monthlyCost": c.monthly_cost_usd, "monthlyCostMax": c.monthly_cost_max_usd,
                "priceSource": c.price_source, "priceAsOf": c.price_as_of})
            if c.monthly_cost_usd is None:
                r["monthlyCost"] = r["monthlyCostMax"] = None
            elif r["monthlyCost"] is not None:
                r["monthlyCost"] = round(r["monthlyCost"] + c.monthly_cost_usd, 2)
                r["monthlyCostMax"] = round(r["monthlyCostMax"] + (c.monthly_cost_max_usd or 0.0), 2)
        return {
            "format": COST_FORMAT, "currency": "USD", "stack": stack, "region": self.region,
            "hoursPerMonth": HOURS_PER_MONTH, "assumptions": self.assumptions,
            "totalMonthlyCost": self.total(), "totalMonthlyCostMax": self.total(worst=True),
            "unknownPrices": len(self.unknown),
            "resources": sorted(resources.values(), key=lambda r: r["name"]),
            "serving": [asdict(s) for s in self.serving],
            "commercialComparison": self.commercial,
        }


def _service(cat: Catalog, key: str, region: str):
    svc = cat.services.get(key)
    return None if svc is None else svc.regions.get(region)


def estimate(resources: Iterable[Any], region: str, cat: Catalog, *, utilisation: float = DEFAULT_UTILISATION,
             avg_context_tokens: int = DEFAULT_AVG_CONTEXT_TOKENS, prompt_tokens: int = DEFAULT_PROMPT_TOKENS,
             output_tokens: int = DEFAULT_OUTPUT_TOKENS) -> CostEstimate:
    """``resources`` are plan ResourceRecords (type, name, inputs), read through the policies' views
    (policies/views.py): one parser of node groups and vLLM servers for cost and policies alike."""
    resources = v.from_plan_records(resources)
    est = CostEstimate(region=region, assumptions={
        "utilisation": utilisation, "promptTokens": prompt_tokens, "outputTokens": output_tokens,
        "avgContextTokens": avg_context_tokens,
        "decodeBandwidthEfficiency": sizing.DECODE_BANDWIDTH_EFFICIENCY,
        "computeEfficiency": sizing.COMPUTE_EFFICIENCY,
        "ngramAcceptance": sizing.DEFAULT_NGRAM_ACCEPTANCE,
        "throughputModel": "roofline per engine step: max(memory: weights + batch x (prompt + output/2) x "
                           "kv_bytes_per_token over bandwidth x efficiency; compute: 2 x params x batch x (1 + "
                           "prompt/output) over dense TFLOPS x efficiency); tokens/s = batch x tokens_per_step / "
                           "step; batch = min(max_num_seqs, kv_tokens / (prompt + output)); speculative decoding "
                           "multiplies tokens per step and verification compute; one replica per node",
        "usdPerMillionTokens": "per million output tokens at the mix, the prompt tokens they carry included, at "
                               "utilisation; commercialComparison prices the same mix at list price",
        "calibration": "tests/data/throughput_cases.yaml (published vLLM runs; within 25% of each)"})
    for r in resources:
        pool = v.node_pool(r)
        if pool is not None:
            est.components.append(_node_group(pool, region, cat))
        elif r.type == "aws:eks/cluster:Cluster":
            p = _service(cat, "eks-control-plane", region)
            est.components.append(_hourly(r, "EKS control plane", p))
        elif r.type == "aws:ec2/natGateway:NatGateway":
            p = _service(cat, "nat-gateway-hour", region)
            est.components.append(_hourly(r, "NAT gateway", p))
        elif r.type == v.GKE_CLUSTER:
            est.components.append(_hourly(r, "GKE cluster management fee", _service(cat, "gke-cluster-fee", region)))
    est.components += _gcp_usage(resources, region, cat)
    est.serving = serving_costs(resources, region, cat, utilisation=utilisation, prompt_tokens=prompt_tokens,
                                output_tokens=output_tokens)
    est.commercial = commercial_comparison(resources, prompt_tokens, output_tokens)
    return est


def _hourly(r: Any, name: str, price) -> CostComponent:
    unit = None if price is None else price.usd
    cost = None if unit is None else round(unit * HOURS_PER_MONTH, 2)
    return CostComponent(resource=r.name, resource_type=r.type, name=name, unit="hours", monthly_quantity=HOURS_PER_MONTH,
                         unit_price_usd=unit, monthly_cost_usd=cost, monthly_cost_max_usd=cost,
                         price_source=None if price is None else price.source,
                         price_as_of=None if price is None else str(price.as_of))


GCP_ROUTER_NAT = "gcp:compute/routerNat:RouterNat"
GCS_BUCKET = "gcp:storage/bucket:Bucket"


def _gcp_usage(resources: list[v.Res], region: str, cat: Catalog) -> list[CostComponent]:
    """GCP components priced by what else the plan holds: Cloud NAT per VM behind it (every node of the
    cluster, expected and at max size), and each checkpoint the GCS weight cache stores (its seeding Job
    names the bucket and the Hugging Face repo; the catalog gives the checkpoint's size)."""
    out: list[CostComponent] = []
    pools = [p for p in (v.node_pool(r) for r in resources) if p is not None and p.res.type == v.GKE_NODE_POOL]
    nat = _service(cat, "cloud-nat-vm-hour", region)
    for r in resources:
        if r.type != GCP_ROUTER_NAT:
            continue
        nodes, nodes_max = sum(p.desired_size for p in pools), sum(p.max_size for p in pools)
        unit = None if nat is None else nat.usd
        out.append(CostComponent(
            resource=r.name, resource_type=r.type, name=f"Cloud NAT gateway ({nodes}-{nodes_max} VMs; data processing "
            "not included)", unit="VM-hours", monthly_quantity=nodes * HOURS_PER_MONTH, unit_price_usd=unit,
            monthly_cost_usd=None if unit is None else round(unit * nodes * HOURS_PER_MONTH, 2),
            monthly_cost_max_usd=None if unit is None else round(unit * nodes_max * HOURS_PER_MONTH, 2),
            price_source=None if nat is None else nat.source, price_as_of=None if nat is None else str(nat.as_of)))
    buckets = {r.props.get("name"): r for r in resources if r.type == GCS_BUCKET}
    gcs = _service(cat, "gcs-standard", region)
    sizes = {var.hf_repo: var.weights_gib for arch in cat.models.values() for var in arch.variants.values()}
    for r in resources:
        if r.type != "kubernetes:batch/v1:Job":
            continue
        for c in ((((r.props.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []):
            env = {e.get("name"): e.get("value") for e in c.get("env") or [] if isinstance(e, dict)}
            if env.get("STORE") != "gcs" or env.get("BUCKET") not in buckets:
                continue
            gib, bucket, unit = sizes.get(env.get("HF_REPO")), buckets[env["BUCKET"]], None if gcs is None else gcs.usd
            cost = None if unit is None or gib is None else round(unit * gib, 2)
            out.append(CostComponent(
                resource=bucket.name, resource_type=bucket.type, name=f"Cloud Storage Standard ({env.get('HF_REPO')})",
                unit="GiB-months", monthly_quantity=gib or 0.0, unit_price_usd=unit, monthly_cost_usd=cost,
                monthly_cost_max_usd=cost, price_source=None if gcs is None else gcs.source,
                price_as_of=None if gcs is None else str(gcs.as_of)))
    return out


def worst_price(instance_types: list[str], capacity: str, region: str, cat: Catalog):
    """(price, offer, unknown): the highest catalog price among a pool's types and the offer it came from,
    and the types the catalog has no price for. ``price`` is None when any type is unknown: never a silent 0."""
    worst, unknown = None, []
    for it in instance_types:
        offer = cat.offer(it, region)
        price = offer.hourly_usd(capacity) if offer else None
        if price is None:
            unknown.append(it)
        elif worst is None or price > worst[0]:
            worst = (price, offer)
    if unknown or worst is None:
        return None, worst[1] if worst else None, tuple(unknown)
    return worst[0], worst[1], ()


def _node_group(pool: v.NodePool, region: str, cat: Catalog) -> CostComponent:
    r, types, capacity = pool.res, list(pool.instance_types), pool.capacity
    # Reserved capacity (ODCR, Capacity Block, GKE reservation) is paid whether a node runs in it or not.
    desired, mx = pool.billed_desired, pool.billed_max
    price, offer, _ = worst_price(types, capacity, region, cat)
    label = f"Instance usage (Linux, {capacity.replace('_', '-')}, {', '.join(types)})"
    if pool.reserved_nodes:
        label += f", {pool.reserved_nodes} reserved"
    if pool.reserved_usd_per_hour is not None:  # a Capacity Block: the price paid at purchase
        price = pool.reserved_usd_per_hour
        return CostComponent(
            resource=r.name, resource_type=r.type, name=label, unit="hours", monthly_quantity=desired * HOURS_PER_MONTH,
            unit_price_usd=price, monthly_cost_usd=round(price * desired * HOURS_PER_MONTH, 2),
            monthly_cost_max_usd=round(price * mx * HOURS_PER_MONTH, 2),
            price_source="Capacity Block purchase price (stack config: gpu_pools.<pool>.reservation.usd_per_hour)")
    if price is None:
        return CostComponent(resource=r.name, resource_type=r.type, name=label, unit="hours",
                             monthly_quantity=desired * HOURS_PER_MONTH, unit_price_usd=None, monthly_cost_usd=None,
                             monthly_cost_max_usd=None)
    return CostComponent(
        resource=r.name, resource_type=r.type, name=label, unit="hours", monthly_quantity=desired * HOURS_PER_MONTH,
        unit_price_usd=price, monthly_cost_usd=round(price * desired * HOURS_PER_MONTH, 2),
        monthly_cost_max_usd=round(price * mx * HOURS_PER_MONTH, 2),
        price_source=offer.price.source, price_as_of=str(offer.price.as_of))


# --- dollars per million tokens -------------------------------------------------------------------
def server_pools(wl: v.Workload) -> list[str]:
    """The GPU pools a server may run on: its nodeSelector's pool, else the pools its required node affinity names
    (spot-first over a spot and an on-demand pool of the same GPU, components/k8s/spot_fallback.py)."""
    if wl.node_selector.get(POOL_LABEL):
        return [wl.node_selector[POOL_LABEL]]
    required = (((wl.pod.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    return sorted({val for term in required.get("nodeSelectorTerms") or [] for e in term.get("matchExpressions") or []
                   if e.get("key") == POOL_LABEL and e.get("operator") == "In" for val in e.get("values") or []})


def serving_costs(resources: list[v.Res], region: str, cat: Catalog, *, utilisation: float = DEFAULT_UTILISATION,
                  prompt_tokens: int = DEFAULT_PROMPT_TOKENS,
                  output_tokens: int = DEFAULT_OUTPUT_TOKENS) -> list[ServingCost]:
    """$ per million output tokens for each model server (each replica holds one node of its pool)."""
    pools = {}
    for r in resources:
        pool = v.node_pool(r)
        if pool is not None:
            pools[pool.labels.get(POOL_LABEL)] = (pool.reserved_usd_per_hour if pool.reserved_usd_per_hour is not None
                                                  else worst_price(list(pool.instance_types), pool.capacity, region, cat)[0])
    out = []
    for r in resources:
        srv = v.vllm_server(r)
        if srv is None:
            continue
        model, gpu_key, tp, replicas = srv.model_path, srv.gpu, srv.tensor_parallel_size, srv.workload.replicas
        found, gpu = sizing.find_checkpoint(model, cat), cat.gpus.get(gpu_key or "")
        # Spot-first over several pools: expected at the cheapest (spot), worst case at the dearest (on-demand).
        prices = [pools[p] for p in server_pools(srv.workload) if pools.get(p) is not None]
        hourly = min(prices) if prices else None
        worst = max(prices) if len(prices) > 1 else None
        if hourly is not None:  # a multi-node replica (LeaderWorkerSet group) holds one node per pipeline stage
            hourly *= srv.workload.nodes_per_replica
            worst = worst * srv.workload.nodes_per_replica if worst is not None else None
        if found is None or gpu is None:
            out.append(ServingCost(resource=r.name, model_path=model, gpu=str(gpu_key), tensor_parallel_size=tp,
                                   replicas=replicas, batch=0, tokens_per_second_per_replica=0.0,
                                   hourly_usd_per_replica=hourly, utilisation=utilisation, usd_per_million_tokens=None,
                                   note="model or GPU not in the catalog"))
            continue
        _, arch, _, var = found
        plan = sizing.plan_server(srv.engine, arch, var.weights_gib, gpu.memory_gib,
                                  memory_fraction=srv.gpu_memory_utilization, tp=tp, pp=srv.pipeline_parallel_size,
                                  kv_cache_dtype=srv.kv_cache_dtype, max_model_len=srv.max_model_len,
                                  max_num_seqs=srv.max_num_seqs, gpu_name=gpu_key, extra_gib=srv.lora_gpu_gib(arch))
        spec = srv.speculative or {}
        k = int(spec.get("num_speculative_tokens") or 0) if spec.get("method") == "ngram" else 0
        est = sizing.serving_throughput(plan, params_billion=arch.params_billion, tp=tp,
                                        memory_bandwidth_gbps=gpu.memory_bandwidth_gbps, dense_tflops=gpu.bf16_dense_tflops,
                                        prompt_tokens=prompt_tokens, output_tokens=output_tokens, speculative_k=k,
                                        acceptance=sizing.DEFAULT_NGRAM_ACCEPTANCE if k else 0.0)
        tps = est.output_tokens_per_second
        per_m = round(hourly / (tps * 3600 * utilisation) * 1e6, 2) if hourly is not None and tps > 0 else None
        per_m_worst = round(worst / (tps * 3600 * utilisation) * 1e6, 2) if worst is not None and tps > 0 else None
        out.append(ServingCost(resource=r.name, model_path=model, gpu=gpu_key, tensor_parallel_size=tp,
                               replicas=replicas, batch=est.batch, tokens_per_second_per_replica=round(tps, 1),
                               hourly_usd_per_replica=hourly, utilisation=utilisation, usd_per_million_tokens=per_m,
                               note="" if hourly is not None else "pool price unknown", bound=est.bound,
                               speculative_tokens_per_step=round(est.tokens_per_step, 3),
                               hourly_usd_per_replica_worst=worst, usd_per_million_tokens_worst=per_m_worst))
    return out


PROVIDER_PRICES = Path(__file__).parent / "catalog" / "data" / "provider_prices.yaml"


def provider_prices() -> dict[str, ProviderPrice]:
    """The commercial models' list prices (dated, sourced), keyed ``provider/model``."""
    import yaml

    raw = yaml.safe_load(PROVIDER_PRICES.read_text(encoding="utf-8")) or {}
    return {k: ProviderPrice(**p) for k, p in (raw.get("prices") or {}).items()}


def commercial_comparison(resources: list[v.Res], prompt_tokens: int, output_tokens: int) -> list[dict[str, Any]]:
    """Each commercial model the gateway's config names, priced at the same mix as the self-hosted servers."""
    import yaml

    prices, seen, out = provider_prices(), set(), []
    for r in resources:
        text = v.config_map_data(r).get("config.yaml")
        if not text or "model_list" not in text:
            continue
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            continue
        for d in doc.get("model_list") or []:
            model = str((d.get("litellm_params") or {}).get("model", ""))
            if model.startswith("hosted_vllm/") or model in seen:
                continue
            seen.add(model)
            p = prices.get(model)
            out.append({"tier": d.get("model_name"), "model": model,
                        "usdPerMillionInput": p.input_usd_per_million if p else None,
                        "usdPerMillionOutput": p.output_usd_per_million if p else None,
                        "usdPerMillionOutputAtMix": round(p.usd_per_million_output_at(prompt_tokens, output_tokens), 2)
                        if p else None,
                        "priceSource": p.source if p else None, "priceAsOf": str(p.as_of) if p else None})
    return sorted(out, key=lambda c: c["model"])


# --- diff against a previous plan ---------------------------------------------------------------------
def load_cost_json(path: str | Path, stack: str | None = None) -> dict[str, Any]:
    """A cost.json file, or a previous `strait plan` out dir (``DIR/cost.json`` or ``DIR/<stack>/cost.json``)."""
    p = Path(path)
    if p.is_dir():
        for cand in ([p / stack / "cost.json"] if stack else []) + [p / "cost.json"]:
            if cand.is_file():
                p = cand
                break
        else:
            raise FileNotFoundError(f"no cost.json under {path}")
    doc = json.loads(p.read_text())
    if doc.get("format") != COST_FORMAT:
        raise ValueError(f"{p} is not a Strait cost.json ({COST_FORMAT})")
    return doc


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Past, new and change per resource and in total (monthly, expected size), Infracost-style."""
    o = {r["name"]: r for r in old.get("resources", [])}
    n = {r["name"]: r for r in new.get("resources", [])}
    rows = []
    for name in sorted(set(o) | set(n)):
        before = o.get(name, {}).get("monthlyCost") if name in o else 0.0
        after = n.get(name, {}).get("monthlyCost") if name in n else 0.0
        change = None if before is None or after is None else round(after - before, 2)
        if change == 0:
            continue
        rows.append({"name": name, "resourceType": (n.get(name) or o.get(name))["resourceType"],
                     "pastMonthlyCost": before, "monthlyCost": after, "diffMonthlyCost": change,
                     "status": "added" if name not in o else "removed" if name not in n else "changed"})
    past, now = old.get("totalMonthlyCost", 0.0), new.get("totalMonthlyCost", 0.0)
    return {"pastTotalMonthlyCost": past, "totalMonthlyCost": now, "diffTotalMonthlyCost": round(now - past, 2),
            "pastTotalMonthlyCostMax": old.get("totalMonthlyCostMax", 0.0),
            "totalMonthlyCostMax": new.get("totalMonthlyCostMax", 0.0),
            "diffTotalMonthlyCostMax": round(new.get("totalMonthlyCostMax", 0.0) - old.get("totalMonthlyCostMax", 0.0), 2),
            "resources": rows}
