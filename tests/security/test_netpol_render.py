"""strait/render/netpol.py on its own: the shapes every component relies on, judged by the evaluator."""
from __future__ import annotations

import ipaddress

import pytest

from strait.render import netpol
from tests.security.netpol_eval import Cluster, External, Policy, Pod, allowed

NS = "apps"
WEB = Pod("web", NS, {"app": "web"}, {"http": 8000})
OTHER_NS_POD = Pod("x", "other", {"app": "x"})
DNS = Pod("coredns", "kube-system", dict(netpol.DNS_POD_LABELS))


def cluster(*specs: dict) -> Cluster:
    return Cluster(namespaces={NS: {}, "other": {}, "kube-system": {}},
                   policies=[Policy(f"p{i}", NS, s) for i, s in enumerate(specs)])


def test_the_baseline_denies_everything_but_dns():
    c = cluster(*netpol.namespace_baseline().values())
    assert set(netpol.namespace_baseline()) == {"default-deny", "allow-dns"}
    assert not allowed(c, OTHER_NS_POD, WEB, 8000)
    assert not allowed(c, WEB, External("1.1.1.1"), 443)
    assert allowed(c, WEB, DNS, 53, "UDP") and allowed(c, WEB, DNS, 53, "TCP")
    assert not allowed(c, WEB, DNS, 80)


def test_a_workload_policy_lists_both_directions_even_without_rules():
    spec = netpol.workload_policy({"app": "web"})
    assert spec["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in spec and "egress" not in spec
    assert not allowed(Cluster({NS: {}}, [Policy("p", NS, spec)]), WEB, External("1.1.1.1"), 443)


def test_public_https_excludes_every_non_public_range_and_the_metadata_endpoint():
    c = cluster(netpol.workload_policy({"app": "web"}, egress=[netpol.public_https("test")]))
    assert allowed(c, WEB, External("93.184.216.34"), 443)
    assert not allowed(c, WEB, External("93.184.216.34"), 80)
    for ip in ("10.1.2.3", "172.20.0.1", "192.168.1.1", "100.64.0.1", "127.0.0.1", "169.254.169.254",
               "169.254.170.23"):
        assert not allowed(c, WEB, External(ip), 443), ip
    metadata = ipaddress.ip_network(netpol.METADATA_CIDR)
    assert any(metadata.subnet_of(ipaddress.ip_network(n)) for n in netpol.NON_PUBLIC_CIDRS)


def test_pods_peer_needs_both_namespace_and_labels():
    c = cluster(netpol.workload_policy({"app": "web"}, ingress=[
        netpol.Allow((netpol.pods_peer("other", {"app": "x"}),), netpol.tcp("http"))]))
    assert allowed(c, OTHER_NS_POD, WEB, 8000)
    assert not allowed(c, Pod("y", "other", {"app": "y"}), WEB, 8000)
    assert not allowed(c, Pod("x", NS, {"app": "x"}), WEB, 8000)
    assert not allowed(c, OTHER_NS_POD, WEB, 8001)


def test_prometheus_peer_needs_the_scraper_namespace_and_the_operators_pod_label():
    c = cluster(netpol.workload_policy({"app": "web"}, ingress=[netpol.Allow((netpol.prometheus_peer(),), netpol.tcp(8000))]))
    c.namespaces["monitoring"] = {netpol.SCRAPER_LABEL: "true"}
    assert allowed(c, Pod("prometheus-0", "monitoring", dict(netpol.PROMETHEUS_POD_LABELS)), WEB, 8000)
    assert not allowed(c, Pod("grafana", "monitoring", {"app.kubernetes.io/name": "grafana"}), WEB, 8000)
    assert not allowed(c, Pod("prometheus-0", "other", dict(netpol.PROMETHEUS_POD_LABELS)), WEB, 8000)


def test_an_allow_without_peers_is_refused():
    with pytest.raises(ValueError, match="at least one peer"):
        netpol.Allow((), netpol.tcp(80))


def test_rendering_is_deterministic():
    a = netpol.pods_peer("ns", {"b": "2", "a": "1"})
    assert list(a["podSelector"]["matchLabels"]) == ["a", "b"]
    assert netpol.workload_policy({"z": "1", "a": "2"}) == netpol.workload_policy({"a": "2", "z": "1"})
