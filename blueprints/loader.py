"""The one module that reads Pulumi config. Everything downstream receives typed values."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from pulumi.runtime import config as runtime_config

from strait.config import SECRET_KEYS, ConfigError, validate_stack
from strait.config.errors import NAMESPACE


@dataclass(frozen=True)
class StackSecrets:
    """Secret config values as Pulumi secret Outputs (None when not set)."""

    values: dict[str, pulumi.Output[str]] = field(default_factory=dict)

    def get(self, key: str) -> pulumi.Output[str] | None:
        return self.values.get(key)


def _all_keys() -> dict[str, object]:
    """Every config key the engine gave us (set_all_config and the PULUMI_CONFIG environment)."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def _namespace_keys() -> dict[str, object]:
    """Every `strait:*` key the engine gave us."""
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix):]: v for k, v in _all_keys().items() if k.startswith(prefix)}


def load_stack():
    """Read and validate `strait:*`. On bad input, fail the update with every error and no traceback.

    The RunError goes to Pulumi's logs, so no value of a secret (or mistyped) key may be in it."""
    raw = _namespace_keys()
    present = {k for k in SECRET_KEYS if k in raw}
    secret_paths = {k for k in raw if pulumi.runtime.is_config_secret(f"{NAMESPACE}:{k}")}
    is_secret = present & secret_paths
    foreign = {k: v for k, v in _all_keys().items() if not k.startswith(f"{NAMESPACE}:")}
    try:
        cfg = validate_stack(raw, pulumi.get_stack(), secrets_set=is_secret, plaintext_secrets=present - is_secret,
                             secret_paths=secret_paths, foreign=foreign)
    except ConfigError as exc:
        raise pulumi.RunError(exc.render()) from None
    conf = pulumi.Config(NAMESPACE)
    secrets = StackSecrets({k: conf.require_secret(k) for k in sorted(is_secret)})
    return cfg, secrets
