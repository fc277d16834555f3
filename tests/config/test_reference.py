"""docs/config-reference.md is generated from the models, is up to date, and holds every anchor errors cite."""
from __future__ import annotations

import re

from blueprints.registry import CONFIG_MODELS
from strait.config.errors import anchor, field_chain
from strait.config.reference import DOC_PATH, anchors, render
from tests.conftest import ROOT


def test_committed_reference_is_not_stale():
    assert DOC_PATH.read_text() == render(), "run `python -m strait.config.reference --write`"


def _fields(model, chain=()):
    from strait.config.reference import _sections

    found = []
    _sections(model, (), found)
    for ch, m in found:
        for name in m.model_fields:
            yield (*ch, name)


def test_every_field_has_an_anchor_and_a_row():
    text = render()
    have = anchors(text)
    for model in CONFIG_MODELS.values():
        for chain in _fields(model):
            assert anchor(list(chain)) in have, chain
            assert f"`{chain[-1]}`" in text


def test_error_links_resolve_through_collections():
    model = CONFIG_MODELS["phase1_mvp"]
    assert anchor(field_chain(model, ("models", "qwen32b", "revision"))) == "models-revision"
    assert anchor(field_chain(model, ("gateway", "tiers", "t", "providers", 0, "provider"))) == \
        "gateway-tiers-providers-provider"
    assert anchor(field_chain(model, ("tags", "team"))) == "tags"


def test_every_anchor_cited_in_the_code_exists():
    have = anchors(DOC_PATH.read_text())
    cited = set()
    for folder in ("strait", "blueprints", "components", "policies"):
        for path in (ROOT / folder).rglob("*.py"):
            cited |= set(re.findall(r"config-reference\.md#([a-z0-9-]+)", path.read_text()))
    assert cited >= {"names"}  # the name error cites it
    assert cited <= have, sorted(cited - have)


def test_every_anchor_an_error_cites_exists():
    """Errors built from pydantic's cite `see docs/config-reference.md#<field>`; each must resolve."""
    import copy

    import pytest

    from strait.config import ConfigError, validate_stack
    from tests.conftest import load_stack_raw

    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["cost_center"] = "bad|value"
    raw["gateway"]["tiers"]["commercial"]["providers"][0]["model"] = 5
    raw["network"]["cidr"] = []
    raw["models"]["Bad_Name"] = raw["models"]["qwen32b"]
    with pytest.raises(ConfigError) as exc:
        validate_stack(raw, "phase1-sg", foreign={"aws:region": "x"})
    cited = re.findall(r"config-reference\.md#([a-z0-9-]+)", exc.value.render())
    assert len(cited) >= 3
    assert set(cited) <= anchors(DOC_PATH.read_text())
