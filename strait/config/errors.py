"""Config errors that name the field, the value given and a fix (AWS CDK guideline style)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

NAMESPACE = "strait"


@dataclass(frozen=True)
class ConfigIssue:
    """One problem with the stack config."""

    path: str  # dotted, without the namespace: "models.qwen32b.max_model_len"
    value: Any
    problem: str
    fix: str

    def render(self) -> str:
        return f"{NAMESPACE}:{self.path} = {_show(self.value)}: {self.problem}. Fix: {self.fix}."


class ConfigError(Exception):
    """Raised with every issue found, before any resource is registered."""

    def __init__(self, stack: str, issues: list[ConfigIssue]):
        self.stack = stack
        self.issues = issues
        super().__init__(self.render())

    def render(self) -> str:
        n = len(self.issues)
        lines = [f"Invalid Strait config for stack '{self.stack}' ({n} error{'s' if n != 1 else ''}):"]
        lines += [f"  - {i.render()}" for i in self.issues]
        return "\n".join(lines)


class _Missing:
    def __repr__(self) -> str:
        return "<not set>"


MISSING = _Missing()


def _show(value: Any) -> str:
    if value is MISSING:
        return "<not set>"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True, default=str)
        return text if len(text) <= 80 else text[:77] + "..."
    return repr(value)


def issues_error(issues: list[ConfigIssue]) -> PydanticCustomError:
    """Carry several cross-field issues out of one ``model_validator`` (pydantic stops at one raise)."""
    return PydanticCustomError("strait_issues", "{count} config issue(s)", {"count": len(issues), "issues": issues})


# --- pydantic error -> ConfigIssue ---------------------------------------------------------

def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at ``loc`` (for listing allowed keys)."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            # a dict key or list index: look through to the value type
            continue
        ann = field.annotation
        current = _unwrap(ann)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(ann: Any) -> Any:
    """dict[str, X] / X | None / list[X] -> X when X is a model."""
    args = getattr(ann, "__args__", None)
    if not args:
        return ann
    for a in reversed(args):
        inner = _unwrap(a)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return ann


_FIXES = {
    "missing": "add this key to the stack file",
    "int_parsing": "give a whole number",
    "int_type": "give a whole number",
    "int_from_float": "give a whole number",
    "float_parsing": "give a number",
    "float_type": "give a number",
    "bool_parsing": "use true or false",
    "bool_type": "use true or false",
    "string_type": "give a string",
    "dict_type": "give a mapping of name: settings",
    "list_type": "give a list",
    "model_type": "give a mapping of settings",
    "model_attributes_type": "give a mapping of settings",
}


def from_validation_error(exc: ValidationError, model: type[BaseModel]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        if err["type"] == "strait_issues":
            issues.extend(ctx["issues"])
            continue
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in loc) or "(root)"
        value = err.get("input", MISSING) if err["type"] != "missing" else MISSING
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, loc[:-1])
            allowed = ", ".join(sorted(owner.model_fields)) if owner else "see the blueprint's config model"
            issues.append(ConfigIssue(path, value, f"unknown key '{loc[-1]}'", f"remove it or correct its spelling; allowed keys here: {allowed}"))
            continue
        if err["type"] in ("literal_error", "enum"):
            fix = f"use {ctx.get('expected', 'one of the allowed values')}"
        elif err["type"] in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            fix = msg[0].lower() + msg[1:]
            fix = f"give a value that is {fix.removeprefix('input should be ')}"
        elif err["type"] == "value_error":
            # our own field validators: "problem || fix"
            text = msg.removeprefix("Value error, ")
            problem, _, fix = text.partition(" || ")
            issues.append(ConfigIssue(path, value, problem, fix or "see the README's config reference"))
            continue
        else:
            fix = _FIXES.get(err["type"], "see the README's config reference")
        issues.append(ConfigIssue(path, value, msg[0].lower() + msg[1:], fix))
    return issues
