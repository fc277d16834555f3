#!/usr/bin/env python3
"""Prepare a directory of upstream Helm chart sources for tests/helm (STRAIT_CHARTS_DIR).

Charts are never vendored into this repository. This script builds them from git snapshots of the
upstream repositories (for example the ones the `fetch` tool leaves under /work/.mirror/<owner>+<name>/repo,
or any `git clone --mirror`), so the tests render Strait's values with Helm against real chart code:

    python scripts/prepare-charts.py --out /tmp/strait-charts [--mirrors /work/.mirror]
    STRAIT_CHARTS_DIR=/tmp/strait-charts .venv/bin/python -m pytest tests/helm -q

For every chart pinned in strait/catalog/data/charts.yaml it takes `git archive` of the release tag of
the pinned version or, when the snapshot does not hold that tag, of the newest earlier release (recorded
as `exact: false` in manifest.json, which the tests print). Sub-chart dependencies are resolved the same
way, from the same snapshots, into the chart's charts/ folder. Dependencies whose repository has no
snapshot are listed as `unresolved`; Helm then renders the chart without them (fine when Strait's values
disable them, e.g. Langfuse's SeaweedFS with s3.deploy: false; the tests fail otherwise).

Only git and the standard library are used; no network access.
"""
from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Source:
    """Where a chart's sources live: a git repository, its release-tag pattern and the chart folder."""

    repo: str  # owner/name on GitHub
    tag: str  # release tag, with {name} and {version}
    path: str  # chart folder inside the repository at that tag, with {name}
    chart_template: bool = False  # Chart.yaml is generated at release time from Chart.template.yaml (cert-manager)
    version_from_tag: bool = False  # the release packages the chart with --version/--app-version = tag (lws)


#: Pinned charts (keys of strait/catalog/data/charts.yaml) -> their upstream source.
CHARTS: dict[str, Source] = {
    "kube-prometheus-stack": Source("prometheus-community/helm-charts", "{name}-{version}", "charts/{name}"),
    "dcgm-exporter": Source("NVIDIA/dcgm-exporter", "{dcgm}-{version}", "deployment"),
    "cluster-autoscaler": Source("kubernetes/autoscaler", "cluster-autoscaler-chart-{version}",
                                 "cluster-autoscaler/charts/cluster-autoscaler"),
    "langfuse": Source("langfuse/langfuse-k8s", "{name}-{version}", "charts/{name}"),
    "cert-manager": Source("cert-manager/cert-manager", "{version}", "deploy/charts/cert-manager", chart_template=True),
    "clickhouse-operator": Source("ClickHouse/clickhouse-operator", "v{version}", "dist/chart"),
    "keda": Source("kedacore/charts", "v{version}", "keda"),
    "lws": Source("kubernetes-sigs/lws", "v{version}", "charts/{name}", version_from_tag=True),
}

#: Helm repositories that sub-chart dependencies name -> their upstream source.
DEPENDENCY_REPOS: dict[str, Source] = {
    "https://prometheus-community.github.io/helm-charts": Source("prometheus-community/helm-charts", "{name}-{version}",
                                                                "charts/{name}"),
    "https://grafana-community.github.io/helm-charts": Source("grafana-community/helm-charts", "{name}-{version}",
                                                              "charts/{name}"),
    "https://groundhog2k.github.io/helm-charts": Source("groundhog2k/helm-charts", "{name}-{version}", "charts/{name}"),
    "https://valkey-io.github.io/valkey-helm": Source("valkey-io/valkey-helm", "{name}-{version}", "{name}"),
    "oci://quay.io/jetstack/charts": Source("cert-manager/cert-manager", "{version}", "deploy/charts/cert-manager",
                                            chart_template=True),
}

_NUM = re.compile(r"\d+")
_VER = r"v?[0-9][0-9A-Za-z.\-]*"  # a version (or a version's wildcard part) starts with a digit


def version_key(v: str) -> tuple:
    return tuple(int(x) for x in _NUM.findall(v)[:4])


def git(mirror: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(mirror), *args], check=True, capture_output=True).stdout


def mirror_dir(mirrors: Path, repo: str) -> Path:
    owner, name = repo.split("/")
    for cand in (mirrors / f"{owner}+{name}" / "repo", mirrors / f"{owner}+{name}", mirrors / f"{name}.git"):
        if (cand / "HEAD").exists() or (cand / ".git").exists():
            return cand / ".git" if (cand / ".git").is_dir() else cand
    raise FileNotFoundError(f"no git snapshot of {repo} under {mirrors} (fetch it first, e.g. the fetch tool's "
                            f"github:{repo}, or git clone --mirror https://github.com/{repo})")


def pick_tag(mirror: Path, pattern: str, name: str, version: str) -> tuple[str, bool]:
    """The tag of ``version``, else the newest earlier one of the same series, and whether it is exact.

    ``version`` may be a range like ``0.12.*`` (Chart.yaml dependencies): the newest matching tag wins.
    """
    tags = git(mirror, "tag", "--list").decode().split()
    want = pattern.format(name=name, version=version, dcgm="*")
    rx = re.compile("^" + re.escape(want).replace(r"\*", _VER) + "$")
    exact = sorted((t for t in tags if rx.match(t)), key=version_key)
    if exact:
        return exact[-1], True  # the pinned version, or the newest release a range (0.12.*) allows
    # Not in the snapshot: take the newest earlier tag of the same chart.
    series = re.compile("^" + re.escape(pattern.format(name=name, version="@", dcgm="@")).replace("@", _VER) + "$")
    vers = [t for t in tags if series.match(t) and not re.search(r"-(rc|alpha|beta)", t)]
    target = version_key(version)
    earlier = sorted((t for t in vers if _tag_version(t, pattern, name) <= target), key=lambda t: _tag_version(t, pattern, name))
    if not earlier:
        raise LookupError(f"no release tag for {name} {version} (pattern {pattern}) in {mirror}")
    return earlier[-1], False


def _tag_version(tag: str, pattern: str, name: str) -> tuple:
    prefix = pattern.split("{version}")[0].format(name=name, dcgm="")
    if "{dcgm}" in pattern:  # dcgm-exporter tags are <DCGM>-<exporter>: the chart version is the exporter's
        return version_key(tag.rsplit("-", 1)[-1])
    return version_key(tag[len(prefix):] if tag.startswith(prefix) else tag)


def extract(mirror: Path, tag: str, path: str, dest: Path) -> None:
    """``git archive <tag> <path>`` unpacked into ``dest`` (the chart folder's contents)."""
    data = git(mirror, "archive", "--format=tar", tag, path)
    depth = len(Path(path).parts)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            parts = Path(m.name).parts[depth:]
            if not parts or m.issym() or m.islnk() or ".." in parts:
                continue
            target = dest.joinpath(*parts)
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif m.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(m).read())


def chart_from_template(dest: Path, version: str) -> None:
    """cert-manager's release tool writes Chart.yaml from Chart.template.yaml with version = appVersion = tag."""
    tpl = dest / "Chart.template.yaml"
    doc = yaml.safe_load(tpl.read_text())
    doc["version"] = doc["appVersion"] = version
    doc.setdefault("annotations", {})["artifacthub.io/prerelease"] = "false"
    (dest / "Chart.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    tpl.unlink()


def chart_version_from_tag(dest: Path, tag: str) -> None:
    """lws's hack/push-chart.sh: `helm package --version <tag> --app-version <tag>` after setting
    image.manager.tag to the tag and pullPolicy to IfNotPresent in values.yaml (the source says `main`/Always)."""
    doc = yaml.safe_load((dest / "Chart.yaml").read_text())
    doc["version"], doc["appVersion"] = tag.removeprefix("v"), tag
    (dest / "Chart.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    values = yaml.safe_load((dest / "values.yaml").read_text())
    values["image"]["manager"].update(tag=tag, pullPolicy="IfNotPresent")
    (dest / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))


def prepare(src: Source, name: str, version: str, dest: Path, mirrors: Path, depth: int = 0) -> dict:
    mirror = mirror_dir(mirrors, src.repo)
    tag, exact = pick_tag(mirror, src.tag, name, version)
    commit = git(mirror, "rev-list", "-n", "1", tag).decode().strip()
    if dest.exists():
        shutil.rmtree(dest)
    extract(mirror, tag, src.path.format(name=name), dest)
    if src.chart_template:
        chart_from_template(dest, tag)
    if src.version_from_tag:
        chart_version_from_tag(dest, tag)
    chart = yaml.safe_load((dest / "Chart.yaml").read_text())
    record = {"repo": src.repo, "tag": tag, "commit": commit, "requested": version, "exact": exact,
              "chart_version": str(chart["version"]), "dependencies": [], "unresolved": []}
    for dep in chart.get("dependencies") or []:
        repo = (dep.get("repository") or "").rstrip("/")
        if not repo or repo.startswith("file://"):
            continue  # local sub-chart, already inside the archive
        vendored = list((dest / "charts").glob(f"{dep['name']}-*.tgz"))
        if vendored:
            record["dependencies"].append({"name": dep["name"], "vendored": vendored[0].name})
            continue
        dsrc = DEPENDENCY_REPOS.get(repo)
        try:
            if dsrc is None:
                raise FileNotFoundError(f"no source known for {repo}")
            sub = prepare(dsrc, dep["name"], str(dep["version"]), dest / "charts" / dep["name"], mirrors, depth + 1)
        except (FileNotFoundError, LookupError) as exc:
            record["unresolved"].append({"name": dep["name"], "version": str(dep["version"]), "repository": repo,
                                         "why": str(exc)})
            continue
        record["dependencies"].append({"name": dep["name"], **{k: sub[k] for k in
                                                                ("repo", "tag", "commit", "exact", "chart_version")}})
    return record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="Directory to write (one folder per pinned chart).")
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"),
                    help="Where the git snapshots are: <owner>+<name>/repo, <owner>+<name> or <name>.git.")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from strait.catalog.charts import load_charts

    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for key, pin in load_charts().items():
        src = CHARTS.get(key)
        if src is None:
            print(f"error: charts.yaml pins {key!r} but scripts/prepare-charts.py has no source for it; add one to "
                  "CHARTS", file=sys.stderr)
            return 2
        name = pin.chart.rsplit("/", 1)[-1]
        try:
            rec = prepare(src, name, pin.version, args.out / key, args.mirrors)
        except (FileNotFoundError, LookupError) as exc:
            print(f"error: {key}: {exc}", file=sys.stderr)
            return 2
        manifest[key] = {"pinned": pin.version, **rec}
        note = "" if rec["exact"] else f"  (pinned {pin.version} is not in the snapshot: nearest earlier release)"
        print(f"{key}: {rec['repo']}@{rec['tag']} chart {rec['chart_version']}{note}")
        for d in rec["unresolved"]:
            print(f"  unresolved dependency {d['name']} {d['version']} ({d['repository']})")
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}/ and manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
