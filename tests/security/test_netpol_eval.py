"""The NetworkPolicy evaluator against the examples of the Kubernetes documentation.

Source: https://kubernetes.io/docs/concepts/services-networking/network-policies/ (the policies below are
its examples, verbatim in content: "test-network-policy" from examples/service/networking/networkpolicy.yaml,
"Behavior of to and from selectors", "Default policies", "Targeting a range of ports", "Targeting a Namespace
by its name"). Each row states what the page says the example allows or denies.
"""
from __future__ import annotations

import pytest

from tests.security.netpol_eval import Cluster, External, Policy, Pod, allowed

# --- examples/service/networking/networkpolicy.yaml ---------------------------------------------------------
TEST_NETWORK_POLICY = {
    "podSelector": {"matchLabels": {"role": "db"}},
    "policyTypes": ["Ingress", "Egress"],
    "ingress": [{"from": [{"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                          {"namespaceSelector": {"matchLabels": {"project": "myproject"}}},
                          {"podSelector": {"matchLabels": {"role": "frontend"}}}],
                 "ports": [{"protocol": "TCP", "port": 6379}]}],
    "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 5978}]}],
}
DB = Pod("db", "default", {"role": "db"})
FRONTEND = Pod("frontend", "default", {"role": "frontend"})
OTHER_DEFAULT = Pod("other", "default", {"role": "other"})
IN_MYPROJECT = Pod("any", "myproject-ns", {"app": "x"})
FRONTEND_ELSEWHERE = Pod("frontend", "elsewhere", {"role": "frontend"})
BASE_NAMESPACES = {"default": {}, "myproject-ns": {"project": "myproject"}, "elsewhere": {}}


def docs_cluster(*specs: dict, namespace: str = "default") -> Cluster:
    return Cluster(namespaces=dict(BASE_NAMESPACES),
                   policies=[Policy(f"p{i}", namespace, s) for i, s in enumerate(specs)])


@pytest.mark.parametrize("src,dst,port,expected,why", [
    (FRONTEND, DB, 6379, True, "podSelector role=frontend in the policy's namespace, on 6379"),
    (FRONTEND, DB, 80, False, "only TCP 6379 is allowed"),
    (IN_MYPROJECT, DB, 6379, True, "any pod of a namespace labelled project=myproject"),
    (OTHER_DEFAULT, DB, 6379, False, "a default-namespace pod that is not a frontend"),
    (FRONTEND_ELSEWHERE, DB, 6379, False, "podSelector alone means the policy's own namespace"),
    (External("172.17.0.5"), DB, 6379, True, "inside 172.17.0.0/16"),
    (External("172.17.1.5"), DB, 6379, False, "inside the except block 172.17.1.0/24"),
    (DB, External("10.0.0.7"), 5978, True, "egress to 10.0.0.0/24 on TCP 5978"),
    (DB, External("10.0.0.7"), 80, False, "egress on another port"),
    (DB, External("10.0.1.7"), 5978, False, "egress outside 10.0.0.0/24"),
    (FRONTEND, OTHER_DEFAULT, 80, True, "neither pod is selected by the policy: not isolated"),
])
def test_test_network_policy(src, dst, port, expected, why):
    assert allowed(docs_cluster(TEST_NETWORK_POLICY), src, dst, port) is expected, why


def test_udp_is_not_tcp():
    assert not allowed(docs_cluster(TEST_NETWORK_POLICY), FRONTEND, DB, 6379, "UDP")


# --- "Behavior of to and from selectors": one peer with both selectors (AND) vs two peers (OR) --------------
AND_PEER = {"podSelector": {"matchLabels": {"role": "db"}}, "ingress": [{"from": [
    {"namespaceSelector": {"matchLabels": {"user": "alice"}}, "podSelector": {"matchLabels": {"role": "client"}}}]}]}
OR_PEERS = {"podSelector": {"matchLabels": {"role": "db"}}, "ingress": [{"from": [
    {"namespaceSelector": {"matchLabels": {"user": "alice"}}}, {"podSelector": {"matchLabels": {"role": "client"}}}]}]}
ALICE_CLIENT = Pod("c", "alice-ns", {"role": "client"})
ALICE_OTHER = Pod("o", "alice-ns", {"role": "web"})
LOCAL_CLIENT = Pod("c", "default", {"role": "client"})


@pytest.mark.parametrize("spec,src,expected", [
    (AND_PEER, ALICE_CLIENT, True), (AND_PEER, ALICE_OTHER, False), (AND_PEER, LOCAL_CLIENT, False),
    (OR_PEERS, ALICE_CLIENT, True), (OR_PEERS, ALICE_OTHER, True), (OR_PEERS, LOCAL_CLIENT, True),
])
def test_and_versus_or_selectors(spec, src, expected):
    cluster = docs_cluster(spec)
    cluster.namespaces["alice-ns"] = {"user": "alice"}
    assert allowed(cluster, src, DB, 5432) is expected


# --- "Default policies" ---------------------------------------------------------------------------------------
DENY_INGRESS = {"podSelector": {}, "policyTypes": ["Ingress"]}
ALLOW_ALL_INGRESS = {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]}
DENY_EGRESS = {"podSelector": {}, "policyTypes": ["Egress"]}
ALLOW_ALL_EGRESS = {"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]}
DENY_ALL = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
OUT = Pod("out", "elsewhere", {})
INTERNET = External("93.184.216.34")


@pytest.mark.parametrize("specs,src,dst,expected,why", [
    ((DENY_INGRESS,), OUT, DB, False, "default-deny-ingress isolates every pod of the namespace"),
    ((DENY_INGRESS,), DB, INTERNET, True, "...but not for egress"),
    ((DENY_INGRESS, ALLOW_ALL_INGRESS), OUT, DB, True, "policies are additive: allow-all-ingress wins"),
    ((DENY_EGRESS,), DB, INTERNET, False, "default-deny-egress"),
    ((DENY_EGRESS,), OUT, DB, True, "...does not isolate ingress"),
    ((DENY_EGRESS, ALLOW_ALL_EGRESS), DB, INTERNET, True, "allow-all-egress"),
    ((DENY_ALL,), OUT, DB, False, "default-deny-all: ingress"),
    ((DENY_ALL,), DB, INTERNET, False, "default-deny-all: egress"),
    ((DENY_ALL,), DB, FRONTEND, False, "both ends isolated, nothing allowed"),
    ((DENY_ALL,), DB, DB, True, "a pod cannot block access to itself"),
])
def test_default_policies(specs, src, dst, expected, why):
    assert allowed(docs_cluster(*specs), src, dst, 8080) is expected, why


# --- "Targeting a range of ports" (multi-port-egress) --------------------------------------------------------
MULTI_PORT_EGRESS = {"podSelector": {"matchLabels": {"role": "db"}}, "policyTypes": ["Egress"], "egress": [{
    "to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 32000, "endPort": 32768}]}]}


@pytest.mark.parametrize("port,expected", [(31999, False), (32000, True), (32500, True), (32768, True), (32769, False)])
def test_port_range(port, expected):
    assert allowed(docs_cluster(MULTI_PORT_EGRESS), DB, External("10.0.0.9"), port) is expected


# --- "Targeting a Namespace by its name" ----------------------------------------------------------------------
BY_NAME = {"podSelector": {"matchLabels": {"role": "db"}}, "ingress": [{"from": [
    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "myproject-ns"}}}]}]}


def test_namespace_by_its_immutable_name_label():
    cluster = docs_cluster(BY_NAME)
    assert allowed(cluster, IN_MYPROJECT, DB, 1)
    assert not allowed(cluster, OUT, DB, 1)


# --- named ports and matchExpressions (API reference: NetworkPolicyPort.port, LabelSelectorRequirement) ----------
def test_named_port_resolves_on_the_destination_pod():
    web = Pod("web", "default", {"role": "db"}, ports={"http": 8000})
    spec = {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]}
    assert allowed(docs_cluster(spec), OUT, web, 8000)
    assert not allowed(docs_cluster(spec), OUT, web, 8001)
    assert not allowed(docs_cluster(spec), OUT, DB, 8000), "DB has no port named http"


def test_match_expressions():
    spec = {"podSelector": {"matchExpressions": [{"key": "role", "operator": "In", "values": ["db", "cache"]}]},
            "policyTypes": ["Ingress"]}
    assert not allowed(docs_cluster(spec), OUT, DB, 1)
    assert allowed(docs_cluster(spec), OUT, FRONTEND, 1)
