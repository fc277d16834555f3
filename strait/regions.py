"""Which phase can run in which Southeast Asian region, on which cloud: decided from the catalog alone.

:func:`decide` is pure (catalog in, :class:`Cell` out). README.md's region table is :func:`render_table`'s
output (tests/regions/ fail when it is stale), and every cell that can hold a phase names the stack file that
must exist for it (same tests). A phase's minimum (:data:`PHASE_NEEDS`) is stated with the reason for it.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Monthly hours the cost report uses.
HOURS_PER_MONTH = 730
#: Issue 12: phase 3 is "Production, $15,000+/month"; phases 1 and 2 stay under it.
PHASE3_FLOOR_USD_MONTH = 15_000


@dataclass(frozen=True)
class PhaseNeed:
    stack_prefix: str
    min_node_gpu_gib: float
    """GPU memory the node needs in total."""
    min_gpu_gib: float = 0.0
    """GPU memory each GPU needs."""
    min_gpus_per_node: int = 1
    needs_spot: bool = False
    """A spot price and an on-demand price for the same type (spot first, on-demand fallback of the same GPU)."""
    max_node_usd_month: float | None = None
    """On-demand price of one node at most this (730 h)."""
    why: str = ""


PHASE_NEEDS: dict[str, PhaseNeed] = {
    "phase1_mvp": PhaseNeed(
        "phase1", min_node_gpu_gib=20.0, max_node_usd_month=PHASE3_FLOOR_USD_MONTH,
        why="one node holding a 7-8B model in BF16 (~15 GiB) with room for KV cache, on demand, below phase 3's "
            "$15,000/month"),
    "phase2_scale": PhaseNeed(
        "phase2", min_node_gpu_gib=20.0, needs_spot=True, max_node_usd_month=PHASE3_FLOOR_USD_MONTH,
        why="as phase 1, and the same type on spot and on demand (spot first, on-demand fallback of the same GPU)"),
    "phase3_prod": PhaseNeed(
        "phase3", min_node_gpu_gib=39.0, min_gpu_gib=39.0,
        why="a 70B model in bf16 (~131 GiB) served across nodes of one type: data-center GPUs of 40 GB or more each "
            "(A100 40/80GB, H100, H200; L40S if offered), so 4-8 of them hold it with KV cache"),
}

#: The Southeast Asian regions Strait considers, catalogued or not: (cloud, region, place, short code).
SEA_REGIONS: tuple[tuple[str, str, str, str], ...] = (
    ("aws", "ap-southeast-1", "Singapore", "sg"),
    ("aws", "ap-southeast-3", "Jakarta", "jkt"),
    ("aws", "ap-southeast-5", "Malaysia", "kl"),
    ("aws", "ap-southeast-7", "Thailand", "bkk"),
    ("gcp", "asia-southeast1", "Singapore", "sg"),
    ("gcp", "asia-southeast2", "Jakarta", "jkt"),
    ("gcp", "asia-southeast3", "Bangkok", "bkk"),
)


@dataclass(frozen=True)
class Cell:
    cloud: str
    region: str
    blueprint: str
    stack: str | None
    """The stack that holds this phase here, or None."""
    reason: str
    """What decided it: the qualifying types, or why none."""
    fits: tuple[str, ...] = ()


def stack_name(need: PhaseNeed, cloud: str, code: str) -> str:
    return f"{need.stack_prefix}-{code}" + ("-gke" if cloud == "gcp" else "")


def gpu_offers(cat, region: str) -> dict[str, list[str]]:
    """GPU model -> instance types offered (priced) in ``region``, from the catalog."""
    out: dict[str, list[str]] = {}
    for name, it in sorted(cat.instance_types.items()):
        if it.gpu and region in it.regions:
            out.setdefault(it.gpu, []).append(name)
    return out


def _fails(cat, need: PhaseNeed, name: str, region: str) -> str | None:
    it, price = cat.instance_types[name], cat.instance_types[name].regions[region]
    per_gpu = cat.gpus[it.gpu].memory_gib
    if it.gpu_count < need.min_gpus_per_node:
        return f"{it.gpu_count} GPU(s) per node, needs {need.min_gpus_per_node}"
    if per_gpu < need.min_gpu_gib:
        return f"{per_gpu:g} GiB per GPU, needs {need.min_gpu_gib:g}"
    if per_gpu * it.gpu_count < need.min_node_gpu_gib:
        return f"{per_gpu * it.gpu_count:g} GiB of GPU memory per node, needs {need.min_node_gpu_gib:g}"
    if need.needs_spot and (price.spot_usd_per_hour is None or price.on_demand_usd_per_hour is None):
        return "no spot price in the catalog"
    if need.max_node_usd_month is not None and price.on_demand_usd_per_hour is not None \
            and price.on_demand_usd_per_hour * HOURS_PER_MONTH > need.max_node_usd_month:
        return f"${price.on_demand_usd_per_hour * HOURS_PER_MONTH:,.0f}/month per node, above " \
               f"${need.max_node_usd_month:,.0f}"
    return None


def decide(cat, cloud: str, region: str, code: str, blueprint: str) -> Cell:
    """Can ``blueprint`` run in ``region`` on ``cloud``? Pure: reads only the catalog."""
    need = PHASE_NEEDS[blueprint]
    no = lambda why: Cell(cloud, region, blueprint, None, why)  # noqa: E731
    reg = cat.regions.get(region)
    if reg is None or reg.cloud != cloud:
        return no("not in the catalog's regions.yaml (no source for its zones)")
    offers = gpu_offers(cat, region)
    if not offers:
        return no("no GPU instance type offered there in the catalog")
    if not any(it.gpu is None and region in it.regions for it in cat.instance_types.values()):
        return no(f"GPUs ({', '.join(sorted(offers))}) but no system-node (CPU) type offered there in the catalog")
    fits, why_not = [], []
    for gpu, names in sorted(offers.items()):
        ok = [n for n in names if _fails(cat, need, n, region) is None]
        if ok:
            fits.append(gpu)
        else:
            why_not.append(f"{gpu}: {_fails(cat, need, names[-1], region)} ({names[-1]})")
    if not fits:
        return no("no type meets the phase: " + "; ".join(why_not))
    return Cell(cloud, region, blueprint, stack_name(need, cloud, code), "offers " + ", ".join(fits), tuple(fits))


def cells(cat, blueprints=None) -> list[Cell]:
    names = [b for b in PHASE_NEEDS if blueprints is None or b in blueprints]
    return [decide(cat, cloud, region, code, b) for cloud, region, _, code in SEA_REGIONS for b in names]


def _source(cat, cloud: str, region: str) -> str:
    dates = sorted({p.as_of.isoformat() for it in cat.instance_types.values() if it.gpu and it.cloud == cloud
                    for r, p in it.regions.items() if r == region})
    reg = cat.regions.get(region)
    where = f"instances_{cloud}.yaml" + (f" ({', '.join(dates)})" if dates else " (no GPU row)")
    return where + (f", regions.yaml ({reg.as_of.isoformat()})" if reg else f", RESEARCH_{cloud.upper()}.md")


def render_table(cat) -> str:
    """README's region x phase x cloud table (Markdown), from :func:`decide`."""
    phases = list(PHASE_NEEDS)
    lines = ["| cloud | region | " + " | ".join(phases) + " | catalog source (as of) |",
             "| --- | --- | " + " | ".join("---" for _ in phases) + " | --- |"]
    for cloud, region, place, code in SEA_REGIONS:
        row = []
        for b in phases:
            c = decide(cat, cloud, region, code, b)
            row.append(f"`{c.stack}`: {c.reason}" if c.stack else f"no stack: {c.reason}")
        lines.append(f"| {cloud.upper()} | {region} ({place}) | " + " | ".join(row) + f" | {_source(cat, cloud, region)} |")
    lines.append("")
    lines.append("What each phase needs: " + "; ".join(f"**{b}**: {n.why}" for b, n in PHASE_NEEDS.items()) + ".")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- regions-table:begin (python -m strait.regions --write) -->", "<!-- regions-table:end -->"


def splice(readme: str, table: str) -> str:
    """``readme`` with the text between the table markers replaced by ``table``."""
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}{END}{tail}"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    from strait.catalog import load_catalog

    table = render_table(load_catalog())
    if sys.argv[1:] == ["--write"]:
        path = Path(__file__).resolve().parents[1] / "README.md"
        path.write_text(splice(path.read_text(), table))
    else:
        sys.stdout.write(table)
