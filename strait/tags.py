"""Tags and labels from one place: standard, then component, then user tags (user wins)."""
from __future__ import annotations

MANAGED_BY = "strait"

#: AWS tag limits (docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html, "Tag naming limits and
#: requirements"): 50 user tags per resource, keys up to 128 and values up to 256 Unicode characters, letters,
#: digits, spaces and _ . : / = + - @, and no `aws:` prefix (reserved for AWS).
AWS_MAX_TAGS = 50
AWS_TAG_KEY_MAX = 128
AWS_TAG_VALUE_MAX = 256
#: Most tags Strait itself puts on one resource: a GPU node group carries the 6 standard tags, its 2 pool
#: tags and 7 Cluster Autoscaler discovery tags (tests/config/test_tags.py checks this against a plan).
STRAIT_TAGS_MAX = 15
USER_TAGS_MAX = AWS_MAX_TAGS - STRAIT_TAGS_MAX
#: Tags Strait sets; a user tag with one of these keys (or prefixes) would override Strait's own.
STANDARD_TAG_KEYS = ("blueprint", "component", "cost-center", "managed-by", "project", "stack")
RESERVED_TAG_PREFIXES = ("kubernetes.io/cluster/", "k8s.io/cluster-autoscaler/", "strait.dev/")


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


def aws_tag_issues(user: dict[str, str]):
    """Every way ``user`` breaks AWS's tag limits or Strait's own tags, as ConfigIssues relative to `tags`."""
    import re

    from strait.config.errors import NOT_SHOWN, ConfigIssue

    allowed = re.compile(r"^[\w\s.:/=+\-@]*$")
    issues = []
    if len(user) > USER_TAGS_MAX:
        issues.append(ConfigIssue("", NOT_SHOWN, f"{len(user)} tags, but AWS allows {AWS_MAX_TAGS} per resource and "
                                  f"Strait puts up to {STRAIT_TAGS_MAX} of its own on some (GPU node groups)",
                                  f"keep at most {USER_TAGS_MAX} tags"))
    for key, value in user.items():
        if key.lower().startswith("aws:"):
            issues.append(ConfigIssue(key, value, "the aws: prefix is reserved for AWS", "remove the prefix"))
        if key in STANDARD_TAG_KEYS or key.startswith(RESERVED_TAG_PREFIXES):
            issues.append(ConfigIssue(key, value, "Strait sets this tag itself (cluster discovery, autoscaling, "
                                      "cost attribution)", "remove it; use cost_center for cost-center"))
        if not key or len(key) > AWS_TAG_KEY_MAX:
            issues.append(ConfigIssue(key, NOT_SHOWN, f"a tag key of {len(key)} characters; AWS allows 1-{AWS_TAG_KEY_MAX}",
                                      "shorten the key"))
        if len(value) > AWS_TAG_VALUE_MAX:
            issues.append(ConfigIssue(key, NOT_SHOWN, f"a tag value of {len(value)} characters; AWS allows up to "
                                      f"{AWS_TAG_VALUE_MAX}", "shorten the value"))
        for what, text in (("key", key), ("value", value)):
            if not allowed.match(text):
                bad = sorted({c for c in text if not allowed.match(c)})
                issues.append(ConfigIssue(key, NOT_SHOWN if what == "key" else value,
                                          f"the tag {what} contains {', '.join(repr(c) for c in bad)}",
                                          "use letters, digits, spaces and _ . : / = + - @ only"))
    return issues
