"""Flows proven through the rendered NetworkPolicies, for every stack in stacks/.

The judge is tests/security/netpol_eval.py (the NetworkPolicy semantics, checked against the Kubernetes
documentation's examples in test_netpol_eval.py); IBM's network-config-analyzer cross-checks the key flows.
Inputs are the plan's own manifests (namespaces, workloads' pod labels and ports, policies) plus the pods
Strait relies on but does not render: Prometheus (the operator's pod labels), CoreDNS, and a pod in a
namespace the stack never names.
"""
from __future__ import annotations

import ipaddress

import pytest

from strait.render.netpol import DNS_PORT
from strait.plan.mocks import MOCK_S3_CIDRS
from tests.conftest import STACKS, load_stack_raw
from tests.security.flows import NCA, load, nca_connectivity
from tests.security.netpol_eval import External, Pod, allowed

PUBLIC = External("93.184.216.34", "a public address (example.com)")
METADATA = External("169.254.169.254", "the instance metadata endpoint")
POD_IDENTITY = External("169.254.170.23", "the EKS Pod Identity agent")
#: Where a pod gets its cloud credentials. EKS: the Pod Identity agent; the instance metadata endpoint (node
#: credentials) stays denied. GKE: the GKE metadata server, which with Workload Identity (nodes in GKE_METADATA
#: mode) answers on the metadata address and serves only the pod's own Google identity, never the node's
#: (components/gcp/storage.py, GKE_METADATA).
CREDENTIALS = {"aws": ((POD_IDENTITY, 80),),
               "gcp": ((METADATA, 80), (External("169.254.169.252", "the GKE metadata server"), 988))}


def cloud_of(stack: str) -> str:
    return load_stack_raw(stack).get("cloud", "aws")


#: An address in the object store's range. AWS: the region's S3 prefix list, which the VPC's S3 gateway
#: endpoint reports at deploy time (the offline plan's mock reports RFC 5737 ranges, MOCK_S3_CIDRS). GKE:
#: Cloud Storage has no such list, so HTTPS to any public address (docs/network-policies.md).
OBJECT_STORE = {"aws": External(str(ipaddress.ip_network(MOCK_S3_CIDRS[0])[10]), "S3 (the prefix list)"), "gcp": PUBLIC}
#: Namespaces whose every pod may reach the object store over HTTPS, and why: Langfuse's web and worker
#: pods come from its Helm chart, whose pod labels the offline plan cannot see.
NAMESPACE_WIDE_HTTPS = {"strait-langfuse": "Langfuse uploads traces to the object store"}


@pytest.fixture(scope="module")
def nets(planned):
    return {s: load(planned[s].dir / "manifests") for s in STACKS}


def _one_port(pod: Pod, name: str = "http") -> int:
    assert name in pod.ports, f"{pod.namespace}/{pod.name} has no port named {name}: {pod.ports}"
    return pod.ports[name]


def check_every_strait_namespace_starts_from_deny_all(net, stack):
    strait_ns = [n for n, labels in net.cluster.namespaces.items() if labels.get("app.kubernetes.io/managed-by") == "strait"]
    assert len(strait_ns) >= 4, strait_ns
    for ns in strait_ns:
        deny = [p for p in net.cluster.policies if p.namespace == ns and p.spec.get("podSelector") == {}
                and sorted(p.spec.get("policyTypes", [])) == ["Egress", "Ingress"]
                and not p.spec.get("ingress") and not p.spec.get("egress")]
        assert deny, f"namespace {ns} has no default-deny policy for Ingress and Egress"
        probe = Pod("probe", ns, {"app.kubernetes.io/name": "not-a-strait-workload"})
        assert not allowed(net.cluster, net.intruder, probe, 80)
        assert not allowed(net.cluster, probe, PUBLIC, 80), f"an unlabelled pod in {ns} reaches the internet"
        store = OBJECT_STORE[cloud_of(stack)]
        assert allowed(net.cluster, probe, store, 443) is (ns in NAMESPACE_WIDE_HTTPS), \
            f"an unlabelled pod in {ns} reaches the object store over HTTPS"
        if cloud_of(stack) == "aws":
            assert not allowed(net.cluster, probe, PUBLIC, 443), f"an unlabelled pod in {ns} reaches the internet"
        assert allowed(net.cluster, probe, net.dns, DNS_PORT, "UDP") and allowed(net.cluster, probe, net.dns, DNS_PORT, "TCP")


def _gateways(net):
    """The gateway's own pods (component gateway), not other LiteLLM-named pods such as the teams-sync Job's."""
    return [p for p in net.by_name("litellm") if p.labels.get("app.kubernetes.io/component") == "gateway"]


def check_gateway_reaches_every_model_server(net, stack):
    gateways, servers = _gateways(net), net.by_component("model-server")
    assert gateways and servers
    for gw in gateways:
        for server in servers:
            assert allowed(net.cluster, gw, server, _one_port(server)), f"gateway cannot reach {server.name}"


def check_prometheus_reaches_metrics_ports_only(net, stack):
    for server in net.by_component("model-server"):
        assert allowed(net.cluster, net.prometheus, server, _one_port(server)), f"Prometheus cannot scrape {server.name}"
        assert not allowed(net.cluster, net.prometheus, server, 22)
    for gw in _gateways(net):
        assert allowed(net.cluster, net.prometheus, gw, _one_port(gw, "metrics")), "Prometheus cannot scrape the gateway"
        assert not allowed(net.cluster, net.prometheus, gw, _one_port(gw, "http")), \
            "Prometheus reaches the gateway's API port (it needs only the metrics port)"


def check_gateway_api_port_only_from_the_named_client_namespaces(net, stack):
    clients = load_stack_raw(stack).get("gateway", {}).get("client_namespaces", [])
    for ns in clients:
        net.cluster.namespaces.setdefault(ns, {})
    for gw in _gateways(net):
        port = _one_port(gw, "http")
        assert not allowed(net.cluster, net.intruder, gw, port), "a namespace the stack never names reaches the gateway"
        assert not allowed(net.cluster, net.intruder, gw, _one_port(gw, "metrics"))
        for ns in clients:
            assert allowed(net.cluster, Pod("client", ns, {"app": "client"}), gw, port), f"client namespace {ns} is cut off"


def _router_of(net, server):
    """The vLLM router in front of ``server`` (its pods' instance is ``<server>-router``), or None."""
    return next((r for r in net.by_name("vllm-router") if r.labels.get("app.kubernetes.io/instance") ==
                 f"{server.labels.get('app.kubernetes.io/instance')}-router"), None)


def check_no_other_namespace_or_pod_reaches_a_model_server(net, stack):
    others = [net.intruder] + [p for p in net.pods if p.labels.get("app.kubernetes.io/component") not in
                               ("model-server", "gateway")]
    assert any(p.labels.get("app.kubernetes.io/name") == "weight-seeder" for p in others)
    for server in net.by_component("model-server"):
        # Its own router forwards to it (check_routers_forward_to_their_model_server_only); nobody else.
        for other in [o for o in others if o is not _router_of(net, server)]:
            assert not allowed(net.cluster, other, server, _one_port(server)), f"{other.namespace}/{other.name} reaches {server.name}"


def check_routers_forward_to_their_model_server_only(net, stack):
    """gateway -> router -> model server allowed; the router reaches no other model server; another namespace
    (and any other pod of the serving namespace) cannot reach the router's API. Phase 2 routes every server that
    can run more than one replica (blueprints/phase2_scale/serving.py)."""
    routers = net.by_name("vllm-router")
    if stack.startswith("phase2"):
        assert routers, f"{stack}: no vLLM router in the plan"
    servers = net.by_component("model-server")
    for router in routers:
        mine = [s for s in servers if _router_of(net, s) is router]
        assert len(mine) == 1, f"router {router.name} fronts {[s.name for s in mine]}"
        port = _one_port(router)
        for gw in _gateways(net):
            assert allowed(net.cluster, gw, router, port), f"the gateway cannot reach {router.name}"
        assert allowed(net.cluster, router, mine[0], _one_port(mine[0])), f"{router.name} cannot reach {mine[0].name}"
        for other in servers:
            if other is not mine[0]:
                assert not allowed(net.cluster, router, other, _one_port(other)), f"{router.name} reaches {other.name}"
        assert not allowed(net.cluster, net.intruder, router, port), f"another namespace reaches {router.name}"
        for pod in net.pods:
            if pod.labels.get("app.kubernetes.io/component") != "gateway" and pod is not router:
                assert not allowed(net.cluster, pod, router, port), f"{pod.namespace}/{pod.name} reaches {router.name}"
        assert allowed(net.cluster, net.prometheus, router, _one_port(router, "metrics"))
        assert not allowed(net.cluster, net.prometheus, router, port), "Prometheus reaches the router's API port"
        assert not allowed(net.cluster, router, PUBLIC, 443), f"{router.name} reaches the internet"


def check_seeder_reaches_the_hub_and_object_store_and_nothing_else(net, stack):
    seeders = net.by_name("weight-seeder")
    assert seeders, "no seeding Job in the plan"
    for seeder in seeders:
        assert allowed(net.cluster, seeder, PUBLIC, 443), "the seeder cannot reach Hugging Face / S3 over HTTPS"
        for endpoint, port in CREDENTIALS[cloud_of(stack)]:
            assert allowed(net.cluster, seeder, endpoint, port), f"the seeder cannot get its credentials ({endpoint.name})"
        if cloud_of(stack) == "aws":
            assert not allowed(net.cluster, seeder, METADATA, 80), "the seeder reaches the instance metadata endpoint"
        assert not allowed(net.cluster, seeder, PUBLIC, 80)
        for other in net.pods + [net.prometheus]:
            if other is not seeder:
                assert not allowed(net.cluster, seeder, other, 8000) and not allowed(net.cluster, seeder, other, 4000)


def check_model_server_cannot_reach_the_internet_beyond_its_object_store(net, stack):
    """Denied: the internet (on AWS even HTTPS: only S3's prefix list), the metadata endpoint, nodes, other
    pods. Allowed: HTTPS to the object store, and the credentials endpoint."""
    for server in net.by_component("model-server"):
        for port in (22, 80, 8080, 5432):
            assert not allowed(net.cluster, server, PUBLIC, port), f"{server.name} reaches the internet on {port}"
        if cloud_of(stack) == "aws":
            assert not allowed(net.cluster, server, METADATA, 80)
        assert not allowed(net.cluster, server, External("10.40.1.10", "a node"), 10250)
        for other in net.pods + [net.prometheus, net.intruder]:
            if other.name != server.name:
                for port in set(other.ports.values()) | {80}:
                    assert not allowed(net.cluster, server, other, port), f"{server.name} reaches {other.name}:{port}"
        for endpoint, port in CREDENTIALS[cloud_of(stack)]:
            assert allowed(net.cluster, server, endpoint, port), f"the model server cannot get its credentials ({endpoint.name})"
        assert allowed(net.cluster, server, OBJECT_STORE[cloud_of(stack)], 443), "the model server cannot stream weights"
        if cloud_of(stack) == "aws":
            assert not allowed(net.cluster, server, PUBLIC, 443), f"{server.name} reaches the internet over HTTPS"


def check_every_strait_pod_resolves_names(net, stack):
    for pod in net.pods:
        assert allowed(net.cluster, pod, net.dns, DNS_PORT, "UDP"), f"{pod.namespace}/{pod.name} cannot resolve names"


@pytest.mark.parametrize("stack", STACKS)
def test_every_strait_namespace_starts_from_deny_all(nets, stack):
    check_every_strait_namespace_starts_from_deny_all(nets[stack], stack)

@pytest.mark.parametrize("stack", STACKS)
def test_gateway_reaches_every_model_server(nets, stack):
    check_gateway_reaches_every_model_server(nets[stack], stack)

@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_reaches_metrics_ports_only(nets, stack):
    check_prometheus_reaches_metrics_ports_only(nets[stack], stack)

@pytest.mark.parametrize("stack", STACKS)
def test_gateway_api_port_only_from_the_named_client_namespaces(nets, stack):
    check_gateway_api_port_only_from_the_named_client_namespaces(nets[stack], stack)

@pytest.mark.parametrize("stack", STACKS)
def test_no_other_namespace_or_pod_reaches_a_model_server(nets, stack):
    check_no_other_namespace_or_pod_reaches_a_model_server(nets[stack], stack)

@pytest.mark.parametrize("stack", STACKS)
def test_routers_forward_to_their_model_server_only(nets, stack):
    check_routers_forward_to_their_model_server_only(nets[stack], stack)

@pytest.mark.parametrize("stack", STACKS)
def test_seeder_reaches_the_hub_and_object_store_and_nothing_else(nets, stack):
    check_seeder_reaches_the_hub_and_object_store_and_nothing_else(nets[stack], stack)

@pytest.mark.parametrize("stack", STACKS)
def test_model_server_cannot_reach_the_internet_beyond_its_object_store(nets, stack):
    check_model_server_cannot_reach_the_internet_beyond_its_object_store(nets[stack], stack)

@pytest.mark.parametrize("stack", STACKS)
def test_every_strait_pod_resolves_names(nets, stack):
    check_every_strait_pod_resolves_names(nets[stack], stack)


@pytest.mark.parametrize("stack", STACKS)
def test_network_config_analyzer_agrees(nets, planned, stack, tmp_path):
    """A second judge: IBM's network-config-analyzer (np-guard) over the same manifests and extra pods."""
    if not NCA.exists():
        pytest.fail("network-config-analyzer is not installed; run scripts/setup.sh --test")
    net = nets[stack]
    conns = nca_connectivity(planned[stack].dir / "manifests", net, tmp_path)
    pairs = {(s, d) for s, d, _ in conns}
    for server in net.by_component("model-server"):
        dst = f"{server.namespace}/{server.name}"
        for gw in _gateways(net):
            assert (f"{gw.namespace}/{gw.name}", dst, "{protocols:TCP,dst_ports:8000}") in conns
        assert (f"{net.prometheus.namespace}/{net.prometheus.name}", dst) in pairs
        assert not [s for s, d in pairs if d == dst and s.startswith(f"{net.intruder.namespace}/")]
        assert not [d for s, d in pairs if s == dst and d.startswith(f"{net.intruder.namespace}/")]


# --- the checks above can fail: each mutation of the rendered policies is caught -------------------------------
def _model_server_policies(net):
    names = {p.name for p in net.by_component("model-server")}
    return [p for p in net.cluster.policies if p.name in names]


def _drop_gateway_namespace(net):
    for p in _model_server_policies(net):
        for rule in p.spec["ingress"]:
            rule["from"] = [peer for peer in rule["from"]
                            if peer.get("namespaceSelector", {}).get("matchLabels", {}).get(
                                "kubernetes.io/metadata.name") != "strait-gateway"] or [{"podSelector": {"matchLabels": {"x": "y"}}}]


def _drop_prometheus(net):
    for p in _model_server_policies(net):
        p.spec["ingress"] = [r for r in p.spec["ingress"] if not any("podSelector" in peer and "namespaceSelector" in peer
                                                                        for peer in r["from"])]


def _drop_seeder_egress(net):
    for p in net.cluster.policies:
        if p.name == "weight-seeder":
            p.spec.pop("egress", None)


def _drop_dns(net):
    net.cluster.policies[:] = [p for p in net.cluster.policies if p.name != "allow-dns"]


def _drop_default_deny(net):
    net.cluster.policies[:] = [p for p in net.cluster.policies if not (p.name == "default-deny" and p.namespace == "strait-serving")]


def _open_model_server_egress(net):
    for p in _model_server_policies(net):
        p.spec["egress"] = [{}]


def _open_model_server_ingress(net):
    for p in _model_server_policies(net):
        p.spec["ingress"].append({"from": [{"namespaceSelector": {}}]})


def _widen_object_store_to_the_internet(net):
    for p in _model_server_policies(net):
        for rule in p.spec["egress"]:
            if any(peer.get("ipBlock", {}).get("cidr") in MOCK_S3_CIDRS for peer in rule["to"]):
                rule["to"] = [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "169.254.0.0/16"]}}]


def _open_gateway_api(net):
    for p in net.cluster.policies:
        if p.name == "litellm":
            p.spec.setdefault("ingress", []).append({"from": [{"namespaceSelector": {}}], "ports": [{"port": 4000}]})


@pytest.mark.parametrize("mutate,check", [
    (_drop_gateway_namespace, check_gateway_reaches_every_model_server),
    (_drop_prometheus, check_prometheus_reaches_metrics_ports_only),
    (_drop_seeder_egress, check_seeder_reaches_the_hub_and_object_store_and_nothing_else),
    (_drop_dns, check_every_strait_pod_resolves_names),
    (_drop_default_deny, check_every_strait_namespace_starts_from_deny_all),
    (_open_model_server_egress, check_model_server_cannot_reach_the_internet_beyond_its_object_store),
    (_open_model_server_ingress, check_no_other_namespace_or_pod_reaches_a_model_server),
    (_widen_object_store_to_the_internet, check_model_server_cannot_reach_the_internet_beyond_its_object_store),
    (_open_gateway_api, check_gateway_api_port_only_from_the_named_client_namespaces),
])
def test_each_check_catches_its_mutation(planned, mutate, check):
    stack = STACKS[0]
    net = load(planned[stack].dir / "manifests")
    check(net, stack)  # passes as rendered
    mutate(net)
    with pytest.raises(AssertionError):
        check(net, stack)


# --- the router checks catch their mutations (a phase-2 stack: phase 1 has no router) ---------------------------
ROUTED_STACK = next(s for s in STACKS if s.startswith("phase2"))


def _drop_router_from_model_server_ingress(net):
    for p in _model_server_policies(net):
        p.spec["ingress"] = [r for r in p.spec["ingress"] if not any(
            peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") == "vllm-router"
            for peer in r["from"])]


def _open_router_ingress(net):
    for p in net.cluster.policies:
        if p.name.endswith("-router"):
            p.spec["ingress"].append({"from": [{"namespaceSelector": {}}], "ports": [{"port": 8000}]})


def _open_router_egress(net):
    for p in net.cluster.policies:
        if p.name.endswith("-router"):
            p.spec["egress"].append({})


def _drop_gateway_from_router_ingress(net):
    for p in net.cluster.policies:
        if p.name.endswith("-router"):
            p.spec["ingress"] = [r for r in p.spec["ingress"] if not any(
                peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") ==
                "strait-gateway" for peer in r["from"])]


@pytest.mark.parametrize("mutate,check", [
    (_drop_router_from_model_server_ingress, check_routers_forward_to_their_model_server_only),
    (_open_router_ingress, check_routers_forward_to_their_model_server_only),
    (_open_router_egress, check_routers_forward_to_their_model_server_only),
    (_drop_gateway_from_router_ingress, check_routers_forward_to_their_model_server_only),
])
def test_each_router_check_catches_its_mutation(planned, mutate, check):
    net = load(planned[ROUTED_STACK].dir / "manifests")
    check(net, ROUTED_STACK)  # passes as rendered
    mutate(net)
    with pytest.raises(AssertionError):
        check(net, ROUTED_STACK)
