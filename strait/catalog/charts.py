"""Pinned third-party Helm charts (``data/charts.yaml``): name, repository, version, source, date."""
from __future__ import annotations

import functools

import yaml
from pydantic import Field

from strait.catalog import DATA_DIR, SafeLoader
from strait.catalog.schema import Sourced


class ChartPin(Sourced):
    chart: str = Field(description="Chart name in `repository`, or an oci:// reference.")
    repository: str = Field(description="Helm repository URL; empty for oci:// charts.")
    version: str
    app_version: str = Field(description="What the chart installs, for readers.")


@functools.lru_cache(maxsize=1)
def load_charts() -> dict[str, ChartPin]:
    raw = yaml.load((DATA_DIR / "charts.yaml").read_text(), Loader=SafeLoader)["charts"]
    return {k: ChartPin(**v) for k, v in sorted(raw.items())}
