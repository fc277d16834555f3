"""The real Prometheus and promtool fixtures the observability tests use (a missing binary fails, never skips)."""
from tests.observability.conftest import prometheus_bin, promtool  # noqa: F401  (pytest fixtures)
