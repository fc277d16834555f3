"""CrossGuard front end: wrap every rule in ``policies.rules`` as a pulumi_policy Policy.

Importable (it builds Policy objects only); ``policies/__main__.py`` hands them to ``PolicyPack``,
which starts the gRPC server and never returns. Config arrives from the engine with schema defaults
filled; ``_props`` fills them again so a hand-built argument bag gets the same defaults.
"""
from __future__ import annotations

import functools
from typing import Any, Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)

from policies import views
from policies.harness import schema_defaults
from policies.rules import RULES, Ctx, Rule


@functools.lru_cache(maxsize=1)
def _ctx() -> Ctx:
    from policies.clock import today
    from strait.catalog import load_catalog

    return Ctx(catalog=load_catalog(), today=today())  # once per pack process, like the plan's one date


def _is_int_schema(schema: Mapping[str, Any]) -> bool:
    t = schema.get("type")
    return t == "integer" or (isinstance(t, list) and "integer" in t)


def _coerce(value: Any, schema: Mapping[str, Any]) -> Any:
    """Config crosses gRPC as a protobuf Struct, where every number is a double: give integers back."""
    if isinstance(value, float) and value.is_integer() and _is_int_schema(schema):
        return int(value)
    if isinstance(value, Mapping) and isinstance(schema.get("additionalProperties"), Mapping):
        return {k: _coerce(x, schema["additionalProperties"]) for k, x in value.items()}
    return value


def _props(rule: Rule, config: Mapping[str, Any]) -> dict[str, Any]:
    schema = rule.config_schema.get("properties", {})
    given = {k: _coerce(val, schema.get(k, {})) for k, val in dict(config or {}).items() if k != "enforcementLevel"}
    return {**schema_defaults(rule), **given}


def _resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args, report_violation):
        if not rule.applies_to(args.resource_type):
            return
        for msg in rule.check(views.from_policy_args(args), _props(rule, args.get_config()), _ctx()):
            report_violation(msg, None)

    return ResourceValidationPolicy(name=rule.name, description=rule.description, validate=validate, **_meta(rule))


def _stack_policy(rule: Rule) -> StackValidationPolicy:
    def validate(args, report_violation):
        resources = views.from_policy_resources(args.resources)
        for msg, urn in rule.check(resources, _props(rule, args.get_config()), _ctx()):
            report_violation(msg, urn)

    return StackValidationPolicy(name=rule.name, description=rule.description, validate=validate, **_meta(rule))


def _meta(rule: Rule) -> dict[str, Any]:
    schema = rule.config_schema
    return {"enforcement_level": EnforcementLevel(rule.enforcement), "severity": Severity(rule.severity),
            "config_schema": PolicyConfigSchema(properties=schema.get("properties", {}), required=schema.get("required"))
            if schema.get("properties") else None,
            "remediation_steps": rule.remediation or None, "tags": ["strait"]}


def build_policies() -> list:
    return [_stack_policy(r) if r.scope == "stack" else _resource_policy(r) for r in RULES]
