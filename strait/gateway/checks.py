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
