"""Drive the real CrossGuard pack (policies/__main__.py under pulumi-policy) the way the Pulumi engine does.

The pack is started as its own process; it prints its gRPC port and serves the Analyzer service. We
call GetAnalyzerInfo, Configure (config resolved like the engine: schema defaults, initial_config,
`all`, per-policy), Analyze for every resource and AnalyzeStack once, over loopback only.
"""
from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as pb
from pulumi.runtime.proto import analyzer_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[2]
LEVEL_NAMES = {pb.ADVISORY: "advisory", pb.MANDATORY: "mandatory", pb.REMEDIATE: "remediate", pb.DISABLED: "disabled"}
LEVEL_VALUES = {v: k for k, v in LEVEL_NAMES.items()}


def _struct(d: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(d)
    return s


@contextmanager
def running_pack(timeout_s: float = 60) -> Iterator[pb_grpc.AnalyzerStub]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "policies" / "__main__.py")], cwd=ROOT / "policies",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout_s
        line = proc.stdout.readline().strip()  # the SDK prints the port, then serves forever
        if not line.isdigit():
            proc.kill()
            raise RuntimeError(f"pack did not start: {line!r} {proc.stderr.read()[-2000:]}")
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=max(1.0, deadline - time.monotonic()))
        yield pb_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.kill()  # only the process this helper started
        proc.wait(timeout=10)


def configure(stub: pb_grpc.AnalyzerStub, resolved: dict[str, tuple[str, dict[str, Any]]]) -> None:
    req = pb.ConfigureAnalyzerRequest()
    for name, (level, props) in resolved.items():
        req.policyConfig[name].CopyFrom(pb.PolicyConfig(enforcementLevel=LEVEL_VALUES[level], properties=_struct(props)))
    stub.Configure(req)


def _resource(r: dict[str, Any], providers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    prov = providers.get((r.get("provider") or "").rsplit("::", 1)[0])
    out = {"type": r["type"], "properties": _struct(r.get("inputs") or {}), "urn": r["urn"], "name": r["name"],
           "options": pb.AnalyzerResourceOptions(parent=r.get("parent") or "")}
    if prov:
        out["provider"] = pb.AnalyzerProviderResource(type=prov["type"], properties=_struct(prov.get("inputs") or {}),
                                                      urn=prov["urn"], name=prov["name"])
    return out


def analyze_plan(stub: pb_grpc.AnalyzerStub, resources: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Every diagnostic the pack reports for a plan's resources.json, as policyEvent-shaped dicts."""
    providers = {r["urn"]: r for r in resources if r["type"].startswith("pulumi:providers:")}
    custom = [r for r in resources if r.get("custom", True)]
    diags = []  # (diagnostic, urn of the analysed resource: the engine attributes resource violations to it)
    for r in custom:
        diags += [(d, r["urn"]) for d in stub.Analyze(pb.AnalyzeRequest(**_resource(r, providers))).diagnostics]
    stack_req = pb.AnalyzeStackRequest(resources=[pb.AnalyzerResource(**_resource(r, providers),
                                                                      parent=r.get("parent") or "") for r in custom])
    diags += [(d, "") for d in stub.AnalyzeStack(stack_req).diagnostics]
    return [{"policyName": d.policyName, "policyPackName": d.policyPackName,
             "enforcementLevel": LEVEL_NAMES[d.enforcementLevel], "message": d.message, "resourceUrn": d.urn or urn,
             "description": d.description} for d, urn in diags]


def info(stub: pb_grpc.AnalyzerStub):
    return stub.GetAnalyzerInfo(empty_pb2.Empty())
