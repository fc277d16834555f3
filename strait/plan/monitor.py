"""The mock monitor that records every registration, deterministically and compactly.

Two things make a naive recording unfit to diff:

* Inputs arrive as protobuf Structs, whose key order changes from one process to the next; every
  dict is rebuilt here with sorted keys, so manifests and ``resources.json`` are byte-identical.
* ``depends_on=[component]`` reaches the monitor already expanded by the SDK into every custom
  resource under the component (``pulumi.runtime.rpc._add_dependency``): at 150 models one
  ``depends_on=[cache]`` wrote 316 URNs per record. The monitor records such a set as the component's
  URN instead (:meth:`_DependencyIndex.compact`). The record stays exact: expanding a component URN
  by the same rule the SDK uses, over the plan's own records, gives back the set the engine was sent
  (``strait.plan.records.DependencyGraph.expand``); where it would not, the URNs are kept.

An input no mock could compute is written as ``[unknown]`` (the SDK's marker object would print its
memory address).
"""
from __future__ import annotations

import threading
from typing import Any

from google.protobuf import struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from strait.plan.records import ResourceRecord

SECRET_MASK = "[secret]"
#: An input whose value was not known when the plan ran (a computed output no mock answered).
UNKNOWN_MASK = "[unknown]"
_STACK_TYPE = "pulumi:pulumi:Stack"
_UNKNOWN_BYTES = rpc.UNKNOWN.encode()


def mask_secrets(value: Any) -> tuple[Any, bool]:
    """Replace every secret (as serialized by the SDK) with a mask; report whether any was found.

    Dicts come back with their keys sorted, so whatever is written from them is stable.
    """
    if rpc.is_rpc_secret(value):
        return _mask_all(rpc.unwrap_rpc_secret(value)), True
    if isinstance(value, Unknown):  # its repr holds a memory address: never let it reach a file
        return UNKNOWN_MASK, False
    if isinstance(value, dict):
        out, found = {}, False
        for k in sorted(value):
            out[k], f = mask_secrets(value[k])
            found = found or f
        return out, found
    if isinstance(value, list):
        items = [mask_secrets(v) for v in value]
        return [i[0] for i in items], any(i[1] for i in items)
    return value, False


def _mask_all(value: Any) -> Any:
    """Keep the shape (so a masked Secret is still a valid object) but hide every leaf."""
    if isinstance(value, dict):
        return {k: _mask_all(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_mask_all(v) for v in value]
    return SECRET_MASK


class _DependencyIndex:
    """For each component registered so far, the custom resources a ``depends_on`` on it expands to.

    The SDK's rule: a local component stands for its children, recursively through child components;
    a custom resource (providers included) stands for itself, never for its own children.
    """

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.custom: dict[str, bool] = {}
        self._expansion: dict[str, set[str]] = {}
        self._frozen: dict[str, frozenset[str]] = {}

    def add(self, urn: str, parent: str, custom: bool) -> None:
        self.parent[urn], self.custom[urn] = parent, custom
        if not custom:
            self._expansion[urn] = set()
            return
        for comp in self._component_ancestors(urn):
            self._expansion[comp].add(urn)
            self._frozen.pop(comp, None)

    def expansion(self, comp: str) -> frozenset[str]:
        snap = self._frozen.get(comp)
        if snap is None:
            snap = self._frozen[comp] = frozenset(self._expansion[comp])
        return snap

    def _component_ancestors(self, urn: str) -> list[str]:
        """Ancestors reached through components only, nearest first (the stack is not one of them)."""
        out, p = [], self.parent.get(urn, "")
        while p in self._expansion:
            out.append(p)
            p = self.parent.get(p, "")
        return out

    def compact(self, parent: str, deps: set[str]) -> tuple[tuple[str, ...], dict[str, frozenset[str]]]:
        """``deps`` with every component whose whole expansion (two resources or more) it holds written as
        that component's URN, outermost component first; sorted. Also returns the expansions used.

        A component that encloses the registering resource (under ``parent``) is never written: "depends
        on my own parent" would mean nothing.
        """
        own, p = set(), parent
        while p in self._expansion:
            own.add(p)
            p = self.parent.get(p, "")
        candidates: dict[str, int] = {}
        for d in deps:
            chain = self._component_ancestors(d)
            for depth, comp in enumerate(reversed(chain)):
                if comp not in own:
                    candidates[comp] = depth
        remaining, used = set(deps), {}
        for comp in sorted(candidates, key=lambda c: (candidates[c], c)):
            exp = self.expansion(comp)
            if len(exp) >= 2 and exp <= remaining:
                remaining -= exp
                used[comp] = exp
        return tuple(sorted(remaining | used.keys())), used


_PLAIN_LEAVES = (str, bool, int, float)


def _is_plain(value: Any) -> bool:
    """Only JSON values (exact str/bool/int/float/None, dicts with str keys, lists): what the mocks return."""
    t = type(value)
    if t in _PLAIN_LEAVES or value is None:
        return True
    if t is dict:
        return all(type(k) is str and _is_plain(v) for k, v in value.items())
    if t is list:
        return all(_is_plain(v) for v in value)
    return False


def _state_struct(state: dict[str, Any]) -> struct_pb2.Struct:
    """``rpc.serialize_properties(state, {})`` for a mock's answer, without the coroutines when it can.

    For JSON values that function returns the same values, dropping only top-level Nones ("properties
    that serialize to None do not exist"); a secret is already the plain dict the SDK's signature marks.
    Anything else (a resource reference, an asset, an Output) goes through the SDK itself.
    """
    if _is_plain(state):
        struct = struct_pb2.Struct()
        struct.update({k: v for k, v in state.items() if v is not None})
        return struct
    return _sync_await(rpc.serialize_properties(state, {}))


class RecordingMonitor(pmocks.MockMonitor):
    """Pulumi's mock monitor, recording each registration as a :class:`ResourceRecord`."""

    def __init__(self, mocks: Any):
        super().__init__(mocks)
        #: Every resource registered so far (the stack excepted), in registration order, as recorded. A test
        #: may ``clear()`` it to build again with a fresh root stack.
        self.registrations: list[ResourceRecord] = []
        self._count = 0
        self._used: dict[int, dict[str, frozenset[str]]] = {}
        self._index = _DependencyIndex()
        # The SDK calls RegisterResource from a pool of threads (the plan runs it inline on the loop's thread,
        # where a registration may run inside another's _sync_await: all per-call state is local).
        self._lock = threading.Lock()

    def records(self) -> list[ResourceRecord]:
        """Every resource registered, sorted by URN (the order the plan writes them in), each with its
        dependencies final: see :meth:`_final`."""
        with self._lock:
            return sorted((self._final(i, r) for i, r in enumerate(self.registrations)), key=lambda r: r.urn)

    def _final(self, i: int, rec: ResourceRecord) -> ResourceRecord:
        """``rec``, with a component written in its dependencies expanded back to the URNs it stood for when
        the component gained custom resources after ``rec`` registered (its URN would now mean more)."""
        used = self._used.get(i)
        if not used or all(self._index.expansion(c) == exp for c, exp in used.items()):
            return rec
        deps = set(rec.dependencies)
        for comp, exp in used.items():
            if self._index.expansion(comp) != exp:
                deps.discard(comp)
                deps |= exp
        return ResourceRecord(urn=rec.urn, type=rec.type, name=rec.name, custom=rec.custom, parent=rec.parent,
                              provider=rec.provider, dependencies=tuple(sorted(deps)), inputs=rec.inputs,
                              has_secrets=rec.has_secrets)

    def RegisterResource(self, request):
        response, raw = self._register(request)
        if request.type != _STACK_TYPE:
            if _UNKNOWN_BYTES in request.object.SerializeToString():
                # The mock monitor turns an unknown into None; the record keeps it visible.
                raw = rpc.deserialize_properties(request.object, keep_unknowns=True)
            inputs, has_secrets = mask_secrets(raw)
            with self._lock:
                if len(self.registrations) < self._count:  # cleared for a second build: start afresh
                    self._used, self._index = {}, _DependencyIndex()
                deps, used = self._index.compact(request.parent, set(request.dependencies))
                if used:
                    self._used[len(self.registrations)] = used
                self.registrations.append(ResourceRecord(
                    urn=response.urn, type=request.type, name=request.name, custom=bool(request.custom),
                    parent=request.parent, provider=request.provider, dependencies=deps,
                    inputs=inputs, has_secrets=has_secrets))
                self._index.add(response.urn, request.parent, bool(request.custom))
                self._count = len(self.registrations)
        return response

    def _register(self, request):
        """``pmocks.MockMonitor.RegisterResource`` (pulumi 3.272.0), line for line, except that the mock's
        answer is turned into the response's Struct by :func:`_state_struct` (same Struct, no coroutines), and
        the inputs it deserialized for the mocks come back with the response, so they are not deserialized twice.
        """
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == _STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=urn), None
        _ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object)
        resource_args = pmocks.MockResourceArgs(
            typ=request.type, name=request.name, inputs=inputs, provider=request.provider,
            resource_id=request.importId, custom=request.custom or False,
            transforms=pmocks._resolve_callbacks(request.transforms))
        id_, state = self.mocks.new_resource(resource_args)
        obj_proto = _state_struct(state)
        self.resources[urn] = pmocks.MockMonitor.ResourceRegistration(urn, id_, state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=obj_proto), inputs
