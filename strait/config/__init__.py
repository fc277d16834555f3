"""Typed stack config: read, validate against the catalog, and report every error at once.

``validate_stack(raw, stack)`` is the single entry point. It is pure (no pulumi import) so the
offline plan, the CLI and the tests call exactly what ``__main__.py`` calls.
"""
from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from strait.config.errors import MISSING, ConfigError, ConfigIssue, from_validation_error

#: Keys that must be Pulumi secrets (`pulumi config set --secret strait:<key> ...`).
#: They are read apart from the typed model and never enter it.
SECRET_KEYS = {
    "hf_token": "Hugging Face token for the seeding Job (needed for gated models such as Llama)",
    "litellm_master_key": "LiteLLM master key; generated when not set",
    "anthropic_api_key": "Anthropic API key for commercial tiers using provider 'anthropic'",
    "openai_api_key": "OpenAI API key for commercial tiers using provider 'openai'",
    "deepseek_api_key": "DeepSeek API key for commercial tiers using provider 'deepseek'",
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
    if issues:
        raise ConfigError(stack, issues)
    return cfg


__all__ = ["ConfigError", "ConfigIssue", "PROVIDER_SECRET", "SECRET_KEYS", "parse_value", "validate_stack"]
