"""Observability wiring of the phase-1 blueprint: the wiring every blueprint shares
(blueprints/shared/observability.py). Langfuse before the gateway (its keys go into the gateway's Secret),
Prometheus/Grafana/DCGM, rules and dashboards after it (they scrape it)."""
from blueprints.shared.observability import (  # noqa: F401
    GATEWAY_NS,
    LANGFUSE_NS,
    MONITORING_NS,
    Tracing,
    build_monitoring,
    build_tracing,
    rules_spec,
    self_hosted_tiers,
)
