"""Namespaces with Pod Security admission labels and a default-deny network baseline."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from strait.render.netpol import namespace_baseline
from strait.tags import k8s_labels


def namespace(name: str, logical: str, opts: pulumi.ResourceOptions, *, enforce: str = "baseline",
              warn: str = "restricted", extra_labels: dict[str, str] | None = None) -> k8s.core.v1.Namespace:
    """A namespace, plus its `default-deny` (Ingress and Egress, every pod) and `allow-dns` policies.

    Workloads in it then carry their own policy naming who may reach them and where they may go
    (strait/render/netpol.py). ``enforce``: the Pod Security level enforced. Default: baseline;
    restricted is what every Strait workload aims for (``warn``).
    """
    labels = {**k8s_labels(name=name, instance=name, component="namespace"),
              "pod-security.kubernetes.io/enforce": enforce, "pod-security.kubernetes.io/warn": warn,
              **(extra_labels or {})}
    ns = k8s.core.v1.Namespace(logical, metadata={"name": name, "labels": labels}, opts=opts)
    NetworkBaseline(f"{logical}-netpol", name, opts=pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(depends_on=[ns])))
    return ns


class NetworkBaseline(pulumi.ComponentResource):
    """A namespace's `default-deny` (Ingress and Egress, every pod) and `allow-dns` NetworkPolicies."""

    def __init__(self, name: str, namespace_name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:k8s:NetworkBaseline", name, None, opts)
        labels = k8s_labels(name="network-baseline", instance=namespace_name, component="network-policy")
        for policy, spec in namespace_baseline().items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{policy}", metadata={
                "name": policy, "namespace": namespace_name, "labels": labels}, spec=spec,
                opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})
