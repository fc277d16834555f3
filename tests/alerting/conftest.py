"""Judges of the alerting tests: Debian's prometheus-alertmanager (amtool, and the Alertmanager itself) and
promtool. A missing judge is a failure, not a skip."""
from __future__ import annotations

import shutil

import pytest


def binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: run scripts/setup.sh --test (installs Debian's {package} package)")
    return path


@pytest.fixture(scope="session")
def amtool() -> str:
    return binary("amtool", "prometheus-alertmanager")


@pytest.fixture(scope="session")
def alertmanager_bin() -> str:
    return binary("prometheus-alertmanager", "prometheus-alertmanager")


@pytest.fixture(scope="session")
def promtool() -> str:
    return binary("promtool", "prometheus")
