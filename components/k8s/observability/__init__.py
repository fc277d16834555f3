"""Observability: metrics (kube-prometheus-stack, DCGM), alerts, dashboards, and Langfuse tracing."""
