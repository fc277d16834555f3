"""Third-party Helm charts, pinned from the catalog (strait/catalog/data/charts.yaml).

Under mocks a Helm release renders nothing, so every release also records what it installs
(``release_record``) for readers of the plan.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from strait.catalog.charts import ChartPin


def release_record(pin: ChartPin) -> dict:
    """What a Helm release installs, for readers of the plan (a Release renders nothing offline)."""
    return {"chart": pin.chart, "repository": pin.repository, "version": pin.version, "app_version": pin.app_version}


def helm_release(logical: str, release: str, namespace: str, pin: ChartPin, values: dict,
                 opts: pulumi.ResourceOptions, timeout_seconds: int = 900,
                 create_namespace: bool = False) -> k8s.helm.v3.Release:
    repo = k8s.helm.v3.RepositoryOptsArgs(repo=pin.repository) if pin.repository else None
    return k8s.helm.v3.Release(logical, name=release, chart=pin.chart, version=pin.version, repository_opts=repo,
                               namespace=namespace, create_namespace=create_namespace, values=values, atomic=True,
                               cleanup_on_fail=True, timeout=timeout_seconds, max_history=5, opts=opts)
