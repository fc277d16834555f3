"""Tier routing for the gateway: a rule-based complexity classifier and a context-window fit.

Pure and standard-library only: the gateway pod runs this exact file (shipped in the gateway's
ConfigMap as ``strait_routing.py`` beside ``config.yaml``) and loads it from ``strait_hook.py``, a
LiteLLM ``CustomLogger`` callback. Nothing here imports LiteLLM or Strait, so it is unit-tested on
its own (tests/gateway/test_routing.py) and runs unchanged inside the LiteLLM image.

Rules come from ``strait_routing.json`` (rendered by strait/render/litellm.py from the stack's
``gateway.routing`` section): see ``Rules.from_dict`` for the keys.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

#: Words that ask for multi-step reasoning. Matched as whole words, case-insensitively, in the
#: last user message only (a system prompt that says "think" on every request must not upgrade all).
DEFAULT_REASONING_CUES = (
    "step by step", "step-by-step", "prove", "proof", "derive", "reason carefully", "think carefully",
    "chain of thought", "analyse", "analyze", "trade-offs", "tradeoffs", "root cause", "debug",
    "refactor", "architecture", "optimi[sz]e", "formal", "theorem", "rigorous",
)

@dataclass(frozen=True)
class TierRule:
    """What the router knows about one tier."""

    max_input_tokens: Optional[int] = None  # None: no known window (treated as large enough)
    fallbacks: Tuple[str, ...] = ()
    context_window_fallbacks: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Rules:
    """Classifier thresholds and the tier table. All token counts are estimates (see chars_per_token)."""

    tiers: Mapping[str, TierRule]
    auto_model: Optional[str] = "auto"  # None: no auto model, only the context fit runs
    ladder: Tuple[str, ...] = ()  # tiers from cheapest to most capable; the score picks the rung
    long_context_tier: Optional[str] = None
    long_prompt_tokens: int = 4000
    many_tools: int = 4
    large_max_tokens: int = 4096
    reasoning_cues: Tuple[str, ...] = DEFAULT_REASONING_CUES
    reasoning_cue_weight: int = 2
    chars_per_token: float = 4.0
    default_completion_tokens: int = 1024
    request_deadline_seconds: Optional[float] = None  # None: no overall deadline (the hook's, not the classifier's)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Rules":
        tiers = {name: TierRule(max_input_tokens=t.get("max_input_tokens"), fallbacks=tuple(t.get("fallbacks", ())),
                                context_window_fallbacks=tuple(t.get("context_window_fallbacks", ())))
                 for name, t in d.get("tiers", {}).items()}
        kw = {k: d[k] for k in ("auto_model", "long_context_tier", "long_prompt_tokens", "many_tools",
                                "large_max_tokens", "reasoning_cue_weight", "chars_per_token",
                                "default_completion_tokens", "request_deadline_seconds") if k in d}
        if "ladder" in d:
            kw["ladder"] = tuple(d["ladder"])
        if "reasoning_cues" in d:
            kw["reasoning_cues"] = tuple(d["reasoning_cues"])
        return cls(tiers=tiers, **kw)

    @classmethod
    def load(cls, path: str) -> "Rules":
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def window(self, tier: str) -> Optional[int]:
        rule = self.tiers.get(tier)
        return rule.max_input_tokens if rule else None


@dataclass(frozen=True)
class Signals:
    prompt_tokens: int
    tools: int
    max_tokens: Optional[int]
    reasoning_cue: Optional[str]


@dataclass(frozen=True)
class Decision:
    tier: str
    score: int
    reasons: Tuple[str, ...]
    signals: Signals


def _text_of(content: Any) -> str:
    """Message content as text: a string, or the text parts of an OpenAI content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _messages(request: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    msgs = request.get("messages")
    if isinstance(msgs, list):
        return [m for m in msgs if isinstance(m, Mapping)]
    for key in ("input", "prompt"):  # Responses API / text completions
        v = request.get(key)
        if isinstance(v, str):
            return [{"role": "user", "content": v}]
        if isinstance(v, list):
            return [m if isinstance(m, Mapping) else {"role": "user", "content": str(m)} for m in v]
    return []


def _cue_pattern(cues: Sequence[str]) -> "re.Pattern[str]":
    return re.compile(r"\b(" + "|".join(cues) + r")\b", re.IGNORECASE) if cues else re.compile(r"(?!x)x")


_PATTERNS: Dict[Tuple[str, ...], "re.Pattern[str]"] = {}


def signals(request: Mapping[str, Any], rules: Rules) -> Signals:
    """Measure a chat request: estimated prompt tokens, tools, requested output and reasoning cues."""
    msgs = _messages(request)
    chars = sum(len(_text_of(m.get("content"))) for m in msgs)
    tools = request.get("tools") or request.get("functions") or []
    tools = tools if isinstance(tools, list) else []
    chars += len(json.dumps(tools, default=str)) if tools else 0
    prompt_tokens = math.ceil(chars / rules.chars_per_token) if chars else 0
    max_tokens = request.get("max_completion_tokens") or request.get("max_tokens") or request.get("max_output_tokens")
    max_tokens = int(max_tokens) if isinstance(max_tokens, (int, float)) and max_tokens > 0 else None
    cue = None
    if request.get("reasoning_effort") in ("medium", "high") or request.get("thinking"):
        cue = "reasoning_effort" if request.get("reasoning_effort") else "thinking"
    else:
        last_user = next((m for m in reversed(msgs) if m.get("role", "user") == "user"), None)
        if last_user is not None:
            pat = _PATTERNS.get(rules.reasoning_cues)
            if pat is None:
                pat = _PATTERNS.setdefault(rules.reasoning_cues, _cue_pattern(rules.reasoning_cues))
            m = pat.search(_text_of(last_user.get("content")))
            cue = m.group(0).lower() if m else None
    return Signals(prompt_tokens=prompt_tokens, tools=len(tools), max_tokens=max_tokens, reasoning_cue=cue)


def classify(request: Mapping[str, Any], rules: Rules) -> Decision:
    """Pick the tier for a request sent to the auto model.

    The score counts complexity signals (long prompt, many tools, large requested output; an
    explicit reasoning cue counts ``reasoning_cue_weight``) and picks that rung of the ladder,
    capped at the top. If the prompt plus its expected output does not fit the rung's context
    window, the long-context tier is tried first, then the rungs above; if nothing fits, the
    candidate with the largest window wins (its upstream rejects with a clear error, and
    LiteLLM's context_window_fallbacks take over).
    """
    s = signals(request, rules)
    if not rules.ladder:
        raise ValueError("routing rules have an empty ladder")
    score, reasons = 0, []
    if s.prompt_tokens >= rules.long_prompt_tokens:
        score += 1
        reasons.append(f"prompt ~{s.prompt_tokens} tokens >= {rules.long_prompt_tokens}")
    if s.tools >= rules.many_tools:
        score += 1
        reasons.append(f"{s.tools} tools >= {rules.many_tools}")
    if s.max_tokens is not None and s.max_tokens >= rules.large_max_tokens:
        score += 1
        reasons.append(f"max_tokens {s.max_tokens} >= {rules.large_max_tokens}")
    if s.reasoning_cue:
        score += rules.reasoning_cue_weight
        reasons.append(f"reasoning cue '{s.reasoning_cue}'")
    rung = min(score, len(rules.ladder) - 1)
    tier = rules.ladder[rung]
    needed = s.prompt_tokens + (s.max_tokens or rules.default_completion_tokens)
    if not _fits(rules.window(tier), needed):
        candidates = []
        if rules.long_context_tier:
            candidates.append(rules.long_context_tier)
        candidates += [t for t in rules.ladder[rung + 1:] if t not in candidates]
        fitting = [t for t in candidates if _fits(rules.window(t), needed)]
        if fitting:
            tier = fitting[0]
            reasons.append(f"~{needed} tokens exceed the window of {rules.ladder[rung]}")
        else:
            tier = max([tier, *candidates], key=lambda t: math.inf if rules.window(t) is None else rules.window(t))
            reasons.append(f"~{needed} tokens exceed every window; using the largest")
    return Decision(tier=tier, score=score, reasons=tuple(reasons) or ("simple request",), signals=s)


def fit_context(tier: str, request: Mapping[str, Any], rules: Rules) -> Tuple[str, Optional[str]]:
    """A request named for ``tier`` whose estimated prompt plus output exceeds the tier's window
    goes to the first of the tier's context_window_fallbacks that fits (else the last one). Returns
    (tier, reason or None). An estimate that misses is caught by the upstream's own 400, on which
    LiteLLM runs the same context_window_fallbacks."""
    rule = rules.tiers.get(tier)
    if rule is None or not rule.context_window_fallbacks:
        return tier, None
    s = signals(request, rules)
    needed = s.prompt_tokens + (s.max_tokens or 0)
    if _fits(rule.max_input_tokens, needed):
        return tier, None
    for fb in rule.context_window_fallbacks:
        if _fits(rules.window(fb), needed):
            return fb, f"~{needed} tokens exceed the {rule.max_input_tokens}-token window of {tier}"
    return rule.context_window_fallbacks[-1], f"~{needed} tokens exceed every window; using {rule.context_window_fallbacks[-1]}"


def _fits(window: Optional[int], needed: int) -> bool:
    return window is None or needed <= window
