"""Strait: load and validate the stack config, build its blueprint, export outputs."""
import pulumi

from blueprints.loader import load_stack
from blueprints.registry import BLUEPRINTS

cfg, secrets = load_stack()
outputs = BLUEPRINTS[cfg.blueprint].builder()(cfg, secrets)
for key, value in sorted(outputs.items()):
    pulumi.export(key, value)
