"""The LiteLLM master key stays in the gateway's namespace (issue 8: it was Prometheus's scrape token).

Prometheus scrapes the gateway's own metrics port (`--prometheus_metrics_port`, key-less, admitted by
NetworkPolicy for Prometheus only; tests/security/test_flows.py), so no credential is handed to monitoring.
The plan records which resources each Secret's values come from, so the test follows the master key's
RandomPassword to every Secret built from it.
"""
from __future__ import annotations

import pytest

from tests.conftest import STACKS

GATEWAY_NS = "strait-gateway"
MASTER_KEY_RESOURCE = "litellm-master-key"


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_outside_the_gateway_namespace_holds_the_master_key(planned, stack):
    resources = planned[stack].resources
    key = [r for r in resources if r["name"] == MASTER_KEY_RESOURCE and r["type"].startswith("random:")]
    assert len(key) == 1, "the plan no longer generates the master key; follow it another way"
    holders = [r for r in resources if r["type"] == "kubernetes:core/v1:Secret" and key[0]["urn"] in r["dependencies"]]
    assert [(h["inputs"]["metadata"]["namespace"], h["inputs"]["metadata"]["name"]) for h in holders] == [
        (GATEWAY_NS, "litellm-keys")]


@pytest.mark.parametrize("stack", STACKS)
def test_no_service_monitor_carries_a_credential(planned, stack):
    monitors = [d for _, d in planned[stack].manifests() if d["kind"] == "ServiceMonitor"]
    assert monitors
    for m in monitors:
        for ep in m["spec"]["endpoints"]:
            assert not {"authorization", "bearerTokenSecret", "basicAuth", "oauth2"} & set(ep), m["metadata"]["name"]
    lite = [m for m in monitors if m["metadata"]["name"] == "litellm"]
    assert lite and lite[0]["spec"]["endpoints"][0]["port"] == "metrics"
