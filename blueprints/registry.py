"""The one registry of blueprints: name -> config model and program.

``strait.config`` finds it through the ``strait.blueprints`` entry point (pyproject.toml) and never imports
blueprints/; ``__main__.py`` builds from it. Blueprints not listed below (forks made by ``strait fork``) are
found by :func:`discover`. Only pure config modules are imported here: the program (with
its cloud SDKs) is imported when it runs, so validating a stack stays light.
"""
from __future__ import annotations

import importlib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

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


def _config_model(module, name: str) -> type | None:
    """The pydantic model defined in ``module`` whose ``blueprint`` field is ``Literal[name]`` (None if none)."""
    for obj in vars(module).values():
        fields = getattr(obj, "model_fields", None)
        if isinstance(obj, type) and obj.__module__ == module.__name__ and fields and "blueprint" in fields \
                and typing.get_origin(fields["blueprint"].annotation) is typing.Literal \
                and typing.get_args(fields["blueprint"].annotation) == (name,):
            return obj
    return None


def discover(known: Iterable[str]) -> dict[str, Blueprint]:
    """Blueprint packages beside this file that the table above does not list, e.g. those ``strait fork`` makes:
    ``blueprints/<name>/`` with an ``__init__.py`` (the program's ``build``) and a ``config.py`` whose model takes
    ``blueprint: Literal["<name>"]``. Only the config module is imported. A folder without both files, or whose
    config names another blueprint, is not one (``shared/``)."""
    found: dict[str, Blueprint] = {}
    for pkg in sorted(Path(__file__).parent.iterdir()):
        name = pkg.name
        if name in known or not name.isidentifier() or not (pkg / "__init__.py").is_file() \
                or not (pkg / "config.py").is_file():
            continue
        model = _config_model(importlib.import_module(f"blueprints.{name}.config"), name)
        if model is not None:
            found[name] = Blueprint(config=model, build=f"blueprints.{name}:build")
    return found


BLUEPRINTS.update(discover(BLUEPRINTS))
#: Blueprint name -> config model (a view of BLUEPRINTS).
CONFIG_MODELS = {name: bp.config for name, bp in BLUEPRINTS.items()}
