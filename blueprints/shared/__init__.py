"""Wiring every blueprint shares: stack config sections -> the cloud's Platform (``platforms``) and the
observability stack (``observability``). Blueprints import these, never each other. The config they read
is any blueprint config with the same sections (``network``, ``cluster``, ``gpu_pools``, ``models``,
``gateway``, ``observability``, ``autoscaler``, ``weight_cache``, ``gcp``)."""
