"""Tags and labels from one place: standard, then component, then user tags (user wins)."""
from __future__ import annotations

MANAGED_BY = "strait"


def standard_tags(*, project: str, stack: str, blueprint: str, component: str, cost_center: str,
                  extra: dict[str, str] | None = None, user: dict[str, str] | None = None) -> dict[str, str]:
    tags = {
        "project": project,
        "stack": stack,
        "blueprint": blueprint,
        "component": component,
        "cost-center": cost_center,
        "managed-by": MANAGED_BY,
    }
    tags.update(extra or {})
    tags.update(user or {})
    return dict(sorted(tags.items()))


def gcp_labels(tags: dict[str, str]) -> dict[str, str]:
    """GCP labels: lower-case keys/values of [a-z0-9_-], at most 63 characters, keys start with a letter."""
    import re

    def clean(s: str) -> str:
        return re.sub(r"[^a-z0-9_-]", "_", s.lower())[:63]

    out = {}
    for k, v in tags.items():
        key = clean(k)
        if not key or not key[0].isalpha():
            key = ("k" + key)[:63]
        out[key] = clean(v)
    return dict(sorted(out.items()))


def k8s_labels(*, name: str, instance: str, component: str, version: str | None = None,
               part_of: str = "strait") -> dict[str, str]:
    """The recommended app.kubernetes.io/* labels."""
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": part_of,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    if version:
        labels["app.kubernetes.io/version"] = version
    return labels


def selector_labels(labels: dict[str, str]) -> dict[str, str]:
    """The immutable subset used in selectors (never includes the version)."""
    return {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
