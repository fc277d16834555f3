"""Mocks are set before any component is imported (STYLE §11); each test gets a fresh recording monitor."""
from __future__ import annotations

import pulumi
import pytest
from pulumi.runtime import settings

from strait.plan.mocks import RecordingMonitor, StraitMocks

pulumi.runtime.set_mocks(StraitMocks(), project="strait", stack="test", preview=False)


@pytest.fixture
def monitor() -> RecordingMonitor:
    mocks = StraitMocks(region="ap-southeast-1")
    mon = RecordingMonitor(mocks)
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(mocks, project="strait", stack="test", preview=False, monitor=mon)
    yield mon
    settings.set_root_resource(None)


def of_type(monitor: RecordingMonitor, type_: str):
    return [r for r in monitor.registrations if r.type == type_]


def one(monitor: RecordingMonitor, type_: str):
    found = of_type(monitor, type_)
    assert len(found) == 1, f"expected one {type_}, got {[r.name for r in found]}"
    return found[0]


def by_name(monitor: RecordingMonitor, name: str):
    found = [r for r in monitor.registrations if r.name == name]
    assert len(found) == 1, f"expected one resource named {name}, got {len(found)}"
    return found[0]
