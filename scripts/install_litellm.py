"""Install the pinned LiteLLM proxy into the running interpreter's environment.

litellm 1.109.1 declares ``certifi>=2026.10.19`` and (``proxy`` extra) ``litellm-proxy-extras==0.4.113``,
releases PyPI does not carry (newest: certifi 2026.10.18, litellm-proxy-extras 0.4.110). So
``pip install litellm[proxy]==1.109.1`` cannot resolve, and as part of ``.[test]`` it would take the
whole extra down with it. We install the pinned wheel without its metadata-driven dependencies,
then every dependency of the base package and the ``proxy`` extra, read from the wheel's own
metadata (a version bump needs no list edit here), with the unsatisfiable pins relaxed to the
newest release PyPI has.

Usage: python scripts/install_litellm.py [VERSION]   (idempotent; default: the pin below)
"""
from __future__ import annotations

import subprocess
import sys
from importlib import metadata

VERSION = "1.109.1"
EXTRA = "proxy"
#: Requirements PyPI cannot satisfy as declared: their version specifier is dropped (newest wins).
#: litellm-proxy-extras only carries the Prisma schema migrations, used when a database is set.
UNSATISFIABLE = {"certifi", "litellm-proxy-extras"}


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args], check=True)


def main() -> int:
    from packaging.requirements import Requirement

    version = sys.argv[1] if len(sys.argv) > 1 else VERSION
    try:
        have = metadata.version("litellm")
    except metadata.PackageNotFoundError:
        have = None
    if have != version:
        pip("--no-deps", f"litellm=={version}")
    wanted: list[str] = []
    for text in metadata.requires("litellm") or []:
        req = Requirement(text)
        if req.name in UNSATISFIABLE:
            req.specifier = type(req.specifier)("")
        if req.marker is not None and not (req.marker.evaluate({"extra": ""}) or req.marker.evaluate({"extra": EXTRA})):
            continue
        req.marker = None
        if str(req) not in wanted:
            wanted.append(str(req))
    pip(*wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
