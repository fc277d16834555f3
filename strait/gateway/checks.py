"""Cross-field checks of the gateway section that pydantic cannot express on one field."""
from __future__ import annotations

from strait.config.errors import ConfigIssue
from strait.config.sections import GatewayConfig


def check_gateway_routing(gw: GatewayConfig, model_names: set[str] | frozenset[str]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    tiers = gw.tiers

    def others(t: str) -> str:
        return ", ".join(sorted(x for x in tiers if x != t)) or "(add a second tier)"

    for tname, tier in tiers.items():
        for i, fb in enumerate(tier.context_window_fallbacks):
            if fb not in tiers or fb == tname:
                issues.append(ConfigIssue(f"gateway.tiers.{tname}.context_window_fallbacks[{i}]", fb,
                                          "not another tier of this gateway", f"use one of: {others(tname)}"))
    issues += check_gateway_limits(gw)
    r = gw.routing
    if r is None:
        return issues
    for i, t in enumerate(r.ladder):
        if t not in tiers:
            issues.append(ConfigIssue(f"gateway.routing.ladder[{i}]", t, "not a tier of this gateway",
                                      f"use one of: {', '.join(sorted(tiers))}"))
    if len(set(r.ladder)) != len(r.ladder):
        issues.append(ConfigIssue("gateway.routing.ladder", list(r.ladder), "names a tier twice",
                                  "list each tier once, cheapest first"))
    if r.long_context_tier is not None and r.long_context_tier not in tiers:
        issues.append(ConfigIssue("gateway.routing.long_context_tier", r.long_context_tier, "not a tier of this gateway",
                                  f"use one of: {', '.join(sorted(tiers))}"))
    if r.auto_model in tiers or r.auto_model in model_names:
        issues.append(ConfigIssue("gateway.routing.auto_model", r.auto_model,
                                  "is also the name of a tier or model, so clients could not ask for either one",
                                  "pick a name no tier or model uses, e.g. auto"))
    return issues


def check_gateway_limits(gw: GatewayConfig) -> list[ConfigIssue]:
    """The request deadline covers every tier's own timeouts, and the HPA's bounds are in order."""
    issues: list[ConfigIssue] = []
    deadline = gw.request_deadline_seconds
    shown = int(deadline) if float(deadline).is_integer() else deadline  # as the stack file wrote it
    for tname, tier in sorted(gw.tiers.items()):
        for field, value in (("timeout_seconds", tier.timeout_seconds), ("stream_timeout_seconds", tier.stream_timeout_seconds)):
            if value is not None and value > deadline:
                issues.append(ConfigIssue(
                    "gateway.request_deadline_seconds", shown,
                    f"is shorter than gateway.tiers.{tname}.{field} ({value:g} s), so that tier could never use its "
                    "own timeout", f"raise request_deadline_seconds to at least {value:g}, or lower the tier's {field}"))
    if gw.max_replicas is not None and gw.max_replicas < gw.replicas:
        issues.append(ConfigIssue("gateway.max_replicas", gw.max_replicas,
                                  f"is below gateway.replicas ({gw.replicas}), the HPA's minimum",
                                  f"set max_replicas to at least {gw.replicas}, or leave it unset to size it from "
                                  "peak_requests_per_second"))
    return issues
