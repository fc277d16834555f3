"""Typed stack config: read, validate against the catalog, and report every error at once.

``validate_stack(raw, stack)`` is the single entry point. It is pure (no pulumi import) so the
offline plan, the CLI and the tests call exactly what ``__main__.py`` calls.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

from pydantic import ValidationError

from strait.config.errors import (
    MISSING,
    NAMESPACE,
    NOT_SHOWN,
    SECRET,
    ConfigError,
    ConfigIssue,
    _Shown,
    did_you_mean,
    from_validation_error,
    looks_secret_name,
    looks_secret_value,
    reference_link,
)
from strait.config.observability import alerting_secret_issues, langfuse_secret_issues

#: Keys that must be Pulumi secrets (`pulumi config set --secret strait:<key> ...`).
#: They are read apart from the typed model and never enter it.
SECRET_KEYS = {
    "hf_token": "Hugging Face token for the seeding Job (needed for gated models such as Llama)",
    "litellm_master_key": "LiteLLM master key; generated when not set",
    "anthropic_api_key": "Anthropic API key for commercial tiers using provider 'anthropic'",
    "openai_api_key": "OpenAI API key for commercial tiers using provider 'openai'",
    "deepseek_api_key": "DeepSeek API key for commercial tiers using provider 'deepseek'",
    "litellm_database_url": "Postgres URL for the gateway's spend tracking (gateway.spend_tracking: true)",
    "langfuse_public_key": "Project public key (pk-lf-...) of an external Langfuse (observability.langfuse.mode: external)",
    "langfuse_secret_key": "Project secret key (sk-lf-...) of an external Langfuse (observability.langfuse.mode: external)",
    "pagerduty_routing_key": "PagerDuty Events API v2 integration key (observability.alerting.pagerduty: true)",
    "slack_webhook_url": "Slack incoming-webhook URL (observability.alerting.slack_channel)",
}
#: Secret key each provider needs.
PROVIDER_SECRET = {"anthropic": "anthropic_api_key", "openai": "openai_api_key", "deepseek": "deepseek_api_key"}


def parse_value(value: Any) -> Any:
    """Pulumi hands structured config over as JSON text; scalars stay strings (pydantic coerces them)."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


PLAIN_TEXT = _Shown("<plain text>")
#: Size caps, checked before anything expensive: no real stack comes near them, and a file that does
#: (100,000 tags) must fail in milliseconds rather than after minutes and gigabytes of validation.
MAX_ITEMS = 1000
MAX_STRING_CHARS = 65536
MAX_DEPTH = 16
#: Values in all (YAML aliases can make a 1 KiB file expand to billions of values: "billion laughs").
MAX_VALUES = 100_000
#: Namespaces Strait accepts besides its own: Pulumi's (`pulumi:disable-default-providers`, `pulumi:tags`).
OTHER_NAMESPACES = {"pulumi"}


def validate_stack(raw: dict[str, Any], stack: str, *, secrets_set: set[str] | frozenset[str] = frozenset(),
                   plaintext_secrets: set[str] | frozenset[str] = frozenset(),
                   secret_paths: set[str] | frozenset[str] = frozenset(),
                   foreign: Mapping[str, Any] | None = None):
    """Validate the ``strait:`` namespace of a stack.

    ``raw`` maps keys without the namespace to values; ``secrets_set`` names the secret keys that
    are set (as secrets), ``plaintext_secrets`` those set in plain text by mistake. ``secret_paths``
    names every key (known or not) whose value Pulumi holds as a secret; ``foreign`` maps the stack's
    keys in other namespaces (``strat:monthly_budget_usd``) to their values.
    Returns the blueprint's config model; raises ``ConfigError`` listing every issue. No error shows
    the value of an unknown key, nor of a key that is, or looks like, a secret.
    """
    scrub = _Scrubber(raw, foreign or {}, secret_paths)
    try:
        return _validate(raw, stack, secrets_set=secrets_set, plaintext_secrets=plaintext_secrets, foreign=foreign or {})
    except ConfigError as exc:
        raise ConfigError(stack, [scrub(i) for i in exc.issues]) from None


def _validate(raw: dict[str, Any], stack: str, *, secrets_set, plaintext_secrets, foreign: Mapping[str, Any]):
    from strait.config.registry import config_models

    CONFIG_MODELS = config_models()

    secret_values = {k: v for k, v in raw.items() if k in SECRET_KEYS}
    raw = {k: parse_value(v) for k, v in raw.items() if k not in SECRET_KEYS}
    issues: list[ConfigIssue] = [
        ConfigIssue(k, PLAIN_TEXT, "this key holds a credential but is not stored as a secret",
                    f"run `pulumi config set --secret strait:{k} <value>`")
        for k in sorted(plaintext_secrets)
    ]
    fields = sorted({f for m in CONFIG_MODELS.values() for f in m.model_fields})
    issues += namespace_issues(foreign, fields)
    oversized = size_issues(raw)
    if oversized:  # fail fast: validating 100,000 tags costs minutes
        raise ConfigError(stack, issues + oversized)
    name = raw.get("blueprint", MISSING)
    model = CONFIG_MODELS.get(name) if isinstance(name, str) else None
    if model is None:
        issues.append(ConfigIssue("blueprint", name, "not a known blueprint",
                                  f"set strait:blueprint to one of: {', '.join(sorted(CONFIG_MODELS))}"))
        raise ConfigError(stack, issues)
    try:
        cfg = model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(stack, issues + from_validation_error(exc, model, frozenset(SECRET_KEYS))) from None
    for tname, tier in cfg.gateway.tiers.items():
        for i, p in enumerate(tier.providers):
            key = PROVIDER_SECRET[p.provider]
            if key not in secrets_set and key not in plaintext_secrets:
                issues.append(ConfigIssue(f"gateway.tiers.{tname}.providers[{i}].provider", p.provider,
                                          f"needs the secret strait:{key}, which is not set",
                                          f"run `pulumi config set --secret strait:{key} <key>`"))
    issues += _gateway_secret_issues(cfg, secret_values, secrets_set | plaintext_secrets)
    issues += langfuse_secret_issues(cfg, secrets_set | plaintext_secrets)
    issues += alerting_secret_issues(cfg, secrets_set | plaintext_secrets)
    if issues:
        raise ConfigError(stack, issues)
    return cfg


def namespace_issues(foreign: Mapping[str, Any], fields: list[str]) -> list[ConfigIssue]:
    """Keys outside ``strait:`` would be silently ignored (default providers are disabled, so even
    ``aws:region`` configures nothing): name each one, never showing its value."""
    issues = []
    known = sorted(set(fields) | set(SECRET_KEYS))
    for full in sorted(foreign):
        ns, _, key = full.partition(":")
        if ns in OTHER_NAMESPACES or ns == NAMESPACE:
            continue
        target = key if key in known else (did_you_mean(key, known) or key)
        if ns.lower() == NAMESPACE:
            problem = (f"namespace '{ns}' is not '{NAMESPACE}' (config namespaces are case-sensitive), "
                       "so Strait would never read this key")
        elif did_you_mean(ns.lower(), [NAMESPACE], cutoff=0.6):
            problem = f"unknown namespace '{ns}' (a typo of '{NAMESPACE}'?), so this key would be silently ignored"
        else:
            problem = (f"Strait reads no '{ns}:' keys: default providers are disabled and every provider is "
                       "configured from strait:* keys, so this key would be silently ignored")
            issues.append(ConfigIssue(full, NOT_SHOWN, problem, f"remove it; Strait's keys are listed in "
                                      f"{reference_link(None, ())}", full_key=True))
            continue
        fix = f"rename it to {NAMESPACE}:{target}"
        if looks_secret_name(key) or key in SECRET_KEYS:
            fix += f" and store it with `pulumi config set --secret {NAMESPACE}:{target} <value>`"
        issues.append(ConfigIssue(full, NOT_SHOWN, problem, fix, full_key=True))
    return issues


def size_issues(raw: Mapping[str, Any]) -> list[ConfigIssue]:
    """Collections over MAX_ITEMS entries, strings over MAX_STRING_CHARS, nesting over MAX_DEPTH.

    Walks at most MAX_VALUES values in all, so the check itself stays cheap on any input.
    """
    issues: list[ConfigIssue] = []
    seen = [0]

    class _TooMany(Exception):
        pass

    def walk(value: Any, path: str, depth: int) -> None:
        seen[0] += 1
        if seen[0] > MAX_VALUES:
            raise _TooMany
        if depth > MAX_DEPTH:
            issues.append(ConfigIssue(path, NOT_SHOWN, f"nested more than {MAX_DEPTH} levels deep",
                                      f"flatten it; see {reference_link(None, ())}"))
            return
        if isinstance(value, (dict, list)):
            if len(value) > MAX_ITEMS:
                kind = "entries" if isinstance(value, dict) else "items"
                issues.append(ConfigIssue(path, NOT_SHOWN, f"has {len(value):,} {kind}, more than Strait accepts "
                                          f"anywhere ({MAX_ITEMS:,}); nothing was validated further",
                                          "remove the extra entries (a generated file?)"))
                return
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                walk(v, f"{path}[{k}]" if isinstance(value, list) else f"{path}.{k}", depth + 1)
        elif isinstance(value, str) and len(value) > MAX_STRING_CHARS:
            issues.append(ConfigIssue(path, NOT_SHOWN, f"is {len(value):,} characters long, more than Strait accepts "
                                      f"anywhere ({MAX_STRING_CHARS:,})", "shorten it"))

    if len(raw) > MAX_ITEMS:
        return [ConfigIssue("(root)", NOT_SHOWN, f"the stack sets {len(raw):,} keys, more than {MAX_ITEMS:,}",
                            "remove the extra keys")]
    for key, value in raw.items():
        try:
            walk(value, str(key), 1)
        except _TooMany:
            issues.append(ConfigIssue(str(key), NOT_SHOWN, f"expands to more than {MAX_VALUES:,} values (YAML aliases "
                                      "repeating each other?); nothing was validated further",
                                      "write the values out, without nested aliases"))
            break
    return issues


def _secret_strings(value: Any, secret: bool, budget: list[int], out: set[str]) -> None:
    """Collect the strings a secret may be made of: every scalar under a secret-marked key (by name, by
    ``secure:`` form, or by the caller), and every credential-shaped string anywhere. Visits at most
    MAX_VALUES values; oversized collections are skipped (size_issues refuses them unseen)."""
    budget[0] -= 1
    if budget[0] < 0:
        return
    if isinstance(value, (dict, list)):
        if len(value) > MAX_ITEMS:
            return
        items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        for k, v in items:
            _secret_strings(v, secret or (k is not None and (k == "secure" or looks_secret_name(str(k)))), budget, out)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value)
        if (secret or looks_secret_value(text)) and len(text) >= _Scrubber.MIN_SCRUB_CHARS:
            out.add(text)


class _Scrubber:
    """Hides secrets in issues: the value of any key that is secret, named like one, written in
    ``secure:`` form or shaped like a credential; and any such string wherever it appears in text."""

    MIN_SCRUB_CHARS = 6  # shorter strings would garble messages; no real credential is this short

    def __init__(self, raw: Mapping[str, Any], foreign: Mapping[str, Any], secret_paths):
        self.secret_tops = set(secret_paths) | set(SECRET_KEYS)
        self.strings: set[str] = set()
        values = {**{k: parse_value(v) for k, v in raw.items()}, **foreign}
        budget = [MAX_VALUES]
        for top, value in values.items():
            _secret_strings(value, str(top) in self.secret_tops or looks_secret_name(str(top)), budget, self.strings)

    def hide_value(self, issue: ConfigIssue) -> bool:
        if isinstance(issue.value, _Shown):
            return False
        parts = issue.path.replace("[", ".").replace("]", "").split(".")
        if not issue.full_key and parts[0] in self.secret_tops:
            return True
        if any(looks_secret_name(p) for p in parts):
            return True
        text = json.dumps(issue.value, default=str) if not isinstance(issue.value, str) else issue.value
        return looks_secret_value(issue.value) or any(s in text for s in self.strings)

    def _text(self, text: str) -> str:
        for s in sorted(self.strings, key=len, reverse=True):
            text = text.replace(s, "<secret>")
        return text

    def __call__(self, issue: ConfigIssue) -> ConfigIssue:
        value = SECRET if self.hide_value(issue) else issue.value
        return dataclasses.replace(issue, value=value, problem=self._text(issue.problem), fix=self._text(issue.fix))


def _gateway_secret_issues(cfg, secret_values: dict[str, Any], present: set[str] | frozenset[str]) -> list[ConfigIssue]:
    """A user-provided master key must be strong (the value is checked, never shown); spend
    tracking needs its database URL. Offline plans fill unset secrets with placeholders, which
    are skipped."""
    from strait.gateway.keys import master_key_problem

    issues: list[ConfigIssue] = []
    key = secret_values.get("litellm_master_key")
    if isinstance(key, str) and not key.startswith(OFFLINE_PLACEHOLDER_PREFIX):
        problem = master_key_problem(key)
        if problem:
            issues.append(ConfigIssue("litellm_master_key", SECRET, f"the master key {problem}",
                                      "unset it to have one generated, or set a strong one: "
                                      "`pulumi config set --secret strait:litellm_master_key sk-$(openssl rand -hex 32)`"))
    # A blueprint that creates the cloud's managed Postgres itself (``MANAGES_DATABASE`` on its config model, e.g.
    # phase2_scale) needs no URL from the user.
    if getattr(cfg.gateway, "spend_tracking", False) and "litellm_database_url" not in present \
            and not getattr(type(cfg), "MANAGES_DATABASE", False):
        issues.append(ConfigIssue("gateway.spend_tracking", True, "needs the secret strait:litellm_database_url, which is not set",
                                  "run `pulumi config set --secret strait:litellm_database_url postgresql://...`, "
                                  "or set spend_tracking: false"))
    return issues


#: Prefix of the values the offline plan puts in place of secrets it cannot decrypt (strait/plan/stackfile.py).
OFFLINE_PLACEHOLDER_PREFIX = "offline-placeholder-"


__all__ = ["ConfigError", "ConfigIssue", "PROVIDER_SECRET", "SECRET_KEYS", "parse_value", "validate_stack",
           "namespace_issues", "size_issues"]
