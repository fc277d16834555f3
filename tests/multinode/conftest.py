"""Mocks are set before any component is imported (STYLE §11); the `monitor` fixture lives in tests/conftest.py."""
from __future__ import annotations

import pulumi

from strait.plan.mocks import StraitMocks

pulumi.runtime.set_mocks(StraitMocks(), project="strait", stack="test", preview=False)
