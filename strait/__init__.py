"""Strait toolkit: everything that runs outside Pulumi's engine.

The catalog, sizing, config validation, renderers, the offline plan and the CLI.
Nothing in this package may create a Pulumi resource; only ``strait.plan`` drives
the real program, under Pulumi's mocks.
"""

__version__ = "0.1.0"
