"""Typed stack config: read, validate against the catalog, and report every error at once.

``validate_stack(raw, stack)`` is the single entry point. It is pure (no pulumi import) so the
offline plan, the CLI and the tests call exactly what ``__main__.py`` calls.
"""
from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from strait.config.errors import MISSING, ConfigError, ConfigIssue, from_validation_error
from strait.config.observability import langfuse_secret_issues

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


def validate_stack(raw: dict[str, Any], stack: str, *, secrets_set: set[str] | frozenset[str] = frozenset(),
                   plaintext_secrets: set[str] | frozenset[str] = frozenset()):
    """Validate the ``strait:`` namespace of a stack.

    ``raw`` maps keys without the namespace to values; ``secrets_set`` names the secret keys that
    are set (as secrets), ``plaintext_secrets`` those set in plain text by mistake.
    Returns the blueprint's config model; raises ``ConfigError`` listing every issue.
    """
    from blueprints.registry import CONFIG_MODELS

    secret_values = {k: v for k, v in raw.items() if k in SECRET_KEYS}
    raw = {k: parse_value(v) for k, v in raw.items() if k not in SECRET_KEYS}
    issues: list[ConfigIssue] = [
        ConfigIssue(k, "<plain text>", "this key holds a credential but is not stored as a secret",
                    f"run `pulumi config set --secret strait:{k} <value>`")
        for k in sorted(plaintext_secrets)
    ]
    name = raw.get("blueprint", MISSING)
    model = CONFIG_MODELS.get(name) if isinstance(name, str) else None
    if model is None:
        issues.append(ConfigIssue("blueprint", name, "not a known blueprint",
                                  f"set strait:blueprint to one of: {', '.join(sorted(CONFIG_MODELS))}"))
        raise ConfigError(stack, issues)
    try:
        cfg = model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(stack, issues + from_validation_error(exc, model)) from None
    for tname, tier in cfg.gateway.tiers.items():
        for i, p in enumerate(tier.providers):
            key = PROVIDER_SECRET[p.provider]
            if key not in secrets_set and key not in plaintext_secrets:
                issues.append(ConfigIssue(f"gateway.tiers.{tname}.providers[{i}].provider", p.provider,
                                          f"needs the secret strait:{key}, which is not set",
                                          f"run `pulumi config set --secret strait:{key} <key>`"))
    issues += _gateway_secret_issues(cfg, secret_values, secrets_set | plaintext_secrets)
    issues += langfuse_secret_issues(cfg, secrets_set | plaintext_secrets)
    if issues:
        raise ConfigError(stack, issues)
    return cfg


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
            issues.append(ConfigIssue("litellm_master_key", "<secret>", f"the master key {problem}",
                                      "unset it to have one generated, or set a strong one: "
                                      "`pulumi config set --secret strait:litellm_master_key sk-$(openssl rand -hex 32)`"))
    if getattr(cfg.gateway, "spend_tracking", False) and "litellm_database_url" not in present:
        issues.append(ConfigIssue("gateway.spend_tracking", True, "needs the secret strait:litellm_database_url, which is not set",
                                  "run `pulumi config set --secret strait:litellm_database_url postgresql://...`, "
                                  "or set spend_tracking: false"))
    return issues


#: Prefix of the values the offline plan puts in place of secrets it cannot decrypt (strait/plan/stackfile.py).
OFFLINE_PLACEHOLDER_PREFIX = "offline-placeholder-"


__all__ = ["ConfigError", "ConfigIssue", "PROVIDER_SECRET", "SECRET_KEYS", "parse_value", "validate_stack"]
