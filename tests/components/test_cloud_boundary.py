"""The cloud boundary holds: GPU labels and taint are typed once (strait/gpu_labels.py), and nothing under
components/k8s/ imports a cloud folder (GKE reuses it unchanged)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from strait import gpu_labels

ROOT = Path(__file__).resolve().parents[2]
#: Source that ships or runs (tests assert on rendered literals, which is their job).
SCANNED = ("components", "strait", "policies", "blueprints", "benchmarks", "scripts", "__main__.py")
LITERALS = sorted({gpu_labels.GPU_TAINT_KEY, gpu_labels.GPU_RESOURCE, gpu_labels.POOL_LABEL, gpu_labels.GPU_LABEL,
                   gpu_labels.CAPACITY_LABEL, gpu_labels.DEVICE_PLUGIN_LABEL, gpu_labels.MODEL_LABEL})
CLOUD_PACKAGES = ("components.aws", "components.gcp", "pulumi_aws", "pulumi_gcp", "boto3", "google")


def _py_files(*roots: str) -> list[Path]:
    out = []
    for r in roots:
        p = ROOT / r
        out += [p] if p.is_file() else sorted(p.rglob("*.py"))
    return [f for f in out if ".venv" not in f.parts]


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            ids.add(id(body[0].value))
    # attribute docstrings (a bare string after an assignment) document, they do not retype
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            ids.add(id(node.value))
    return ids


def retyped_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    docs = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            hits += [f"{_rel(path)}:{node.lineno}: {lit!r}" for lit in LITERALS if lit in node.value]
    return hits


def cloud_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    hits = []
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        hits += [f"{_rel(path)}:{node.lineno}: {n}" for n in names
                 if any(n == c or n.startswith(c + ".") for c in CLOUD_PACKAGES)]
    return hits


def test_gpu_labels_and_taint_are_typed_only_in_strait_gpu_labels():
    home = ROOT / "strait" / "gpu_labels.py"
    hits = [h for f in _py_files(*SCANNED) if f != home for h in retyped_literals(f)]
    assert not hits, "import these from strait.gpu_labels instead of retyping them:\n" + "\n".join(hits)


def test_kubernetes_components_import_no_cloud():
    hits = [h for f in _py_files("components/k8s") for h in cloud_imports(f)]
    assert not hits, "components/k8s must stay cloud-neutral (GKE reuses it):\n" + "\n".join(hits)


def test_the_contract_modules_stay_pure():
    for rel in ("components/platform.py", "strait/gpu_labels.py"):
        hits = cloud_imports(ROOT / rel)
        assert not hits, hits


@pytest.mark.parametrize("source, expect", [
    ('x = {"strait.dev/pool": "a"}\n', 1),
    ('x = f"{a}nvidia.com/gpu"\n', 1),
    ('"""mentions nvidia.com/gpu in prose"""\n', 0),
    ('from strait.gpu_labels import POOL_LABEL\nx = {POOL_LABEL: "a"}\n', 0),
])
def test_the_literal_scan_can_fail(tmp_path, source, expect):
    f = tmp_path / "probe.py"
    f.write_text(source)
    assert len(retyped_literals(f)) == expect


def test_the_import_scan_can_fail(tmp_path):
    f = tmp_path / "probe.py"
    f.write_text("from components.aws.iam import managed\nimport pulumi_gcp as gcp\nfrom components.platform import Platform\n")
    assert len(cloud_imports(f)) == 2
