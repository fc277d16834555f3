"""The human-readable summary printed by `strait plan`."""
from __future__ import annotations

from collections import Counter

from strait.cost import CostEstimate
from strait.gpu_labels import GPU_LABEL, POOL_LABEL
from strait.plan.engine import PlanResult


def gpu_pools(plan: PlanResult) -> list[dict]:
    """GPU node pools of any cloud (EKS node groups, GKE node pools), read through policies/views."""
    from policies import views as v

    pools = []
    for res in v.from_plan_records(plan.resources):
        pool = v.node_pool(res)
        if pool is None or GPU_LABEL not in pool.labels:
            continue
        pools.append({"pool": pool.labels.get(POOL_LABEL), "gpu": pool.labels[GPU_LABEL],
                      "instance_types": list(pool.instance_types), "capacity": pool.capacity,
                      "min": pool.min_size, "desired": pool.desired_size, "max": pool.max_size})
    return pools


def render_summary(plan: PlanResult, cost: CostEstimate, out_dir: str, extra: list[str] | None = None) -> str:
    lines = [f"Strait offline plan: stack {plan.stack.stack} ({plan.stack.project}), region {cost.region}", ""]
    counts = Counter(r.type for r in plan.resources)
    lines.append(f"Resources: {len(plan.resources)} ({sum(1 for r in plan.resources if r.custom)} cloud/Kubernetes objects, "
                 f"{sum(1 for r in plan.resources if not r.custom)} components)")
    width = max(len(t) for t in counts) if counts else 10
    for t, n in sorted(counts.items()):
        lines.append(f"  {t:<{width}}  {n:>3}")
    lines.append("")
    lines.append("GPU nodes:")
    for p in gpu_pools(plan):
        lines.append(f"  {p['pool']}: {p['min']}-{p['max']} x {', '.join(p['instance_types'])} "
                     f"({p['gpu']}, {p['capacity'].lower().replace('_', '-')}), desired {p['desired']}")
    lines.append("")
    lines.append(f"Estimated monthly cost: ${cost.total():,.2f} expected, ${cost.total(worst=True):,.2f} at max size "
                 f"(730 h/month, catalog prices)")
    for c in cost.components:
        per = {"hours": "h", "VM-hours": "VM-h", "GiB-months": "GiB-month"}.get(c.unit, c.unit)
        price = ("price unknown" if c.unit_price_usd is None else f"${c.unit_price_usd:.4g}/{per} -> quantity unknown"
                 if c.monthly_cost_usd is None else f"${c.unit_price_usd:.4g}/{per} -> ${c.monthly_cost_usd:,.2f}")
        lines.append(f"  {c.name} [{c.resource}]: {price}")
    if cost.unknown:
        lines.append(f"  WARNING: {len(cost.unknown)} component(s) have no catalog price; the total leaves them out.")
    for w in (extra or []):
        lines.append(w)
    if plan.stack.placeholders:
        lines.append("")
        lines.append(f"Secrets not set in the stack file, planned with placeholders: {', '.join(plan.stack.placeholders)}")
    lines.append("")
    lines.append(f"Wrote {out_dir}/: resources.json, manifests/, litellm/ (config.yaml and the routing hook), "
                 "cost.json, policy-config.json, policy-report.md/.json/.sarif")
    return "\n".join(lines)
