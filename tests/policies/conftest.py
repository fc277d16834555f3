"""Fixtures for the policy tests: the catalog context and a resources.json of phase1-sg planned once."""
from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from policies.rules import Ctx
from strait.catalog import load_catalog


@pytest.fixture(scope="session")
def ctx() -> Ctx:
    return Ctx(catalog=load_catalog(), today=dt.date(2026, 11, 23))


@pytest.fixture()
def phase1_resources(planned) -> list[dict]:
    """A fresh, mutable copy of phase1-sg's planned resources (resources.json)."""
    return copy.deepcopy(json.loads((planned["phase1-sg"].dir / "resources.json").read_text())["resources"])
