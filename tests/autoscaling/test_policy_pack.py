"""The KEDA policies through CrossGuard's own front end (pulumi_policy's Policy objects fed argument bags, as the
engine feeds them): the same rules, the same messages, and (stack policies) the offending resource's URN."""
from __future__ import annotations

from tests.autoscaling.policy_cases import JKT, POOL, scaled_object
from tests.policies.builders import deployment
from tests.policies.test_pack import POLICIES, run_policy


def test_both_policies_are_in_the_pack_and_mandatory():
    for name in ("strait-keda-max-within-pool", "strait-keda-cron-window-valid"):
        assert POLICIES[name].enforcement_level.value == "mandatory"


def test_max_within_pool_through_crossguard():
    too_many = scaled_object(max_replicas=4)
    [(msg, urn)] = run_policy("strait-keda-max-within-pool", [POOL, deployment(), too_many])
    assert urn == too_many.urn and "maxReplicaCount 4 needs 4 nodes" in msg
    assert run_policy("strait-keda-max-within-pool", [POOL, deployment(), scaled_object(max_replicas=3)]) == []


def test_cron_zone_through_crossguard():
    bad = scaled_object(cron=[("Asia/Jakarta ", *JKT[1:])])  # a trailing space: no such zone
    [(msg, urn)] = run_policy("strait-keda-cron-window-valid", bad)
    assert urn is None and "timezone 'Asia/Jakarta '" in msg  # a resource policy reports on the resource itself
    assert run_policy("strait-keda-cron-window-valid", scaled_object(cron=[JKT])) == []


def test_spend_cap_through_crossguard_counts_autoscaled_replicas():
    [(msg, _)] = run_policy("strait-gpu-spend-monthly-cap", [POOL, deployment(), scaled_object(max_replicas=5)],
                            {"monthly_budget_usd": 12000})
    assert "$19,980/month" in msg and "maxReplicaCount needs 5 nodes" in msg
