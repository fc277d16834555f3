"""`strait:accepted_advisories`: advisory policy findings a stack accepts on purpose, each with its reason.

A stack should plan with no policy findings at all. Where an advisory finding is a deliberate trade-off,
the stack names the policy and says why, for example::

    strait:accepted_advisories:
      strait-gpu-price-fresh: "m7i.xlarge: no dated price newer than 2025-10 reachable; checked by hand 2026-11"

`strait plan` then shows the finding as accepted, with the reason, and tests/blueprints/test_stack_policies.py
lets it through. Only advisory policies can be accepted: a mandatory one blocks the deployment and must be
fixed (or its enforcement level changed in the policy config, which is visible in review).
"""
from __future__ import annotations

import difflib
from typing import Annotated

from pydantic import AfterValidator, Field

#: A reason must say something a reviewer can check, not just "ok".
MIN_REASON_CHARS = 20


def _policy_levels() -> dict[str, str]:
    from policies.rules import RULES  # the policy pack is the one source of policy names

    return {r.name: r.enforcement for r in RULES}


def _check(v: dict[str, str]) -> dict[str, str]:
    from strait.config.errors import ConfigIssue, issues_error

    levels = _policy_levels()
    advisory = ", ".join(sorted(n for n, lvl in levels.items() if lvl == "advisory"))
    issues = []
    for name, reason in sorted(v.items()):
        if name not in levels:
            close = difflib.get_close_matches(name, sorted(levels), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            issues.append(ConfigIssue(name, reason, "not a Strait policy",
                                      f"{hint}name one of the advisory policies ({advisory}), or remove the entry"))
        elif levels[name] != "advisory":
            issues.append(ConfigIssue(name, reason, f"{name} is a {levels[name]} policy, which cannot be accepted",
                                      "fix what it reports; only advisory policies can be accepted"))
        elif len(" ".join(reason.split())) < MIN_REASON_CHARS:
            issues.append(ConfigIssue(name, reason, "the reason is too short",
                                      f"say why the finding is acceptable and when it will be revisited, in at least "
                                      f"{MIN_REASON_CHARS} characters"))
    if issues:
        raise issues_error(issues)
    return v


AcceptedAdvisories = Annotated[
    dict[str, str],
    AfterValidator(_check),
    Field(description="Advisory policy findings this stack accepts, as policy name -> reason. `strait plan` shows "
          "them as accepted instead of as violations. Only advisory policies; unknown names are errors. "
          "Default: none (every finding counts)."),
]
