"""The plan's fast paths give exactly what the stock paths give (no timing here: benchmarks/plan.py measures)."""
from __future__ import annotations

import yaml
from pulumi.runtime import rpc
from pulumi.runtime.sync_await import _sync_await

from strait.plan import artefacts
from strait.plan.monitor import _state_struct

from tests.plan.test_engine import TRICKY


def stock(m):
    return yaml.dump(m, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False)


def test_manifest_dumper_writes_the_stock_dumpers_bytes():
    shared = {"k": "v"}
    docs = [TRICKY, {"a": [shared, shared], "b": shared},  # a shared object still becomes an anchor
            {"f": [1.0, 1e20, float("inf"), -0.0, 1e-7], "t": (1, 2), "n": [None, True, False, 0, -3]},
            {"s": ["~", "Null", "0x1F", "1_000", ".5", "+1", "y", "n", "=", "<<", "", "- x", "1e3"]}]
    for m in docs:
        assert artefacts.dump_manifest(m) == stock(m)
    assert "&id001" in artefacts.dump_manifest(docs[1])
    again = artefacts.dump_manifest(docs[3])  # memoised resolver answers the same the second time
    assert again == stock(docs[3])


def test_state_struct_is_the_sdks_serialization():
    secret = rpc.wrap_rpc_secret("s3cr3t")
    for state in [{"id": "x", "n": 3, "f": 0.5, "none": None, "b": True, "nested": {"none": None, "l": [1, None, "a"]},
                   "secret": secret, "unknown": rpc.UNKNOWN, "empty": {}, "el": []},
                  {"t": (1, 2), "l": [1, 2]}]:  # a tuple is not JSON: the SDK serializes it
        assert _state_struct(state) == _sync_await(rpc.serialize_properties(state, {}))
    assert "none" not in _state_struct({"none": None})


def test_a_registration_inside_another_keeps_its_own_inputs():
    """Inline on the loop's thread, a registration can run inside another's (the SDK's re-entrant _sync_await):
    each record must keep the inputs of its own request."""
    import pulumi
    from google.protobuf import struct_pb2
    from pulumi.runtime import settings
    from pulumi.runtime.proto import resource_pb2

    from strait.plan.mocks import StraitMocks
    from strait.plan.monitor import RecordingMonitor

    def request(name: str) -> resource_pb2.RegisterResourceRequest:
        obj = struct_pb2.Struct()
        obj.update({"who": name})
        return resource_pb2.RegisterResourceRequest(type="kubernetes:core/v1:ConfigMap", name=name, custom=True,
                                                    object=obj)

    class Nesting(StraitMocks):
        def new_resource(self, args):
            if args.name == "outer":
                monitor.RegisterResource(request("inner"))
            return super().new_resource(args)

    monitor = RecordingMonitor(Nesting())
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(monitor.mocks, project="p", stack="s", monitor=monitor)
    try:
        monitor.RegisterResource(request("outer"))
    finally:
        settings.set_root_resource(None)
    got = {r.name: r.inputs["who"] for r in monitor.records()}
    assert got == {"outer": "outer", "inner": "inner"}
