"""Names as small pure functions (pulumi-awsx style). Physical names respect each cloud's limits."""
from __future__ import annotations

import hashlib
import re

_DNS_LABEL = re.compile(r"[^a-z0-9-]+")


def child(parent: str, suffix: str) -> str:
    """Logical name of a child resource: derived from the parent's, with a stable suffix."""
    return f"{parent}-{suffix}"


def _short_hash(*parts: str, n: int = 6) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def dns_label(name: str, max_len: int = 63) -> str:
    """A DNS-1123 label (Kubernetes object names, EKS node group names). Truncation keeps it unique."""
    label = _DNS_LABEL.sub("-", name.lower()).strip("-") or "x"
    if len(label) <= max_len:
        return label
    h = _short_hash(name)
    return f"{label[: max_len - len(h) - 1].rstrip('-')}-{h}"


def s3_bucket_name(project: str, stack: str, region: str, purpose: str) -> str:
    """Globally unique, deterministic S3 bucket name (3-63 chars, lower-case, no dots)."""
    h = _short_hash(project, stack, region, purpose, n=8)
    base = dns_label(f"{project}-{stack}-{purpose}", 63 - len(h) - 1)
    return f"{base}-{h}"


def iam_role_name(cluster: str, purpose: str) -> str:
    """IAM role names are at most 64 characters."""
    return dns_label(f"{cluster}-{purpose}", 64)


def eks_cluster_name(project: str, stack: str) -> str:
    """EKS cluster names are at most 100 characters; keep them short for tags and role names."""
    return dns_label(f"{project}-{stack}", 40)
