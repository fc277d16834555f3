"""Policy and cost reports written by `strait plan` and printed by `strait report`.

Pure renderers over plain data (no pulumi, no policies import):

* ``policy-report.json``: Strait's document; each violation uses Pulumi's ``policyEvent`` field names
  (policyName, policyPackName, enforcementLevel, message, resourceUrn).
* ``policy-report.md``: the PR comment (policy results, GPU spend, cost and the cost diff).
* ``policy-report.sarif``: SARIF 2.1.0 for code-scanning tools (mandatory -> error, advisory -> warning).
"""
from __future__ import annotations

import json
from typing import Any

REPORT_FORMAT = "strait-policy-report/1"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
COMMENT_MARKER = "<!-- strait-plan-report -->"
FILES = {"md": "policy-report.md", "json": "policy-report.json", "sarif": "policy-report.sarif"}


def build_policy_doc(*, stack: str, region: str, events: list[dict[str, Any]], rules: list[dict[str, Any]],
                     exit_code: int, gpu_spend: dict[str, Any] | None = None, problems: list[str] | None = None,
                     stack_file: str | None = None) -> dict[str, Any]:
    """``rules``: name, description, severity, enforcementLevel (as configured), remediation."""
    counts = {lvl: sum(1 for e in events if e["enforcementLevel"] == lvl) for lvl in ("mandatory", "advisory")}
    by_rule = {r["name"]: 0 for r in rules}
    for e in events:
        by_rule[e["policyName"]] = by_rule.get(e["policyName"], 0) + 1
    return {
        "format": REPORT_FORMAT, "stack": stack, "region": region, "stackFile": stack_file,
        "policyPackName": "strait", "exitCode": exit_code,
        "summary": {"mandatoryViolations": counts["mandatory"], "advisoryViolations": counts["advisory"],
                    "policiesRun": sum(1 for r in rules if r["enforcementLevel"] != "disabled"),
                    "policiesPassed": sorted(n for n, c in by_rule.items() if c == 0)},
        "policies": [{**r, "violations": by_rule.get(r["name"], 0)} for r in rules],
        "policyEvents": events,
        "gpuSpend": gpu_spend or {},
        "problems": problems or [],
    }


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _money(v: Any) -> str:
    return "unknown" if v is None else f"${v:,.2f}"


def _signed(v: Any) -> str:
    return "unknown" if v is None else (f"+${v:,.2f}" if v >= 0 else f"-${-v:,.2f}")


def _tail(urn: str) -> str:
    return urn.rsplit("::", 1)[-1] if urn else "(stack)"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown(doc: dict[str, Any], cost: dict[str, Any] | None = None,
                    cost_diff: dict[str, Any] | None = None) -> str:
    s = doc["summary"]
    status = ("FAILED: mandatory policy violations" if s["mandatoryViolations"]
              else "FAILED: plan problems" if doc.get("problems") else "passed")
    lines = [COMMENT_MARKER, f"## Strait plan: `{doc['stack']}` ({doc['region']}): {status}", "",
             f"{s['policiesRun']} policies run, {s['mandatoryViolations']} mandatory and {s['advisoryViolations']} "
             f"advisory violations. Exit code {doc['exitCode']}.", ""]
    for p in doc.get("problems") or []:
        lines.append(f"- **error**: {_cell(p)}")
    if doc.get("problems"):
        lines.append("")
    if doc["policyEvents"]:
        lines += ["| Level | Policy | Resource | Message |", "| --- | --- | --- | --- |"]
        order = {"mandatory": 0, "advisory": 1}
        for e in sorted(doc["policyEvents"], key=lambda e: (order.get(e["enforcementLevel"], 2), e["policyName"])):
            lines.append(f"| {e['enforcementLevel']} | `{e['policyName']}` | `{_tail(e['resourceUrn'])}` | "
                         f"{_cell(e['message'])} |")
        lines.append("")
    lines += ["<details><summary>Policies</summary>", "", "| Policy | Severity | Level | Result |",
              "| --- | --- | --- | --- |"]
    for p in doc["policies"]:
        result = "disabled" if p["enforcementLevel"] == "disabled" else (
            "pass" if p["violations"] == 0 else f"{p['violations']} violation(s)")
        lines.append(f"| `{p['name']}` | {p['severity']} | {p['enforcementLevel']} | {result} |")
    lines += ["", "</details>", ""]
    g = doc.get("gpuSpend") or {}
    if g:
        budget = g.get("monthlyBudgetUsd")
        lines.append(f"**GPU spend**: worst case {_money(g.get('worstMonthlyUsd'))}/month (max nodes), expected "
                     f"{_money(g.get('expectedMonthlyUsd'))}/month (desired nodes); budget "
                     f"{_money(budget) if budget is not None else 'not set'}"
                     + (f"; {g['unknownPools']} pool(s) with unknown prices" if g.get("unknownPools") else "") + ".")
        lines.append("")
    if cost:
        lines += render_cost_markdown(cost, cost_diff)
    return "\n".join(lines).rstrip() + "\n"


def render_cost_markdown(cost: dict[str, Any], cost_diff: dict[str, Any] | None = None) -> list[str]:
    lines = ["### Cost estimate", ""]
    if cost_diff is not None:
        d = cost_diff
        lines += ["| Project | Baseline | Usage | Total change | New monthly cost |", "| --- | --- | --- | --- | --- |",
                  f"| {cost.get('stack')} | {_money(d['pastTotalMonthlyCost'])} | - | "
                  f"{_signed(d['diffTotalMonthlyCost'])} | {_money(d['totalMonthlyCost'])} |", ""]
        if d["resources"]:
            lines += ["| Resource | Change | Past | New |", "| --- | --- | --- | --- |"]
            for r in d["resources"]:
                lines.append(f"| `{r['name']}` ({r['status']}) | {_signed(r['diffMonthlyCost'])} | "
                             f"{_money(r['pastMonthlyCost'])} | {_money(r['monthlyCost'])} |")
            lines.append("")
        else:
            lines += ["No resource cost changed.", ""]
    lines += [f"Monthly ({cost['hoursPerMonth']} h): **{_money(cost['totalMonthlyCost'])}** expected, "
              f"{_money(cost['totalMonthlyCostMax'])} at max size"
              + (f"; {cost['unknownPrices']} component(s) have no catalog price and are not in the total"
                 if cost.get("unknownPrices") else "") + ".", "",
              "| Resource | Component | Qty | Unit price | Monthly | Max | Price as of |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in cost["resources"]:
        for c in r["costComponents"]:
            price = "unknown" if c["price"] is None else f"${c['price']:.4g}/{c['unit'].rstrip('s')}"
            lines.append(f"| `{r['name']}` | {c['name']} | {c['monthlyQuantity']:,.0f} {c['unit']} | {price} | "
                         f"{_money(c['monthlyCost'])} | {_money(c['monthlyCostMax'])} | {c.get('priceAsOf') or '-'} |")
    if cost.get("serving"):
        a = cost.get("assumptions") or {}
        lines += ["", f"Token cost at {a.get('utilisation', 0) * 100:.0f}% utilisation, {a.get('promptTokens')} "
                      f"prompt / {a.get('outputTokens')} output tokens per request (memory/compute roofline; "
                      "$ per 1M output tokens, their prompt tokens included):", "",
                  "| Model server | GPU x TP | Batch | Tokens/s per replica | $/h per replica | $ per 1M tokens |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for s in cost["serving"]:
            lines.append(f"| `{s['resource']}` | {s['gpu']} x {s['tensor_parallel_size']} | {s['batch']} | "
                         f"{s['tokens_per_second_per_replica']:,.0f} | {_money(s['hourly_usd_per_replica'])} | "
                         f"{_money(s['usd_per_million_tokens'])} |")
        for c in cost.get("commercialComparison") or []:
            lines.append(f"| {c['model']} (tier {c['tier']}, list price) | - | - | - | - | "
                         f"{_money(c['usdPerMillionOutputAtMix'])} |")
    lines.append("")
    return lines


_SARIF_LEVEL = {"mandatory": "error", "remediate": "error", "advisory": "warning", "disabled": "none"}
_SECURITY_SEVERITY = {"critical": "9.0", "high": "7.0", "medium": "5.0", "low": "3.0"}


def render_sarif(doc: dict[str, Any], tool_version: str = "0.1.0") -> str:
    rules = []
    index = {}
    for i, p in enumerate(doc["policies"]):
        index[p["name"]] = i
        rules.append({
            "id": p["name"],
            "name": "".join(w.capitalize() for w in p["name"].split("-")),
            "shortDescription": {"text": p["description"]},
            "fullDescription": {"text": p["description"]},
            "help": {"text": p.get("remediation") or p["description"]},
            "defaultConfiguration": {"level": _SARIF_LEVEL.get(p["enforcementLevel"], "warning")},
            "properties": {"tags": ["strait", "pulumi-policy"], "severity": p["severity"],
                           "security-severity": _SECURITY_SEVERITY.get(p["severity"], "5.0")},
        })
    uri = doc.get("stackFile") or f"stacks/Pulumi.{doc['stack']}.yaml"
    results = []
    for e in doc["policyEvents"]:
        loc = {"physicalLocation": {"artifactLocation": {"uri": uri}}}
        if e["resourceUrn"]:
            loc["logicalLocations"] = [{"fullyQualifiedName": e["resourceUrn"], "name": _tail(e["resourceUrn"]),
                                        "kind": "resource"}]
        results.append({
            "ruleId": e["policyName"], "ruleIndex": index.get(e["policyName"], -1),
            "level": _SARIF_LEVEL.get(e["enforcementLevel"], "warning"),
            "message": {"text": e["message"]},
            "locations": [loc],
            "properties": {"policyPackName": e["policyPackName"], "enforcementLevel": e["enforcementLevel"],
                           "resourceUrn": e["resourceUrn"], "stack": doc["stack"]},
        })
    sarif = {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "strait-policies", "version": tool_version,
                            "informationUri": "https://www.pulumi.com/docs/iac/crossguard/", "rules": rules}},
        "automationDetails": {"id": f"strait/{doc['stack']}/"},
        "results": results,
    }]}
    return json.dumps(sarif, indent=2, sort_keys=True) + "\n"


#: GitHub refuses a comment body over 65,536 characters; leave room for the preview lines appended after.
COMMENT_LIMIT = 60_000


def merge_markdown(reports: list[tuple[str, int, str | None]], limit: int = COMMENT_LIMIT) -> str:
    """ONE pull-request comment from every stack's ``policy-report.md``: the marker once, a summary table, then
    a section per stack. ``reports`` holds (stack, exit code, its Markdown or None when the plan wrote none).
    Over ``limit`` characters, each section is cut to an equal share (at a line, with its ``<details>`` closed)
    and says where the whole report is."""
    sections, rows = [], []
    for stack, code, md in reports:
        if md is None:
            status = "no report: invalid configuration, or not planned"
            body = (f"## Strait plan: `{stack}`: {status} (exit {code})\n\nRun `strait plan --stack {stack}` locally "
                    "for the errors.\n")
        else:
            body = md.replace(COMMENT_MARKER, "").lstrip("\n")
            head = next((ln for ln in body.splitlines() if ln.startswith("## Strait plan:")), "")
            status = head.split("): ", 1)[1] if "): " in head else "see below"  # "## Strait plan: `s` (region): x"
        rows.append(f"| `{stack}` | {_cell(status)} | {code} |")
        sections.append((stack, body.rstrip() + "\n"))
    worst = max((c for _, c, _ in reports), default=0)
    head = [COMMENT_MARKER, f"# Strait plan: {len(reports)} stack(s), worst exit code {worst}", "",
            "| Stack | Result | Exit |", "| --- | --- | --- |", *rows, ""]
    head_text = "\n".join(head) + "\n"
    total = len(head_text) + sum(len(b) + 1 for _, b in sections)
    if total > limit and sections:
        share = max(200, (limit - len(head_text)) // len(sections) - 1)
        sections = [(s, b if len(b) <= share else _cut(b, share, s)) for s, b in sections]
    return head_text + "\n".join(b for _, b in sections)


def _cut(body: str, share: int, stack: str) -> str:
    note = f"\n(truncated: the whole report is out/{stack}/policy-report.md in the job's strait-plan-reports artefact)\n"
    keep = body[:max(0, share - len(note) - len("</details>\n"))]
    keep = keep[:keep.rfind("\n") + 1] if "\n" in keep else ""
    if keep.count("<details") > keep.count("</details>"):
        keep += "\n</details>\n"
    return keep + note


def collect_reports(out_dir, stacks: list[str]) -> list[tuple[str, int, str | None]]:
    """(stack, exit code, policy-report.md) for each stack from ``out_dir``; a stack without a report counts as
    exit 2 (`strait plan` writes its reports for exits 0 and 1, and stops before them on invalid config)."""
    from pathlib import Path

    out = []
    for stack in stacks:
        d = Path(out_dir) / stack
        md, js = d / FILES["md"], d / FILES["json"]
        if md.is_file() and js.is_file():
            out.append((stack, int(json.loads(js.read_text()).get("exitCode", 0)), md.read_text()))
        else:
            out.append((stack, 2, None))
    return out
