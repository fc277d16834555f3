"""Priority-expander config: spot beats on-demand, regexes hit exactly one pool's ASG, output is stable."""
import re
from pathlib import Path

import pytest
import yaml

from strait.render.autoscaler import (
    ON_DEMAND_PRIORITY,
    OTHER_PRIORITY,
    SPOT_PRIORITY,
    extra_args,
    managed_asg_regex,
    priorities,
    render_priorities,
)
from tests.helpers import check_golden

GOLDEN = Path(__file__).parent / "golden"
GROUPS = {"prod-l40s-spot": "spot", "prod-l40s": "on_demand", "prod-a10g-spot": "spot"}
UUID = "40bbb26b-8679-eb64-d33a-4ba475413529"


def _winner(asg: str, prio: dict[int, list[str]]) -> int:
    """What the priority expander does: the highest priority with a matching regex."""
    return max(p for p, regexes in prio.items() if any(re.search(r, asg) for r in regexes))


def test_golden():
    check_golden(GOLDEN, "autoscaler-priorities.yaml", render_priorities(GROUPS))


def test_spot_pools_outrank_on_demand_and_everything_else_is_last():
    assert SPOT_PRIORITY > ON_DEMAND_PRIORITY > OTHER_PRIORITY
    prio = yaml.safe_load(render_priorities(GROUPS))  # the text the autoscaler parses
    assert _winner(f"eks-prod-l40s-spot-{UUID}", prio) == SPOT_PRIORITY
    assert _winner(f"eks-prod-a10g-spot-{UUID}", prio) == SPOT_PRIORITY
    assert _winner(f"eks-prod-l40s-{UUID}", prio) == ON_DEMAND_PRIORITY
    assert _winner(f"eks-strait-prod-system-{UUID}", prio) == OTHER_PRIORITY


def test_a_pool_name_that_prefixes_another_does_not_steal_its_priority():
    # "prod-l40s" is a prefix of "prod-l40s-spot": the on-demand regex must not match the spot ASG.
    on_demand = managed_asg_regex("prod-l40s")
    assert re.search(on_demand, f"eks-prod-l40s-{UUID}")
    assert not re.search(on_demand, f"eks-prod-l40s-spot-{UUID}")
    assert not re.search(on_demand, "prod-l40s")  # the node group name itself is not the ASG name


def test_output_is_stable_whatever_the_input_order():
    assert render_priorities(dict(reversed(list(GROUPS.items())))) == render_priorities(GROUPS)
    assert list(priorities(GROUPS)) == sorted(priorities(GROUPS))


@pytest.mark.parametrize("groups, message", [
    ({}, "no node groups"),
    ({"prod-l40s": "reserved"}, "capacity must be 'spot' or 'on_demand'"),
    ({"Prod_L40S": "spot"}, "not a DNS-1123 label"),
])
def test_bad_input_is_refused(groups, message):
    with pytest.raises(ValueError, match=message):
        render_priorities(groups)


def test_flags():
    args = extra_args(15)
    assert args["expander"] == "priority,least-waste"
    assert args["scale-down-unneeded-time"] == "15m"
    assert args["skip-nodes-with-local-storage"] == "false"
    assert args["balance-similar-node-groups"] == "true"
    with pytest.raises(ValueError, match="1..1440"):
        extra_args(0)
