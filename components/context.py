"""What every component needs to know about the stack it is part of (for names and tags)."""
from __future__ import annotations

from dataclasses import dataclass, field

from strait.tags import standard_tags


@dataclass(frozen=True, kw_only=True)
class StackContext:
    project: str
    stack: str
    blueprint: str
    cost_center: str
    user_tags: dict[str, str] = field(default_factory=dict)

    def tags(self, component: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Standard tags, then the component's own, then the user's."""
        return standard_tags(project=self.project, stack=self.stack, blueprint=self.blueprint, component=component,
                             cost_center=self.cost_center, extra=extra, user=self.user_tags)
