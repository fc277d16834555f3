"""The blueprints this installation knows, found through the ``strait.blueprints`` entry-point group.

Blueprints depend on ``strait.config`` (their models are built from its sections), so the config package
must not import them back. Each distribution that ships blueprints names its registry in its
``pyproject.toml`` (``[project.entry-points."strait.blueprints"]``): a mapping of blueprint name to an object
with a ``config`` attribute (the pydantic model) and a ``builder()`` (the program), here
``blueprints.registry:BLUEPRINTS``. The same registry serves validation (``strait plan``, the loader) and
the program (``__main__.py``).
"""
from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Mapping

GROUP = "strait.blueprints"


class NoBlueprints(RuntimeError):
    pass


@lru_cache(maxsize=1)
def blueprints() -> Mapping[str, Any]:
    found: dict[str, Any] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        found.update(ep.load())
    if not found:
        raise NoBlueprints(f"no blueprints are registered under the {GROUP!r} entry points: install the project "
                           "(scripts/setup.sh, or `pip install -e .`)")
    return found


def config_models() -> dict[str, Any]:
    """Blueprint name -> its config model."""
    return {name: bp.config for name, bp in sorted(blueprints().items())}
