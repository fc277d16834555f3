"""NetworkPolicy specs, from one place, for every namespace and workload Strait creates.

Pure functions returning ``spec`` dicts (no pulumi import, no cloud): components wrap them in
``networking.k8s.io/v1`` NetworkPolicy objects, and tests/security/ judges the result with an
evaluator of the NetworkPolicy semantics.

The model: every Strait namespace starts with a default deny of Ingress and Egress for all its pods,
plus egress to the cluster DNS. Each workload then gets one policy that names exactly who may reach
it and where it may go. Policies are additive (a connection is allowed if any policy selecting the
pod allows it), so a workload's policy only ever widens the namespace's default deny.

Peers that only the cloud knows (the object store's addresses, the pod-identity endpoint, the API
server's addresses) come in as :class:`Allow` values built by the cloud layer; nothing here names a
cloud.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by Kubernetes on every namespace (immutable, since 1.22): selects a namespace by its name."""

#: Namespaces labelled with this may scrape Strait workloads' metrics ports (Prometheus lives there).
SCRAPER_LABEL = "strait.dev/metrics-scraper"
#: Labels the Prometheus Operator puts on every Prometheus pod (operator.ApplicationNameLabelKey;
#: prometheus-operator pkg/prometheus/server/statefulset.go, and its e2e tests select pods by it).
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}

#: CoreDNS on EKS, kube-dns on GKE: both keep the upstream `k8s-app: kube-dns` label in kube-system.
DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
DNS_PORT = 53

#: Private, shared, link-local (cloud metadata, 169.254.169.254) and loopback ranges: never "the internet".
NON_PUBLIC_CIDRS = ("10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16")
METADATA_CIDR = "169.254.169.254/32"
HTTPS = 443

DEFAULT_DENY = "default-deny"
ALLOW_DNS = "allow-dns"


@dataclass(frozen=True)
class Port:
    port: int | str
    """A number, or the name of a container port."""
    protocol: str = "TCP"
    end_port: int | None = None
    """With a numeric ``port``: the last port of a range."""

    def render(self) -> dict:
        out: dict = {"port": self.port, "protocol": self.protocol}
        if self.end_port is not None:
            out["endPort"] = self.end_port
        return out


@dataclass(frozen=True)
class Allow:
    """One rule: these peers, on these ports. No ports means every port (avoid)."""

    peers: tuple[dict, ...]
    ports: tuple[Port, ...]
    why: str = field(default="", compare=False)
    """One line for people reading the plan; not rendered."""
    deferred_peers: object = field(default=None, compare=False)
    """Peers known only at deploy time (a pulumi Output of a list of peers, e.g. ipBlocks from a cloud lookup),
    rendered instead of ``peers``. Default: none, ``peers`` are the rule."""

    def __post_init__(self):
        if not self.peers and self.deferred_peers is None:
            raise ValueError("an Allow needs at least one peer (an empty peer list would mean everyone)")


def tcp(*ports: int | str) -> tuple[Port, ...]:
    return tuple(Port(p) for p in ports)


def namespace_peer(namespace: str) -> dict:
    """Every pod of one namespace, by name."""
    return {"namespaceSelector": {"matchLabels": {NAME_LABEL: namespace}}}


def pods_peer(namespace: str, match_labels: Mapping[str, str]) -> dict:
    """Pods with these labels in the named namespace (both must match: one peer, two selectors)."""
    if not match_labels:
        return namespace_peer(namespace)
    return {"namespaceSelector": {"matchLabels": {NAME_LABEL: namespace}},
            "podSelector": {"matchLabels": dict(sorted(match_labels.items()))}}


def same_namespace_peer(match_labels: Mapping[str, str] | None = None) -> dict:
    """Pods of the policy's own namespace (all of them without labels)."""
    return {"podSelector": {"matchLabels": dict(sorted(match_labels.items()))} if match_labels else {}}


def prometheus_peer() -> dict:
    """Prometheus pods, in any namespace labelled as a metrics scraper."""
    return {"namespaceSelector": {"matchLabels": {SCRAPER_LABEL: "true"}},
            "podSelector": {"matchLabels": dict(PROMETHEUS_POD_LABELS)}}


def cidr_peer(cidr: str, except_cidrs: tuple[str, ...] = ()) -> dict:
    block: dict = {"cidr": cidr}
    if except_cidrs:
        block["except"] = list(except_cidrs)
    return {"ipBlock": block}


def cidr_peers(cidrs) -> list[dict]:
    """One ipBlock peer per CIDR, sorted (for a list of CIDRs resolved at deploy time)."""
    return [cidr_peer(c) for c in sorted(cidrs)]


def public_internet_peer() -> dict:
    """Any public IPv4 address: 0.0.0.0/0 except private, shared, loopback and link-local ranges (so
    neither other pods, nor nodes, nor the cloud's metadata endpoint)."""
    return cidr_peer("0.0.0.0/0", NON_PUBLIC_CIDRS)


def public_https(why: str) -> Allow:
    return Allow((public_internet_peer(),), tcp(HTTPS), why)


def default_deny() -> dict:
    """Selects every pod of the namespace and allows nothing, in either direction."""
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def allow_dns() -> dict:
    """Every pod of the namespace may resolve names through the cluster DNS (UDP, and TCP for large answers)."""
    return {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
        "to": [pods_peer(DNS_NAMESPACE, DNS_POD_LABELS)],
        "ports": [Port(DNS_PORT, "UDP").render(), Port(DNS_PORT, "TCP").render()]}]}


def namespace_baseline() -> dict[str, dict]:
    """The two policies every Strait namespace gets: name -> spec."""
    return {DEFAULT_DENY: default_deny(), ALLOW_DNS: allow_dns()}


def workload_policy(match_labels: Mapping[str, str] | None, *, ingress: tuple[Allow, ...] | list[Allow] = (),
                    egress: tuple[Allow, ...] | list[Allow] = ()) -> dict:
    """A policy for the pods with these labels (every pod of the namespace with None).

    Both policy types are always listed, so a workload with no rule in one direction is denied in that
    direction even in a namespace without the default deny.
    """
    def rules(allows, key):
        return [{key: a.deferred_peers if a.deferred_peers is not None else list(a.peers),
                 **({"ports": [p.render() for p in a.ports]} if a.ports else {})} for a in allows]

    spec: dict = {"podSelector": {"matchLabels": dict(sorted(match_labels.items()))} if match_labels else {},
                  "policyTypes": ["Ingress", "Egress"]}
    if ingress:
        spec["ingress"] = rules(ingress, "from")
    if egress:
        spec["egress"] = rules(egress, "to")
    return spec


def within_namespace() -> dict:
    """Pods of the namespace may talk to each other on any port (third-party stacks whose internal
    ports Strait does not render: Prometheus/Grafana/Alertmanager, Langfuse and its databases)."""
    peer = same_namespace_peer()
    return workload_policy(None, ingress=[Allow((peer,), ())], egress=[Allow((peer,), ())])
