"""Read Pulumi.yaml + stacks/Pulumi.<stack>.yaml the way the CLI would (pulumi/pulumi#4472: mocks do not)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from strait.config.errors import NAMESPACE


class StackFileError(Exception):
    pass


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    project_dir: Path
    values: dict[str, Any]
    """Full keys ("strait:region") -> decoded YAML values."""
    secret_keys: frozenset[str] = field(default_factory=frozenset)
    placeholders: tuple[str, ...] = ()
    """Secret keys filled with offline placeholders (not set in the stack file)."""

    def namespace(self, ns: str = NAMESPACE) -> dict[str, Any]:
        return {k.split(":", 1)[1]: v for k, v in self.values.items() if k.startswith(f"{ns}:")}

    def engine_config(self) -> dict[str, str]:
        """What the engine hands the language host: every value as a string, objects as JSON."""
        out = {}
        for k, v in self.values.items():
            if isinstance(v, str):
                out[k] = v
            elif isinstance(v, bool):
                out[k] = "true" if v else "false"
            elif isinstance(v, (int, float)):
                out[k] = str(v)
            else:
                out[k] = json.dumps(v)
        return out


def find_project_dir(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "Pulumi.yaml").is_file():
            return d
    raise StackFileError(f"no Pulumi.yaml in {here} or any parent; run from a Strait project (or pass --project-dir)")


def placeholder_secret(key: str) -> str:
    """A recognisable fake secret; the plan checks that none of these leaks into its outputs."""
    return f"offline-placeholder-{key.replace('_', '-')}-0123456789abcdef"


def with_placeholders(cfg: StackConfig, keys: list[str]) -> StackConfig:
    """Fill the named secret keys (namespace-less) that the stack file does not set with placeholder secrets."""
    values, secret_keys, filled = dict(cfg.values), set(cfg.secret_keys), []
    for key in sorted(keys):
        full = f"{NAMESPACE}:{key}"
        if full not in values:
            values[full] = placeholder_secret(key)
            secret_keys.add(full)
            filled.append(key)
    return StackConfig(project=cfg.project, stack=cfg.stack, project_dir=cfg.project_dir, values=values,
                       secret_keys=frozenset(secret_keys), placeholders=tuple(sorted(set(cfg.placeholders) | set(filled))))


def load_stack_config(project_dir: Path, stack: str) -> StackConfig:
    proj = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    project = proj.get("name", "project")
    stack_dir = project_dir / proj.get("stackConfigDir", ".")
    path = stack_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stack_dir.glob("Pulumi.*.yaml"))
        raise StackFileError(f"no stack file {path.relative_to(project_dir)}; known stacks: {', '.join(known) or '(none)'}")
    values: dict[str, Any] = {}
    for key, decl in (proj.get("config") or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        if isinstance(decl, dict) and ("value" in decl or "default" in decl):
            values[full] = decl.get("value", decl.get("default"))
        elif not isinstance(decl, dict):
            values[full] = decl
    try:
        stack_doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path.relative_to(project_dir)} is not valid YAML: {exc}") from None
    secret_keys, placeholders = set(), []
    for key, value in (stack_doc.get("config") or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            # We cannot decrypt without the stack's secrets provider; use a placeholder, still a secret.
            value = placeholder_secret(full.split(":", 1)[1])
            secret_keys.add(full)
        values[full] = value
    return StackConfig(project=project, stack=stack, project_dir=project_dir, values=values,
                       secret_keys=frozenset(secret_keys), placeholders=tuple(sorted(placeholders)))
