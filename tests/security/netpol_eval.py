"""A small evaluator of Kubernetes NetworkPolicy semantics (networking.k8s.io/v1), the test-only judge of
which flows Strait's rendered policies allow.

Semantics, from https://kubernetes.io/docs/concepts/services-networking/network-policies/ (its examples are
the table in test_netpol_eval.py):
- A pod is isolated for a direction when any policy in its namespace selects it and lists that direction in
  ``policyTypes`` (default: Ingress, plus Egress when the spec has ``egress``). A pod not isolated for a
  direction allows everything in it.
- Policies are additive: an isolated pod allows a connection when any rule of any selecting policy does.
- A connection between two pods needs the source's egress AND the destination's ingress to allow it.
- A rule with no ``from``/``to`` matches every peer; with no ``ports``, every port.
- Peers: ``podSelector`` alone selects pods of the policy's namespace; ``namespaceSelector`` alone every pod
  of the matching namespaces; both in ONE peer, pods matching both; ``ipBlock`` an IP range minus ``except``
  (here only for endpoints outside the pod network: nodes, the internet, cloud endpoints).
- Ports: ``protocol`` defaults to TCP; no ``port`` means every port of that protocol; ``endPort`` makes a
  range; a named port matches the destination pod's container port of that name.
- A pod can always reach itself.

Out of scope (Strait renders none of it): IPv6, SCTP specifics, Services' ClusterIP translation (flows are
stated pod to pod), and the CNI's own exceptions (traffic from the node to its pods is always allowed).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Mapping, Sequence

NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: Mapping[str, int] = field(default_factory=dict)
    """Container port name -> number (for named ports in rules)."""


@dataclass(frozen=True)
class External:
    """An address outside the pod network: a node, the cloud's metadata or credentials endpoint, the internet."""

    ip: str
    name: str = ""


Endpoint = Pod | External


@dataclass(frozen=True)
class Policy:
    name: str
    namespace: str
    spec: Mapping


@dataclass
class Cluster:
    namespaces: dict[str, dict[str, str]]
    """Namespace -> its labels (``kubernetes.io/metadata.name`` is added, as Kubernetes does)."""
    policies: list[Policy]

    def ns_labels(self, namespace: str) -> dict[str, str]:
        return {**self.namespaces.get(namespace, {}), NAME_LABEL: namespace}


def selects(selector: Mapping | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector: matchLabels AND every matchExpression; an empty selector selects everything."""
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown selector operator {op!r}")
    return True


def policy_types(spec: Mapping) -> list[str]:
    return list(spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else [])))


def _peer_matches(cluster: Cluster, peer: Mapping, policy_ns: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        if not isinstance(other, External):
            return False
        ip = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(e) for e in block.get("except") or [])
    if not isinstance(other, Pod):
        return False
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns_sel is None and pod_sel is None:
        raise ValueError(f"a peer needs podSelector, namespaceSelector or ipBlock: {peer}")
    if ns_sel is None and other.namespace != policy_ns:
        return False
    if ns_sel is not None and not selects(ns_sel, cluster.ns_labels(other.namespace)):
        return False
    return pod_sel is None or selects(pod_sel, other.labels)


def _port_matches(ports: Sequence[Mapping] | None, port: int, protocol: str, dst: Endpoint) -> bool:
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        want = p.get("port")
        if want is None:
            return True
        if isinstance(want, str):
            if isinstance(dst, Pod) and dst.ports.get(want) == port:
                return True
            continue
        if want <= port <= (p.get("endPort") or want):
            return True
    return False


def _direction_allows(cluster: Cluster, subject: Pod, other: Endpoint, port: int, protocol: str, direction: str,
                      dst: Endpoint) -> bool:
    selecting = [p for p in cluster.policies if p.namespace == subject.namespace
                 and selects(p.spec.get("podSelector"), subject.labels) and direction in policy_types(p.spec)]
    if not selecting:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for p in selecting:
        for rule in p.spec.get(key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(cluster, peer, p.namespace, other) for peer in peers)) and \
                    _port_matches(rule.get("ports"), port, protocol, dst):
                return True
    return False


def allowed(cluster: Cluster, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
    """Would a new connection from ``src`` to ``dst`` on ``port`` be allowed?"""
    if src == dst:
        return True
    egress = not isinstance(src, Pod) or _direction_allows(cluster, src, dst, port, protocol, "Egress", dst)
    ingress = not isinstance(dst, Pod) or _direction_allows(cluster, dst, src, port, protocol, "Ingress", dst)
    return egress and ingress
