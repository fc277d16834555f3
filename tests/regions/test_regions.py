"""strait/regions.py: the region x phase x cloud decision, README's table, and the stacks it names."""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest
import yaml

from blueprints.registry import BLUEPRINTS
from strait.catalog import load_catalog
from strait.regions import BEGIN, END, PHASE_NEEDS, SEA_REGIONS, cells, decide, render_table, splice
from tests.conftest import ROOT, STACKS


def _stack(name: str) -> dict:
    return yaml.safe_load((ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text())["config"]


def test_readme_table_is_current():
    readme = (ROOT / "README.md").read_text()
    assert BEGIN in readme and END in readme
    assert splice(readme, render_table(load_catalog())) == readme, \
        "README's region table is stale: run `python -m strait.regions --write`"


def _landed() -> set[str]:
    """Blueprints that have at least one stack file: their every region cell must have its stack."""
    return {_stack(s).get("strait:blueprint") for s in STACKS}


@pytest.mark.parametrize("cell", [c for c in cells(load_catalog()) if c.stack],
                         ids=lambda c: f"{c.blueprint}-{c.region}")
def test_every_cell_that_can_hold_a_phase_has_its_stack(cell):
    if cell.blueprint not in BLUEPRINTS or cell.blueprint not in _landed():
        pytest.skip(f"{cell.blueprint} has no stack yet")
    path = ROOT / "stacks" / f"Pulumi.{cell.stack}.yaml"
    assert path.is_file(), f"{cell.region} can hold {cell.blueprint} ({cell.reason}) but {path.name} is missing"
    cfg = _stack(cell.stack)
    assert cfg["strait:blueprint"] == cell.blueprint and cfg["strait:region"] == cell.region
    assert cfg.get("strait:cloud", "aws") == cell.cloud


@pytest.mark.parametrize("stack", STACKS)
def test_no_stack_where_the_catalog_says_the_phase_does_not_fit(stack):
    cfg, cat = _stack(stack), load_catalog()
    if cfg.get("strait:blueprint") not in PHASE_NEEDS:
        pytest.skip("not a phase blueprint")
    cloud, region = cfg.get("strait:cloud", "aws"), cfg["strait:region"]
    code = next(c for cl, r, _, c in SEA_REGIONS if (cl, r) == (cloud, region))
    cell = decide(cat, cloud, region, code, cfg["strait:blueprint"])
    assert cell.stack is not None, f"{stack} runs where the catalog says it cannot: {cell.reason}"
    gpus = {cat.instance_types[t].gpu for p in cfg["strait:gpu_pools"].values() for t in p["instance_types"]}
    assert gpus & set(cell.fits), f"{stack}: none of its GPUs {sorted(gpus)} meets the phase ({cell.fits})"


def _cat(**types) -> NS:
    """A tiny fake catalog: one AWS region 'r1'; ``types`` name -> (gpu, count, on_demand, spot) or CPU (None...)."""
    from datetime import date
    its = {n: NS(gpu=g, gpu_count=c, cloud="aws", regions={"r1": NS(on_demand_usd_per_hour=od, spot_usd_per_hour=sp,
                                                                     as_of=date(2026, 8, 26))})
           for n, (g, c, od, sp) in types.items()}
    return NS(regions={"r1": NS(cloud="aws", as_of=date(2026, 11, 23))}, instance_types=its,
              gpus={"A10G": NS(memory_gib=22.0), "T4": NS(memory_gib=14.56), "H100-80GB": NS(memory_gib=79.0)})


CPU = ("m", (None, 0, 0.25, 0.1))


def test_decide_reads_only_the_catalog():
    cat = _cat(**dict([CPU]), g=("A10G", 1, 1.4, None))
    assert decide(cat, "aws", "r1", "x", "phase1_mvp").stack == "phase1-x"
    assert "no spot price" in decide(cat, "aws", "r1", "x", "phase2_scale").reason
    cat.instance_types["g"].regions["r1"].spot_usd_per_hour = 0.4          # a spot price makes phase 2 possible
    assert decide(cat, "aws", "r1", "x", "phase2_scale").stack == "phase2-x"
    assert "22 GiB per GPU, needs 39" in decide(cat, "aws", "r1", "x", "phase3_prod").reason
    assert decide(cat, "gcp", "r1", "x", "phase1_mvp").stack is None       # region of the other cloud


def test_decide_refusals():
    assert "no GPU" in decide(_cat(**dict([CPU])), "aws", "r1", "x", "phase1_mvp").reason
    assert "system-node" in decide(_cat(g=("A10G", 1, 1.4, 0.4)), "aws", "r1", "x", "phase1_mvp").reason
    small = decide(_cat(**dict([CPU]), g=("T4", 1, 0.7, 0.3)), "aws", "r1", "x", "phase1_mvp")
    assert small.stack is None and "14.56 GiB" in small.reason
    dear = decide(_cat(**dict([CPU]), p=("H100-80GB", 8, 75.0, None)), "aws", "r1", "x", "phase1_mvp")
    assert dear.stack is None and "above $15,000" in dear.reason
    assert decide(_cat(**dict([CPU]), p=("H100-80GB", 8, 75.0, None)), "aws", "r1", "x", "phase3_prod").stack == \
        "phase3-x"
    assert "not in the catalog" in decide(_cat(), "gcp", "asia-southeast3", "bkk", "phase1_mvp").reason
