"""SGLang 0.5.23's Prometheus metric names, read from its installed source (AST; nothing is imported).

    .venv/bin/python -m tests.engines.sglang_metrics > tests/data/metrics/sglang-0.5.23.json

Every ``Gauge/Counter/Histogram/Summary(name="sglang:...", labelnames=...)`` under ``sglang/srt``; exposed names
follow prometheus_client (a counter gains ``_total``, a histogram ``_bucket/_sum/_count``). Label names given as
``labels.keys()`` are the keys of the ``labels = {...}`` literals in the same file (``model_name``,
``engine_type``, the parallel ranks).
"""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

KINDS = {"Gauge": "gauge", "Counter": "counter", "Histogram": "histogram", "Summary": "summary"}


def _kind(func: ast.AST) -> str | None:
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return KINDS.get(name)


def _label_literals(tree: ast.AST) -> list[str]:
    keys: set[str] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id == "labels" for t in node.targets)):
            keys |= {k.value for k in node.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return sorted(keys)


def scan(site_packages: Path) -> dict:
    root = site_packages / "sglang" / "srt"
    found: dict[str, dict] = {}
    for path in sorted(root.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        file_labels = None
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _kind(node.func) is None:
                continue
            kw = {k.arg: k.value for k in node.keywords}
            name = kw.get("name")
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str) and name.value.startswith("sglang:")):
                continue
            labels_node = kw.get("labelnames")
            if isinstance(labels_node, (ast.List, ast.Tuple)):
                labels = sorted(e.value for e in labels_node.elts if isinstance(e, ast.Constant))
                labels += [] if all(isinstance(e, ast.Constant) for e in labels_node.elts) else (
                    file_labels := file_labels or _label_literals(tree))
            elif labels_node is not None:
                labels = file_labels = file_labels or _label_literals(tree)
            else:
                labels = []
            kind, n = _kind(node.func), name.value
            exposed = {"counter": [n if n.endswith("_total") else n + "_total"],
                       "histogram": [n + "_bucket", n + "_sum", n + "_count"],
                       "summary": [n + "_sum", n + "_count"]}.get(kind, [n])
            entry = found.setdefault(n, {"name": n, "type": kind, "exposed": exposed, "labelnames": [], "where": []})
            entry["labelnames"] = sorted(set(entry["labelnames"]) | set(labels))
            rel = path.relative_to(site_packages).as_posix()
            if rel not in entry["where"]:
                entry["where"].append(rel)
    return {"engine": "sglang", "version": _version(site_packages), "metrics": [found[k] for k in sorted(found)]}


def _version(site_packages: Path) -> str | None:
    dist = sorted(site_packages.glob("sglang-*.dist-info"))
    return dist[0].name[len("sglang-"):-len(".dist-info")] if dist else None


if __name__ == "__main__":
    from tests.engines.registries import site_packages

    json.dump(scan(site_packages()), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
