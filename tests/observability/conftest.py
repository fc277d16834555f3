"""Shared inputs for the observability tests: a rules spec shaped like the phase1-sg stack."""
from __future__ import annotations

import shutil

import pytest

from strait.render.alerts import ModelTarget, NodePrice, RulesSpec



def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # a judge that is missing is a failure, not a skip
        pytest.fail(f"{name} not found: run scripts/setup.sh --test (installs Debian's prometheus package)")
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _binary("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return _binary("prometheus")


def phase1_like_spec(**overrides) -> RulesSpec:
    kw = dict(
        models=(ModelTarget(key="qwen32b", served_model_name="qwen32b", namespace="strait-serving", replicas=2,
                            ttft_slo_ms=500, gpu_memory_utilization=0.90),),
        self_hosted_tiers=("self-hosted",),
        node_prices=(NodePrice(pool="t4x4", instance_type="g4dn.12xlarge", usd_per_hour=5.474),),
        monthly_budget_usd=10000,
    )
    kw.update(overrides)
    return RulesSpec(**kw)


@pytest.fixture
def spec() -> RulesSpec:
    return phase1_like_spec()


@pytest.fixture(scope="session")
def litellm_scrape(tmp_path_factory) -> dict:
    """One real proxy run: a served request, a fallback, a total failure; then /metrics with and without the key."""
    from tests.observability.fakes import FakeUpstream
    from tests.observability.litellm_proxy import COMMERCIAL_TIER, SELF_HOSTED_TIER, LiteLLMProxy

    work = tmp_path_factory.mktemp("litellm")
    with FakeUpstream() as vllm, FakeUpstream() as anthropic:
        proxy = LiteLLMProxy(work, vllm, anthropic).start()
        try:
            served = proxy.chat(SELF_HOSTED_TIER)
            vllm.failing = True
            fallback = proxy.chat(SELF_HOSTED_TIER)
            anthropic.failing = True
            failed = proxy.chat(SELF_HOSTED_TIER)
            direct = proxy.chat(COMMERCIAL_TIER)
            unauth_status, _ = proxy.metrics(key=None)
            status, text = proxy.metrics()
        finally:
            proxy.stop()
    return {"served": served, "fallback": fallback, "failed": failed, "direct": direct,
            "unauth_status": unauth_status, "status": status, "text": text}
