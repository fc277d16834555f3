"""The pure helpers tests/helm relies on: Helm's document split, install-time namespaces, strict CRD schemas."""
import jsonschema

from tests.helm import render as hr

SCHEMA = {"type": "object", "properties": {
    "spec": {"type": "object", "properties": {
        "port": {"type": "string"},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}}


def _errors(obj):
    return [e.message for e in jsonschema.Draft7Validator(hr.strict_schema(SCHEMA)).iter_errors(obj)]


def test_strict_schema_rejects_unknown_fields_like_the_api_server():
    base = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}}
    assert _errors({**base, "spec": {"port": "http", "extra": {"any": 1}, "labels": {"a": "b"}}}) == []
    assert _errors({**base, "spec": {"prot": "http"}}) == ["Additional properties are not allowed ('prot' was unexpected)"]
    assert _errors({**base, "sepc": {}}) == ["Additional properties are not allowed ('sepc' was unexpected)"]


def test_split_documents_follows_helm_separators():
    rendered = {"c/templates/a.yaml": "a: 1\n---# a comment right after the separator\nb: 2\n",
                "c/templates/NOTES.txt": "Thank you: not a manifest",
                "c/templates/empty.yaml": "\n---\n"}
    assert hr.split_documents(rendered) == [("c/templates/a.yaml", {"a": 1}), ("c/templates/a.yaml", {"b": 2})]


def test_as_installed_drops_test_hooks_and_fills_the_release_namespace():
    objs = [("t", {"kind": "ConfigMap", "metadata": {"name": "cm"}}),
            ("t", {"kind": "ClusterRole", "metadata": {"name": "cr"}}),
            ("t", {"kind": "Pod", "metadata": {"name": "t", "annotations": {"helm.sh/hook": "test"}}}),
            ("t", {"kind": "KeeperCluster", "metadata": {"name": "k"}}),
            ("t", {"kind": "Cluster", "metadata": {"name": "c"}})]
    out = hr.as_installed(objs, "ns", {"KeeperCluster": "Namespaced", "Cluster": "Cluster"})
    assert [(o["kind"], o["metadata"].get("namespace")) for _, o in out] == [
        ("ConfigMap", "ns"), ("ClusterRole", None), ("KeeperCluster", "ns"), ("Cluster", None)]
