"""Drive the real ``__main__.py`` under mocks and collect what it registers."""
from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import runpy
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strait.plan.records import ResourceRecord
from strait.plan.stackfile import StackConfig

__all__ = ["PlanResult", "ResourceRecord", "paused_gc", "run_plan"]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the block without Python's cyclic garbage collector; leave what it built out of later collections.

    A plan allocates millions of short-lived objects (protobuf messages, futures, dicts) and next to no
    cyclic garbage (26 unreachable objects at 2,000 resources), yet every collection walks the SDK's ~600
    imported modules and the plan's records again: measured, the collector took ~40% of a plan's CPU, and
    a last full pass at exit another ~0.5 s. So: objects alive on entry are frozen (moved out of the
    collector's generations), the collector is off inside, and on the way out what the block left alive is
    frozen too, then the collector is restored as it was. Frozen objects are still freed by reference
    counting; only a cycle among them would wait for ``gc.unfreeze()``. benchmarks/plan.py prints the peak
    memory at 2,000 resources.
    """
    enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs what the SDK hands its executor at once, on the event loop's thread.

    The SDK sends each RPC (RegisterResource, Invoke...) to the loop's default thread pool, because a real
    gRPC call blocks. The mock monitor answers in microseconds, so the pool only adds a thread hand-off,
    a self-pipe wake-up and GIL contention per call. Answers and their order of arrival do not change what
    is recorded (records are sorted; see ``run_plan``); a mock that needs the loop re-enters it through the
    SDK's own reentrant ``_sync_await``.
    """

    def __init__(self) -> None:
        super().__init__(max_workers=1)

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        fut: concurrent.futures.Future = concurrent.futures.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed back to the awaiting coroutine, as the pool would
            fut.set_exception(exc)
        return fut


@dataclass
class PlanResult:
    stack: StackConfig
    config: Any
    resources: list[ResourceRecord]
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def by_type(self, type_: str) -> list[ResourceRecord]:
        return [r for r in self.resources if r.type == type_]


def run_plan(stack_cfg: StackConfig, config: Any, region: str) -> PlanResult:
    """Run the program of ``stack_cfg.project_dir`` under mocks. ``config`` is the validated model.

    Resources come back sorted by URN, each with sorted dependencies and sorted input keys, so two plans
    of the same stack are identical whatever order the SDK's coroutines registered them in.
    """
    with paused_gc(), _no_source_positions():
        return _run_plan(stack_cfg, config, region)


@contextmanager
def _no_source_positions() -> Iterator[None]:
    """Skip the SDK's per-resource stack walk while the program runs under mocks.

    For every resource the SDK calls ``traceback.extract_stack()`` and builds a protobuf stack trace and
    source position (file URIs and line numbers of the program's frames) to send with RegisterResource.
    The engine uses them for its diagnostics; the mock monitor drops them, and no record, manifest or
    report holds them. Measured at 2,000 resources the walk was ~13% of the plan's CPU. Inside this
    block the SDK sends an empty trace, as it does itself when it cannot find the frame that made the
    resource; ``pulumi up`` is untouched (the patch is undone on the way out).
    """
    from pulumi.runtime import resource as sdk_resource
    from pulumi.runtime.proto import source_pb2

    original = sdk_resource._get_stack_trace
    sdk_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = original


def _run_plan(stack_cfg: StackConfig, config: Any, region: str) -> PlanResult:
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime import config as runtime_config

    from pulumi.runtime.sync_await import _ensure_event_loop

    from strait.plan.mocks import SECRET_MASK, RecordingMonitor, StraitMocks, mask_secrets

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
    monitor = RecordingMonitor(mocks)
    stack_outputs: dict[str, Any] = {}
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(mocks, project=stack_cfg.project, stack=stack_cfg.stack, preview=False,
                             monitor=monitor, logger=logger)
    runtime_config.set_all_config(stack_cfg.engine_config(), sorted(stack_cfg.secret_keys))
    main = Path(project_dir) / "__main__.py"

    def program():
        runpy.run_path(str(main), run_name="__main__")
        # Under mocks the root stack registered its (empty) outputs before the program ran, so read the
        # exports here and await them, masking secrets, instead of waiting for RegisterResourceOutputs.
        exports = dict(settings.get_root_resource().outputs)

        async def collect():
            for key, value in sorted(exports.items()):
                out = pulumi.Output.from_input(value)
                val = await out.future(with_unknowns=True)
                stack_outputs[key] = SECRET_MASK if await out.is_secret() else mask_secrets(val)[0]
            return True

        loop = asyncio.get_event_loop()
        done = asyncio.ensure_future(collect())
        known, secret = loop.create_future(), loop.create_future()
        known.set_result(True)
        secret.set_result(False)
        return pulumi.Output(set(), done, known, secret)

    loop = _ensure_event_loop()
    executor = getattr(loop, "_default_executor", None)
    loop.set_default_executor(_InlineExecutor())
    try:
        pulumi.runtime.test(program)()
    finally:
        settings.set_root_resource(None)
        loop._default_executor = executor  # set_default_executor would refuse None
    return PlanResult(stack=stack_cfg, config=config, resources=monitor.records(), outputs=stack_outputs,
                      warnings=warnings)
