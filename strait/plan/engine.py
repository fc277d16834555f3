"""Drive the real ``__main__.py`` under mocks and collect what it registers."""
from __future__ import annotations

import logging
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strait.plan.stackfile import StackConfig


@dataclass(frozen=True)
class ResourceRecord:
    """One registered resource, as the plan, the cost estimate and the policies see it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    dependencies: tuple[str, ...]
    inputs: dict[str, Any]
    has_secrets: bool

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")

    def as_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "custom": self.custom,
                "parent": self.parent or None, "provider": self.provider or None,
                "dependencies": list(self.dependencies), "inputs": self.inputs}


@dataclass
class PlanResult:
    stack: StackConfig
    config: Any
    resources: list[ResourceRecord]
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def by_type(self, type_: str) -> list[ResourceRecord]:
        return [r for r in self.resources if r.type == type_]


class _OutputsMonitorMixin:
    stack_outputs: dict[str, Any]


def run_plan(stack_cfg: StackConfig, config: Any, region: str) -> PlanResult:
    """Run the program of ``stack_cfg.project_dir`` under mocks. ``config`` is the validated model."""
    import pulumi
    from pulumi.runtime import rpc, settings
    from pulumi.runtime import config as runtime_config

    from strait.plan.mocks import RecordingMonitor, StraitMocks, mask_secrets

    class Monitor(RecordingMonitor):
        def __init__(self, mocks):
            super().__init__(mocks)
            self.stack_outputs: dict[str, Any] = {}

        def RegisterResourceOutputs(self, request):
            if "pulumi:pulumi:Stack" in request.urn and "$" not in request.urn.split("::")[2]:
                outs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
                self.stack_outputs, _ = mask_secrets(outs)
            return super().RegisterResourceOutputs(request)

    project_dir = str(stack_cfg.project_dir)
    if project_dir not in sys.path:
        sys.path.insert(0, project_dir)
    warnings: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                warnings.append(record.getMessage())

    logger = logging.getLogger("strait.plan.engine")
    logger.propagate = False
    logger.handlers = [_Collect()]
    mocks = StraitMocks(region=region)
    monitor = Monitor(mocks)
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(mocks, project=stack_cfg.project, stack=stack_cfg.stack, preview=False,
                             monitor=monitor, logger=logger)
    runtime_config.set_all_config(stack_cfg.engine_config(), sorted(stack_cfg.secret_keys))
    main = Path(project_dir) / "__main__.py"

    def program():
        runpy.run_path(str(main), run_name="__main__")

    try:
        pulumi.runtime.test(program)()
    finally:
        settings.set_root_resource(None)
    records = [
        ResourceRecord(urn=r.urn, type=r.type, name=r.name, custom=r.custom, parent=r.parent, provider=r.provider,
                       dependencies=tuple(r.dependencies), inputs=r.inputs, has_secrets=r.has_secrets)
        for r in monitor.registrations
    ]
    return PlanResult(stack=stack_cfg, config=config, resources=records, outputs=monitor.stack_outputs, warnings=warnings)
