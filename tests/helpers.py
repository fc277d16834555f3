"""Helpers shared across test folders: golden files and lookups over recorded registrations."""
from __future__ import annotations

import os
from pathlib import Path

from strait.plan.mocks import RecordingMonitor


def check_golden(folder: Path, name: str, actual: str) -> None:
    """Compare with ``folder/name``; STRAIT_UPDATE_GOLDEN=1 rewrites it after an intended change."""
    path = folder / name
    if os.environ.get("STRAIT_UPDATE_GOLDEN"):
        path.write_text(actual)
    assert path.read_text() == actual, f"{name} changed; if intended, rerun with STRAIT_UPDATE_GOLDEN=1"


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
