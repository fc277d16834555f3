"""Namespaces with Pod Security admission labels."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from strait.tags import k8s_labels


def namespace(name: str, logical: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
    labels = {**k8s_labels(name=name, instance=name, component="namespace"),
              # baseline is enforced; restricted is what every Strait workload aims for
              "pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted"}
    return k8s.core.v1.Namespace(logical, metadata={"name": name, "labels": labels}, opts=opts)
