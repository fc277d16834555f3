"""Shared fixtures. Stack plans run once per session, through the real CLI in a subprocess."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# LiteLLM fetches its model cost map from GitHub at import unless told to use its bundled copy.
# conftest is imported before any test module, so no test's `import litellm` reaches the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# "Today" for the price-freshness policy: the plan (strait plan) and the policy pack both read it, so a
# run that crosses midnight cannot make them disagree (policies/clock.py).
os.environ.setdefault("STRAIT_TODAY", "2026-11-23")

ROOT = Path(__file__).resolve().parents[1]
STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


def load_stack_raw(stack: str) -> dict:
    """The `strait:` namespace of a stack file, as a plain dict."""
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return {k.split(":", 1)[1]: v for k, v in doc["config"].items() if k.startswith("strait:")}


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "strait.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


class PlannedStack:
    def __init__(self, stack: str, out: Path, proc: subprocess.CompletedProcess):
        self.stack, self.dir, self.proc = stack, out / stack, proc

    @property
    def resources(self) -> list[dict]:
        return json.loads((self.dir / "resources.json").read_text())["resources"]

    @property
    def outputs(self) -> dict:
        return json.loads((self.dir / "resources.json").read_text())["outputs"]

    def manifests(self) -> list[tuple[Path, dict]]:
        return [(p, yaml.safe_load(p.read_text())) for p in sorted((self.dir / "manifests").rglob("*.yaml"))]


@pytest.fixture(scope="session")
def planned(tmp_path_factory) -> dict[str, PlannedStack]:
    out = tmp_path_factory.mktemp("plans")
    result = {}
    for stack in STACKS:
        proc = run_cli("plan", "--stack", stack, "--out", str(out))
        result[stack] = PlannedStack(stack, out, proc)
    return result


@pytest.fixture(autouse=True)
def _main_thread_event_loop():
    """Give the main thread an open event loop before every test.

    ``asyncio.run()`` (used by some tests and by libraries they call) ends with ``set_event_loop(None)``;
    after that ``get_event_loop()`` raises instead of creating a loop, and Pulumi's SDK builds its futures on
    ``get_event_loop()`` when mocks are set. Which later test then fails depended on test order.
    """
    policy = asyncio.get_event_loop_policy()
    try:
        loop = policy.get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())
    yield


@pytest.fixture
def monitor():
    """A fresh Pulumi mock monitor recording every registration (parent, provider, masked inputs)."""
    import pulumi
    from pulumi.runtime import settings

    from strait.plan.mocks import RecordingMonitor, StraitMocks

    mocks = StraitMocks(region="ap-southeast-1")
    mon = RecordingMonitor(mocks)
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(mocks, project="strait", stack="test", preview=False, monitor=mon)
    yield mon
    settings.set_root_resource(None)
