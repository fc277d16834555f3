"""One registered resource, as the plan, the cost estimate and the policies see it."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResourceRecord:
    """One registered resource, as the plan, the cost estimate and the policies see it.

    ``dependencies`` is sorted. An entry that is a component's URN stands for every custom resource that
    component expands to (see :class:`DependencyGraph`); any other entry is a resource the engine waits for.
    """

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


class DependencyGraph:
    """The plan's dependencies as the engine sees them: component URNs expanded by the SDK's rule.

    A component stands for its children, recursively through child components; a custom resource
    (providers included) stands for itself and never for its own children
    (``pulumi.runtime.rpc._add_dependency``). Works on records or on ``resources.json`` entries.
    """

    def __init__(self, records: Iterable[ResourceRecord | dict[str, Any]]):
        rows = [r if isinstance(r, dict) else r.as_json() for r in records]
        self._custom = {r["urn"]: bool(r["custom"]) for r in rows}
        self._deps = {r["urn"]: tuple(r["dependencies"]) for r in rows}
        self._children: dict[str, list[str]] = {}
        for r in rows:
            if r["parent"]:
                self._children.setdefault(r["parent"], []).append(r["urn"])

    def expand(self, urns: Iterable[str]) -> frozenset[str]:
        """The custom resources ``urns`` stand for."""
        out: set[str] = set()
        todo = list(urns)
        while todo:
            u = todo.pop()
            if self._custom.get(u, True):
                out.add(u)
            else:
                todo.extend(self._children.get(u, ()))
        return frozenset(out)

    def dependencies_of(self, urn: str) -> frozenset[str]:
        """What the engine waits for before it creates ``urn`` (its recorded dependencies, expanded)."""
        return self.expand(self._deps[urn])
