"""Pull metric names out of PromQL text, and load the names each pinned exporter really exposes."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "metrics"

_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
             "inf", "nan", "le"}
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects. Strips strings, label matchers, ranges, grouping clauses and
    function calls; what is left that looks like an identifier is a metric name."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"label_values\(([^,)]+),[^)]*\)", r"\1", s)  # Grafana: label_values(metric, label)
    s = re.sub(r"(?<![\w:.])\d+(\.\d+)?([eE][+-]?\d+)?", " ", s)  # number literals such as 1e6
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in _IDENT.finditer(s):
        tok, rest = m.group(0), s[m.end():].lstrip()
        if rest.startswith("(") or tok.lower() in _KEYWORDS or tok.startswith("$"):
            continue
        if s[max(0, m.start() - 1)] == "$":  # Grafana variables such as $__rate_interval
            continue
        names.add(tok)
    return names


def vllm_names() -> set[str]:
    data = json.loads((DATA / "vllm-0.33.0.json").read_text())
    return {n for m in data["metrics"] for n in m["exposed"]}


def vllm_doc() -> dict:
    return json.loads((DATA / "vllm-0.33.0.json").read_text())


def sglang_doc() -> dict:
    """SGLang 0.5.23's metrics, scanned from its package by tests/engines/sglang_metrics.py."""
    return json.loads((DATA / "sglang-0.5.23.json").read_text())


def sglang_names() -> set[str]:
    return {n for m in sglang_doc()["metrics"] for n in m["exposed"]}


def dcgm_names() -> set[str]:
    names = set()
    for row in csv.reader((DATA / "dcgm-exporter-default-counters.csv").read_text().splitlines()):
        if row and row[0].strip() and not row[0].lstrip().startswith("#"):
            names.add(row[0].strip())
    return names


def ksm_names() -> set[str]:
    return {l.strip() for l in (DATA / "kube-state-metrics.txt").read_text().splitlines()
            if l.strip() and not l.startswith("#")}


def exposition_names(text: str) -> set[str]:
    """Names in a Prometheus text exposition: every sample name, plus _bucket/_sum/_count of histograms."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            names.add(name)
            if kind.strip() == "histogram":
                names |= {name + "_bucket", name + "_sum", name + "_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def exposition_labels(text: str) -> dict[str, set[str]]:
    """Sample name -> label names seen on it."""
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" in line:
            name, rest = line.split("{", 1)
            labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', rest.rsplit("}", 1)[0]))
            out.setdefault(name, set()).update(labels)
    return out
