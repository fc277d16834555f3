"""Blueprints: one config model and one wiring function per phase. They never import each other."""
