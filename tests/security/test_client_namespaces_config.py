"""`gateway.client_namespaces` (issue 8): typed and validated before any resource exists; a name Kubernetes would
refuse is an error naming the field, the value and the fix, and the plan admits exactly the named namespaces."""
from __future__ import annotations

import copy

import pytest

from strait.config import ConfigError, validate_stack
from tests.conftest import load_stack_raw

SECRETS = {"anthropic_api_key", "openai_api_key", "deepseek_api_key"}


def _validate(namespaces):
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["gateway"]["client_namespaces"] = namespaces
    return validate_stack(raw, "phase1-sg", secrets_set=SECRETS)


def test_default_is_no_client_namespace():
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["gateway"].pop("client_namespaces", None)
    assert validate_stack(raw, "phase1-sg", secrets_set=SECRETS).gateway.client_namespaces == []


def test_valid_names_pass():
    assert _validate(["apps", "team-a", "x" * 63]).gateway.client_namespaces == ["apps", "team-a", "x" * 63]


@pytest.mark.parametrize("bad", ["Apps", "team_a", "-apps", "apps-", "x" * 64, "", "a.b"])
def test_a_name_kubernetes_refuses_is_an_error_naming_field_and_value(bad):
    with pytest.raises(ConfigError) as exc:
        _validate(["apps", bad])
    text = exc.value.render()
    assert f"strait:gateway.client_namespaces[1] = {bad!r}: not a Kubernetes namespace name" in text, text
    assert "Fix: use 1-63 lower-case letters" in text
    assert "Traceback" not in text
