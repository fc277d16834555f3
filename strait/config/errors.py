"""Config errors that name the field, the value given and a fix (AWS CDK guideline style).

No secret value ever reaches an error: the value of an unknown key is never shown (it may be a
mistyped credential), nor the value of any key whose name or ``secure:`` form marks it as secret.
"""
from __future__ import annotations

import difflib
import json
import re
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
    full_key: bool = False
    """``path`` is a whole config key with its own namespace (``strat:monthly_budget_usd``)."""

    def render(self) -> str:
        key = self.path if self.full_key else f"{NAMESPACE}:{self.path}"
        return f"{key} = {_show(self.value)}: {self.problem}. Fix: {self.fix}."


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


class _Shown:
    """A stand-in for a value the error must not (or cannot) show."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


MISSING = _Shown("<not set>")
#: The value of an unknown key: it may be a mistyped credential, so it is never shown.
NOT_SHOWN = _Shown("<not shown>")
#: The value of a key that holds (or looks like) a credential.
SECRET = _Shown("<secret>")

#: Where the generated reference lives (strait/config/reference.py writes it).
REFERENCE_DOC = "docs/config-reference.md"


def anchor(fields: list[str] | tuple[str, ...]) -> str:
    """The reference's anchor for a chain of field names: ("models", "revision") -> "models-revision"."""
    return "-".join(fields).replace("_", "-").lower() or "top-level-keys"


def field_chain(model: type[BaseModel] | None, loc: tuple | list) -> list[str]:
    """The field names along ``loc``, dropping the keys and indexes of collections.

    ``models.qwen32b.revision`` -> ["models", "revision"]: every model shares one entry in the reference.
    """
    chain: list[str] = []
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str) \
                and part in current.model_fields:
            chain.append(part)
            current = _unwrap(current.model_fields[part].annotation)
        # else: a collection key or list index; the value type stays the same
    return chain


def reference_link(model: type[BaseModel] | None, loc: tuple | list) -> str:
    return f"{REFERENCE_DOC}#{anchor(field_chain(model, loc))}"


def _show(value: Any) -> str:
    if isinstance(value, _Shown):
        return value.text
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


#: Words that mark a key as holding a credential (matched against its ``_``/``-`` separated parts).
_SECRET_WORDS = {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "passphrase", "credential",
                 "credentials", "dsn", "cookie", "pat", "salt"}
#: Value shapes of common credentials (Anthropic/OpenAI sk-, Hugging Face hf_, Langfuse pk-lf-/sk-lf-,
#: GitHub, Slack, AWS access key ids, JWTs, URLs with a password).
_SECRET_VALUE = re.compile(r"^(sk-|sk_|pk-lf-|hf_|ghp_|gho_|ghs_|github_pat_|xox[abposr]-|AKIA|ASIA|eyJ)|"
                           r"://[^/\s:@]+:[^/\s@]+@")


def looks_secret_name(key: str) -> bool:
    """True when a key's name says it holds a credential (``antropic_api_key``, ``hf-token``, ``database_url``)."""
    k = str(key).lower()
    parts = set(re.split(r"[_\-.]", k))
    return bool(parts & _SECRET_WORDS) or "api_key" in k or "apikey" in k or k.endswith(("database_url", "db_url"))


def looks_secret_value(value: Any) -> bool:
    return isinstance(value, str) and bool(_SECRET_VALUE.search(value))


def did_you_mean(name: str, options: list[str] | set[str], cutoff: float = 0.6) -> str | None:
    close = difflib.get_close_matches(str(name), sorted(options), n=1, cutoff=cutoff)
    return close[0] if close else None


def unknown_key_issue(path: str, key: str, allowed: list[str] | set[str], *, secret_keys: set[str] | frozenset[str] = frozenset(),
                      top_level: bool = False) -> ConfigIssue:
    """An unknown key: never show its value, suggest the closest valid name."""
    allowed = sorted(allowed)
    if looks_secret_name(key) and secret_keys:
        guess = did_you_mean(key, secret_keys, cutoff=0.5)
        target = guess or "<name>"
        where = "" if top_level else "; secrets are top-level keys, never inside a section"
        fix = (f"{'did you mean ' + repr(guess) + '? ' if guess else ''}remove it and run "
               f"`pulumi config set --secret strait:{target} <value>`{where}; secret keys: {', '.join(sorted(secret_keys))}")
        return ConfigIssue(path, NOT_SHOWN, f"unknown key '{key}' (it looks like a credential)", fix)
    options = allowed + (sorted(secret_keys) if top_level else [])
    guess = did_you_mean(key, options)
    fix = (f"did you mean '{guess}'? " if guess else "") + \
        f"remove it or correct its spelling; allowed keys here: {', '.join(allowed)}"
    return ConfigIssue(path, NOT_SHOWN, f"unknown key '{key}'", fix)


def dotted(loc: tuple | list) -> str:
    """("gateway", "tiers", "t", "models", 0) -> "gateway.tiers.t.models[0]", as Strait's own issues write it."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def from_validation_error(exc: ValidationError, model: type[BaseModel],
                          secret_keys: set[str] | frozenset[str] = frozenset()) -> list[ConfigIssue]:
    """Turn pydantic's errors into issues. ``secret_keys``: the top-level secret key names, to suggest."""
    issues: list[ConfigIssue] = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        loc = tuple(err["loc"])
        if err["type"] == "strait_issues":
            # a nested model's own cross-field issues carry paths relative to it
            prefix = dotted(loc)
            issues.extend(ConfigIssue(".".join(p for p in (prefix, i.path) if p), i.value, i.problem, i.fix)
                          for i in ctx["issues"])
            continue
        if loc and loc[-1] == "[key]":  # a collection's key (a name the user chose) failed its check
            loc = loc[:-1]
        path = dotted(loc) or "(root)"
        value = err.get("input", MISSING) if err["type"] != "missing" else MISSING
        msg = err["msg"]
        link = f"see {reference_link(model, loc)}"
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, loc[:-1])
            allowed = sorted(owner.model_fields) if owner else []
            issues.append(unknown_key_issue(path, str(loc[-1]), allowed, secret_keys=secret_keys, top_level=len(loc) == 1))
            continue
        if err["type"] in ("literal_error", "enum"):
            fix = f"use {ctx.get('expected', 'one of the allowed values')}"
        elif err["type"] in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            fix = msg[0].lower() + msg[1:]
            fix = f"give a value that is {fix.removeprefix('input should be ')}"
        elif err["type"] == "finite_number":
            fix = "give a finite number: .inf and .nan are not allowed (to leave a limit off, remove the key)"
        elif err["type"] == "value_error":
            # our own field validators: "problem || fix"
            text = msg.removeprefix("Value error, ")
            problem, _, fix = text.partition(" || ")
            issues.append(ConfigIssue(path, value, problem, fix or link))
            continue
        elif err["type"] in _FIXES:
            fix = _FIXES[err["type"]]
        else:
            fix = link
        issues.append(ConfigIssue(path, value, msg[0].lower() + msg[1:], fix))
    return issues
