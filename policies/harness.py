"""Offline front end: resolve policy config like the Pulumi engine and run every rule over a plan.

The engine (not the SDK) fills policy config, in this order: each policy's schema defaults, the
pack's ``initial_config``, the ``all`` entry of the ``--policy-pack-config`` file, then the
policy's own entry. A value may be an enforcement level string or an object with an optional
``enforcementLevel`` and properties. The result is validated against the policy's schema.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

import jsonschema

from policies import views as v
from policies.rules import RULES, Ctx, Rule

PACK_NAME = "strait"
LEVELS = ("advisory", "mandatory", "remediate", "disabled")

#: The pack's initial_config (shared with policies/__main__.py). Empty: each rule's own defaults hold.
INITIAL_CONFIG: dict[str, Any] = {}


class PolicyConfigError(ValueError):
    pass


@dataclass(frozen=True)
class PolicyEvent:
    """One violation, with Pulumi's ``policyEvent`` field names."""

    policyName: str
    policyPackName: str
    enforcementLevel: str
    message: str
    resourceUrn: str
    severity: str
    description: str

    def as_json(self) -> dict[str, str]:
        return asdict(self)


def full_schema(rule: Rule) -> dict[str, Any]:
    schema = {"type": "object", "properties": copy.deepcopy(rule.config_schema.get("properties", {}))}
    schema["properties"]["enforcementLevel"] = {"type": "string", "enum": list(LEVELS)}
    if rule.config_schema.get("required"):
        schema["required"] = list(rule.config_schema["required"])
    return schema


def schema_defaults(rule: Rule) -> dict[str, Any]:
    """Fill defaults with a jsonschema validator that sets them (the engine's behaviour)."""
    base = jsonschema.Draft7Validator

    def set_defaults(validator, properties, instance, schema):
        for prop, sub in properties.items():
            if isinstance(instance, dict) and "default" in sub:
                instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    filler = jsonschema.validators.extend(base, {"properties": set_defaults})
    out: dict[str, Any] = {}
    filler(full_schema(rule)).validate(out)
    return out


def _normalise(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, str):
        if value not in LEVELS:
            raise PolicyConfigError(f"{where}: {value!r} is not an enforcement level ({', '.join(LEVELS)})")
        return {"enforcementLevel": value}
    if isinstance(value, Mapping):
        return dict(value)
    raise PolicyConfigError(f"{where}: expected an enforcement level or an object, got {type(value).__name__}")


def resolve_config(file_config: Mapping[str, Any] | None = None,
                   initial_config: Mapping[str, Any] | None = None,
                   rules: Iterable[Rule] = RULES) -> dict[str, tuple[str, dict[str, Any]]]:
    """{policy name: (enforcement level, properties)} after the engine's merge order."""
    file_config = dict(file_config or {})
    initial_config = dict(INITIAL_CONFIG if initial_config is None else initial_config)
    rules = list(rules)
    names = {r.name for r in rules}
    unknown = sorted(set(file_config) - names - {"all"})
    if unknown:
        raise PolicyConfigError(f"policy config names unknown policies: {', '.join(unknown)}")
    out = {}
    for rule in rules:
        merged = {"enforcementLevel": rule.enforcement, **schema_defaults(rule)}
        for where, src in (("initial_config.all", initial_config.get("all")),
                           (f"initial_config.{rule.name}", initial_config.get(rule.name)),
                           ("all", file_config.get("all")), (rule.name, file_config.get(rule.name))):
            if src is not None:
                merged.update(_normalise(src, where))
        try:
            jsonschema.validate(merged, full_schema(rule))
        except jsonschema.ValidationError as exc:
            raise PolicyConfigError(f"{rule.name}: {exc.message}") from None
        level = merged.pop("enforcementLevel")
        out[rule.name] = (level, merged)
    return out


def evaluate(resources: list[v.Res], config: Mapping[str, tuple[str, dict[str, Any]]] | None = None,
             *, ctx: Ctx, rules: Iterable[Rule] = RULES) -> list[PolicyEvent]:
    """Run every enabled rule over ``resources``; one event per violation."""
    config = config or resolve_config()
    events: list[PolicyEvent] = []
    for rule in rules:
        level, props = config[rule.name]
        if level == "disabled":
            continue
        level = "mandatory" if level == "remediate" else level  # as the SDK reports it
        add = lambda msg, urn: events.append(PolicyEvent(  # noqa: E731
            policyName=rule.name, policyPackName=PACK_NAME, enforcementLevel=level, message=msg,
            resourceUrn=urn or "", severity=rule.severity, description=rule.description))
        if rule.scope == "stack":
            for msg, urn in rule.check(resources, props, ctx):
                add(msg, urn)
        else:
            for res in resources:
                if rule.applies_to(res.type):
                    for msg in rule.check(res, props, ctx):
                        add(msg, res.urn)
    return events


def stack_policy_config(monthly_budget_usd: float | None) -> dict[str, Any]:
    """The ``--policy-pack-config`` a stack implies (its budget); written next to the plan for `pulumi preview`."""
    return {"strait-gpu-spend-monthly-cap": {"monthly_budget_usd": monthly_budget_usd}}
