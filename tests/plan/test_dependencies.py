"""The monitor writes a component dependency as the component's URN, and loses nothing by it.

Each program below runs under Pulumi's mocks; a monitor subclass keeps the URN list the SDK really sent,
and every record, expanded by strait.plan.records.DependencyGraph, must give that list back.
"""
from __future__ import annotations

import asyncio

import pulumi
import pytest
from pulumi.runtime import settings

from strait.plan.mocks import RecordingMonitor, StraitMocks
from strait.plan.records import DependencyGraph


class RawMonitor(RecordingMonitor):
    """Also keeps the dependencies as the SDK sent them (already expanded), by resource name."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.raw: dict[str, set[str]] = {}

    def RegisterResource(self, request):
        self.raw[request.name] = set(request.dependencies)
        return super().RegisterResource(request)


@pytest.fixture
def raw_monitor():
    mocks = StraitMocks()
    mon = RawMonitor(mocks)
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(mocks, project="strait", stack="test", preview=False, monitor=mon)
    yield mon
    settings.set_root_resource(None)


class Thing(pulumi.CustomResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None, **props):
        super().__init__("test:index:Thing", name, props, opts)


class Box(pulumi.ComponentResource):
    """A component with ``n`` custom children and, optionally, a nested Box."""

    def __init__(self, name: str, n: int, inner: int = 0, opts: pulumi.ResourceOptions | None = None):
        super().__init__("test:index:Box", name, None, opts)
        self.items = [Thing(f"{name}-{i}", pulumi.ResourceOptions(parent=self)) for i in range(n)]
        self.inner = Box(f"{name}-inner", inner, opts=pulumi.ResourceOptions(parent=self)) if inner else None
        self.register_outputs({})


def after(*deps) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(depends_on=list(deps))


def run(program) -> None:
    @pulumi.runtime.test
    def test():
        return program()
    test()


def records(mon: RawMonitor) -> dict[str, object]:
    return {r.name: r for r in mon.records()}


def assert_lossless(mon: RawMonitor) -> None:
    final = mon.records()
    graph = DependencyGraph(final)
    for r in final:
        assert list(r.dependencies) == sorted(set(r.dependencies)), r.name
        assert graph.dependencies_of(r.urn) == mon.raw[r.name], r.name


def test_a_component_dependency_is_written_as_the_component(raw_monitor):
    def program():
        box = Box("cache", 3, inner=2)
        Thing("reader", after(box))
        return box.urn
    run(program)
    recs = records(raw_monitor)
    assert len(raw_monitor.raw["reader"]) == 5  # what the SDK sends: every custom resource under the box
    assert recs["reader"].dependencies == (recs["cache"].urn,)
    assert_lossless(raw_monitor)


def test_a_nested_component_or_a_single_child_stays_as_narrow_as_it_was(raw_monitor):
    def program():
        box = Box("cache", 3, inner=2)
        Thing("one-item", after(box.items[0]))
        Thing("inner-and-one", after(box.inner, box.items[1]))
        solo = Box("solo", 1)
        Thing("after-solo", after(solo))
        return box.urn
    run(program)
    recs = records(raw_monitor)
    assert recs["one-item"].dependencies == (recs["cache-0"].urn,)
    assert recs["inner-and-one"].dependencies == tuple(sorted((recs["cache-inner"].urn, recs["cache-1"].urn)))
    # A one-child component saves nothing; the resource itself is the clearer record.
    assert recs["after-solo"].dependencies == (recs["solo-0"].urn,)
    assert_lossless(raw_monitor)


def test_siblings_are_never_written_as_their_own_parent(raw_monitor):
    class Pair(pulumi.ComponentResource):
        def __init__(self, name):
            super().__init__("test:index:Pair", name, None, None)
            a = Thing(f"{name}-a", pulumi.ResourceOptions(parent=self))
            b = Thing(f"{name}-b", pulumi.ResourceOptions(parent=self))
            Thing(f"{name}-c", pulumi.ResourceOptions(parent=self, depends_on=[a, b]))
            self.register_outputs({})

    run(lambda: Pair("pair").urn)
    recs = records(raw_monitor)
    assert recs["pair-c"].dependencies == tuple(sorted((recs["pair-a"].urn, recs["pair-b"].urn)))
    assert_lossless(raw_monitor)


def test_a_component_that_grows_after_the_dependent_registered_is_written_out(raw_monitor):
    def program():
        box = Box("late", 2)
        reader = Thing("reader", after(box))
        # A child added once the reader exists (only an .apply can do that): "late" now stands for three
        # resources, the reader waited for two, so the record must list the two.
        reader.urn.apply(lambda _: Thing("late-extra", pulumi.ResourceOptions(parent=box)))
        return reader.urn
    run(program)
    recs = records(raw_monitor)
    assert "late-extra" in recs
    assert recs["reader"].dependencies == tuple(sorted((recs["late-0"].urn, recs["late-1"].urn)))
    assert_lossless(raw_monitor)


def test_records_come_back_sorted_by_urn_with_sorted_input_keys(raw_monitor):
    def program():
        Thing("zz", spec={"zeta": 1, "alpha": {"y": [{"b": 1, "a": 2}], "x": 3}}, kind="z")
        Box("aa", 2)
        return pulumi.Output.from_input(1)
    run(program)
    urns = [r.urn for r in raw_monitor.records()]
    assert urns == sorted(urns) and len(urns) == 4
    assert sorted(r.urn for r in raw_monitor.registrations) == urns
    zz = records(raw_monitor)["zz"].inputs

    def keys(v):
        if isinstance(v, dict):
            return [list(v)] + [k for x in v.values() for k in keys(x)]
        return [k for x in v for k in keys(x)] if isinstance(v, list) else []
    assert zz == {"kind": "z", "spec": {"alpha": {"x": 3, "y": [{"a": 2, "b": 1}]}, "zeta": 1}}
    assert all(k == sorted(k) for k in keys(zz)), keys(zz)


def test_an_unknown_input_is_recorded_as_such(raw_monitor):
    """A value no mock answered stays unknown; the record says so, stably (its repr holds an address)."""
    def program():
        loop = asyncio.get_event_loop()
        value, known, secret = loop.create_future(), loop.create_future(), loop.create_future()
        value.set_result(None)
        known.set_result(False)
        secret.set_result(False)
        Thing("second", value=pulumi.Output(set(), value, known, secret), plain="x")
        return pulumi.Output.from_input(1)
    run(program)
    assert records(raw_monitor)["second"].inputs == {"plain": "x", "value": "[unknown]"}


def test_a_cleared_monitor_records_a_second_build_afresh(raw_monitor):
    def program():
        box = Box("cache", 2)
        Thing("reader", after(box))
        return box.urn
    run(program)
    raw_monitor.registrations.clear()
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(raw_monitor.mocks, project="strait", stack="test", preview=False, monitor=raw_monitor)
    run(program)
    recs = raw_monitor.records()
    assert len(recs) == 4 and len({r.urn for r in recs}) == 4
    assert records(raw_monitor)["reader"].dependencies == (records(raw_monitor)["cache"].urn,)
    assert_lossless(raw_monitor)
