"""The clouds phase 1 runs on: the wiring every blueprint shares (blueprints/shared/platforms.py). The blueprint
picks one, once, with ``PLATFORMS[cfg.cloud]``."""
from blueprints.shared.platforms import PLATFORMS, aws_platform, gcp_platform, seed_specs  # noqa: F401
