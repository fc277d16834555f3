"""The spend cap at its exact boundary (issue 13, survivor 1): worst-case spend equal to the budget passes;
one cent over fails. Mutating `worst > budget` to `>=` (or the reverse) fails one of these."""
from __future__ import annotations

import pytest

from policies.rules import BY_NAME, gpu_spend_totals
from tests.policies.builders import node_group

RULE = BY_NAME["strait-gpu-spend-monthly-cap"]


@pytest.mark.parametrize("delta_usd,violates", [(0.0, False), (-0.01, True), (0.01, False)])
def test_spend_exactly_at_the_budget_is_within_it(ctx, delta_usd, violates):
    pools = [node_group()]
    worst = gpu_spend_totals(pools, ctx.catalog)["worst_monthly_usd"]
    assert worst == pytest.approx(3 * 5.474 * 730)  # the catalog's g4dn.12xlarge on-demand price
    messages = RULE.check(pools, {"monthly_budget_usd": worst + delta_usd, "hours_per_month": 730}, ctx)
    assert bool(messages) is violates, messages
