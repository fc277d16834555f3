"""The CrossGuard front end: the real pulumi_policy Policy objects, fed hand-built argument bags, and the
real pack process (policies/__main__.py under pulumi-policy's gRPC server) over every stack's offline plan."""
from __future__ import annotations

import json

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies import harness, views
from policies.pack import build_policies
from policies.rules import RULES
from tests.conftest import STACKS
from tests.policies import builders
from tests.policies.engine import analyze_plan, configure, info, running_pack

POLICIES = {p.name: p for p in build_policies()}
OPTS = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                             custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[])


def _provider(res: views.Res):
    if res.provider_type is None:
        return None
    return PolicyProviderResource(resource_type=res.provider_type, props=res.provider_props,
                                  urn="urn:pulumi:s::p::pulumi:providers:aws::aws", name="aws")


def resource_args(res: views.Res, config=None) -> ResourceValidationArgs:
    return ResourceValidationArgs(resource_type=res.type, props=res.props, urn=res.urn, name=res.name, opts=OPTS,
                                  provider=_provider(res), config=config)


def stack_args(resources: list[views.Res], config=None) -> StackValidationArgs:
    prs = [PolicyResource(resource_type=r.type, props=r.props, urn=r.urn, name=r.name, opts=OPTS, provider=_provider(r),
                          parent=None, dependencies=[], property_dependencies={}) for r in resources]
    return StackValidationArgs(resources=prs, config=config)


def run_policy(name, target, config=None) -> list[tuple[str, str | None]]:
    got: list[tuple[str, str | None]] = []
    policy = POLICIES[name]
    args = stack_args(target, config) if isinstance(policy, StackValidationPolicy) else resource_args(target, config)
    policy.validate(args, lambda msg, urn=None: got.append((msg, urn)))
    return got


def test_pack_mirrors_the_rules():
    assert list(POLICIES) == [r.name for r in RULES]
    for r in RULES:
        p = POLICIES[r.name]
        assert isinstance(p, StackValidationPolicy if r.scope == "stack" else ResourceValidationPolicy)
        assert p.enforcement_level == EnforcementLevel(r.enforcement) and p.severity.value == r.severity
        assert (p.config_schema.properties if p.config_schema else {}) == r.config_schema.get("properties", {})


@pytest.mark.parametrize("res, config, expect", [
    (builders.node_group(types=("g5.12xlarge",)), None, "g5.12xlarge is not offered in ap-southeast-1"),
    (builders.node_group(), None, None),
    (builders.node_group(region=None), None, "cannot tell the region"),
])
def test_resource_policy_offered_in_region(res, config, expect):
    got = run_policy("strait-instance-offered-in-region", res, config)
    assert [m for m, _ in got] == ([] if expect is None else [m for m, _ in got if expect in m]) and bool(got) == bool(expect)


def test_resource_policy_max_model_len_fits_reads_the_deployment_args():
    bad = builders.deployment(args=builders.vllm_args(mml=32768, util=0.5))
    [(msg, urn)] = run_policy("strait-max-model-len-fits", bad)
    assert "vLLM would refuse to start" in msg and urn is None  # the engine attributes it to the resource
    assert run_policy("strait-max-model-len-fits", builders.deployment()) == []


def test_resource_policy_takes_config_from_the_args():
    dep = builders.deployment()
    assert run_policy("strait-kv-cache-concurrency", dep)  # default: all 32 sequences must fit
    assert run_policy("strait-kv-cache-concurrency", dep, {"min_full_length_sequences": 6}) == []
    hyg = builders.deployment(startup=(10, 30))  # 300 s: enough for the floor, not for 18 GiB of weights
    assert "needs about 390 s" in run_policy("strait-gpu-serving-hygiene", hyg)[0][0]


def test_resource_policy_ignores_types_it_does_not_judge():
    cm = builders.config_map({"k": "sk-" + "a" * 30})
    assert run_policy("strait-max-model-len-fits", cm) == []
    assert run_policy("strait-no-plaintext-secrets", cm)


def test_stack_policy_spend_uses_config_and_reports_urns():
    ng = builders.node_group()
    [(msg, urn)] = run_policy("strait-gpu-spend-monthly-cap", [ng], {"monthly_budget_usd": 5000})
    assert "exceeds the budget $5,000/month" in msg and urn is None
    assert run_policy("strait-gpu-spend-monthly-cap", [ng], {"monthly_budget_usd": 20000}) == []
    [(msg, urn)] = run_policy("strait-gpu-spend-monthly-cap", [builders.node_group(capacity="SPOT")])
    assert urn == ng.urn and "no catalog spot price" in msg


def test_stack_policy_pdb_matches_workloads():
    got = run_policy("strait-pdb-allows-drain", [builders.deployment(replicas=1), builders.pdb(min_available=1.0)])
    assert len(got) == 1 and got[0][1].endswith("::qwen32b-pdb")


def test_stack_policy_cap_reads_the_phase_tag():
    res = [builders.node_group(), builders.deployment(args=builders.vllm_args(mml=65536))]
    assert "phase1_mvp" in run_policy("strait-max-model-len-cap", res)[0][0]


# --- the real pack process ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pack():
    with running_pack() as stub:
        yield stub


def test_real_pack_describes_every_policy(pack):
    i = info(pack)
    assert i.name == "strait" and i.supportsConfig
    assert [p.name for p in i.policies] == [r.name for r in RULES]
    spend = next(p for p in i.policies if p.name == "strait-gpu-spend-monthly-cap")
    assert "monthly_budget_usd" in spend.configSchema.properties


@pytest.mark.parametrize("stack", STACKS)
def test_real_pack_over_every_stack_matches_the_offline_report(pack, planned, stack, ctx):
    p = planned[stack]
    resources = json.loads((p.dir / "resources.json").read_text())["resources"]
    pack_config = json.loads((p.dir / "policy-config.json").read_text())
    resolved = harness.resolve_config(pack_config)
    configure(pack, resolved)
    via_pack = analyze_plan(pack, resources)
    report = json.loads((p.dir / "policy-report.json").read_text())["policyEvents"]
    key = lambda e: (e["policyName"], e["resourceUrn"], e["enforcementLevel"])  # noqa: E731
    assert sorted(map(key, via_pack)) == sorted(map(key, report))
    # the SDK prefixes the description; the rest is the rule's own message
    for e in via_pack:
        assert any(e["message"].endswith(r["message"]) for r in report if key(r) == key(e))
    assert not [e for e in via_pack if e["enforcementLevel"] == "mandatory"]


def test_real_pack_enforcement_levels_follow_the_config(pack, planned):
    resources = json.loads((planned["phase1-sg"].dir / "resources.json").read_text())["resources"]
    configure(pack, harness.resolve_config({"all": "mandatory", "strait-gpu-spend-monthly-cap": {"monthly_budget_usd": 1}}))
    events = analyze_plan(pack, resources)
    assert {e["enforcementLevel"] for e in events} == {"mandatory"}
    assert any(e["policyName"] == "strait-gpu-spend-monthly-cap" for e in events)
    configure(pack, harness.resolve_config({"all": "disabled"}))
    assert analyze_plan(pack, resources) == []


def test_stack_policy_survives_unknown_preview_values():
    """Under `pulumi preview` unknown props raise on access; a stack rule must still judge what is known."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

    known = [builders.node_group(), builders.deployment(args=builders.vllm_args(mml=65536))]
    unknown = views.Res(urn="urn:pulumi:s::p::aws:s3/bucket:Bucket::b", type="aws:s3/bucket:Bucket", name="b",
                        props={"tags": UNKNOWN_STRING_VALUE, "bucket": UNKNOWN_STRING_VALUE})
    prs = [PolicyResource(resource_type=r.type, props=unknown_checking_proxy(dict(r.props)), urn=r.urn, name=r.name,
                          opts=OPTS, provider=_provider(r), parent=None, dependencies=[], property_dependencies={})
           for r in (*known, unknown)]
    got = []
    POLICIES["strait-max-model-len-cap"].validate(StackValidationArgs(resources=prs),
                                                  lambda msg, urn=None: got.append(msg))
    assert len(got) == 1 and "above phase phase1_mvp's cap" in got[0]
