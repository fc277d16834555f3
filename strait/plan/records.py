"""One registered resource, as the plan, the cost estimate and the policies see it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
