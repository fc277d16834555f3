""""Today", as an input: the price-freshness policy judges catalog dates against it.

Callers pass it into ``policies.rules.Ctx`` explicitly, so the offline report (`strait plan --today`)
and the CrossGuard pack agree even when a run crosses midnight. Both read ``STRAIT_TODAY``
(an ISO date) when it is set, which is how tests pin it; otherwise the current date.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import Mapping

ENV = "STRAIT_TODAY"


def parse_day(text: str) -> dt.date:
    """An ISO date (YYYY-MM-DD); ValueError with the value and the expected form otherwise."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-23") from None


def today(env: Mapping[str, str] | None = None) -> dt.date:
    """``$STRAIT_TODAY`` when set, else the current date (read once, by the caller)."""
    value = (os.environ if env is None else env).get(ENV)
    if value:
        try:
            return parse_day(value)
        except ValueError as exc:
            raise ValueError(f"{ENV}={exc}") from None
    return dt.date.today()
