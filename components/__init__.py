"""Pulumi components: one ComponentResource per capability, each with typed, frozen Args.

Components never read config and never call cloud SDKs; blueprints build providers and pass them
down through ``opts.providers``.
"""
