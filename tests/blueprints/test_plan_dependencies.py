"""Dependencies in a real plan: recorded once and compactly, and the ones that matter reach the Deployment."""
from __future__ import annotations

import pytest

from strait.plan.records import DependencyGraph
from tests.conftest import STACKS, load_stack_raw


def _components(resources: list[dict]) -> list[dict]:
    return [r for r in resources if not r["custom"]]


def _ancestors(r: dict, by_urn: dict[str, dict]) -> set[str]:
    out, p = set(), r["parent"]
    while p in by_urn:
        out.add(p)
        p = by_urn[p]["parent"]
    return out


@pytest.mark.parametrize("stack", STACKS)
def test_dependencies_are_sorted_unique_and_known(planned, stack):
    resources = planned[stack].resources
    urns = {r["urn"] for r in resources}
    for r in resources:
        deps = r["dependencies"]
        assert deps == sorted(set(deps)), r["name"]
        assert set(deps) <= urns, f"{r['name']} depends on resources the plan never registered"


@pytest.mark.parametrize("stack", STACKS)
def test_no_record_spells_out_a_whole_component(planned, stack):
    """`depends_on=[component]` is written as the component's URN, not as every resource under it."""
    resources = planned[stack].resources
    graph, by_urn = DependencyGraph(resources), {r["urn"]: r for r in resources}
    expansions = {c["urn"]: graph.expand([c["urn"]]) for c in _components(resources)}
    for r in resources:
        deps, own = set(r["dependencies"]), _ancestors(r, by_urn)
        for comp, exp in expansions.items():
            if comp not in own and len(exp) >= 2:
                assert not exp <= deps, f"{r['name']} lists all {len(exp)} resources of {by_urn[comp]['name']}"
            if comp in deps:  # no resource is listed twice, once by itself and once inside its component
                assert not (exp & deps), r["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_each_model_server_deployment_waits_for_its_own_seed_job(planned, stack):
    """The weights must be in the cache before the server starts: the engine must order the seed Job first."""
    resources = planned[stack].resources
    graph = DependencyGraph(resources)
    models = sorted(load_stack_raw(stack)["models"])

    def labelled(type_: str, **labels: str) -> list[dict]:
        return [r for r in resources if r["type"] == type_ and
                all((r["inputs"]["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())]

    for key in models:
        jobs = labelled("kubernetes:batch/v1:Job", **{"strait.dev/model": key})
        # A model server is a Deployment, or a LeaderWorkerSet for a model across nodes (phase 3).
        deploys = [r for kind in ("kubernetes:apps/v1:Deployment", "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet")
                   for r in labelled(kind, **{"app.kubernetes.io/component": "model-server",
                                              "app.kubernetes.io/instance": key})]
        assert len(jobs) == 1 and len(deploys) == 1, (key, [r["name"] for r in jobs + deploys])
        waits_for = graph.dependencies_of(deploys[0]["urn"])
        assert jobs[0]["urn"] in waits_for, f"Deployment {deploys[0]['name']} does not wait for {jobs[0]['name']}"
        # Its draft model and LoRA adapters have seed Jobs of their own, which it may wait for; another
        # model's weights it must not.
        others = {j["urn"] for other in models if other != key
                  for j in labelled("kubernetes:batch/v1:Job", **{"strait.dev/model": other})}
        assert not others & waits_for, f"{deploys[0]['name']} waits for another model's seed Job"
