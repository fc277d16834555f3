"""The one registry of blueprints: name -> config model and program.

``strait.config`` finds it through the ``strait.blueprints`` entry point (pyproject.toml) and never imports
blueprints/; ``__main__.py`` builds from it. Only pure config modules are imported here: the program (with
its cloud SDKs) is imported when it runs, so validating a stack stays light.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from blueprints.phase1_mvp.config import Phase1Config
from blueprints.phase2_scale.config import Phase2Config
from blueprints.phase3_prod.config import Phase3Config


@dataclass(frozen=True)
class Blueprint:
    config: type
    """The blueprint's pydantic config model (``strait:*`` keys)."""
    build: str
    """``module:function`` of the program: ``build(cfg, secrets) -> outputs``."""

    def builder(self) -> Callable:
        module, func = self.build.split(":")
        return getattr(importlib.import_module(module), func)


BLUEPRINTS = {
    "phase1_mvp": Blueprint(config=Phase1Config, build="blueprints.phase1_mvp:build"),
    "phase2_scale": Blueprint(config=Phase2Config, build="blueprints.phase2_scale:build"),
    "phase3_prod": Blueprint(config=Phase3Config, build="blueprints.phase3_prod:build"),
}
#: Blueprint name -> config model (a view of BLUEPRINTS).
CONFIG_MODELS = {name: bp.config for name, bp in BLUEPRINTS.items()}
