"""Strait: load and validate the stack config, build its blueprint, export outputs."""
import pulumi

from blueprints.loader import load_stack
from blueprints.phase1_mvp import build as build_phase1

BUILDERS = {"phase1_mvp": build_phase1}

cfg, secrets = load_stack()
outputs = BUILDERS[cfg.blueprint](cfg, secrets)
for key, value in sorted(outputs.items()):
    pulumi.export(key, value)
