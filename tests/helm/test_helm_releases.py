"""Every Helm release Strait plans, rendered by Helm itself and judged like Strait's own manifests.

For each stack, the Release inputs recorded by the offline plan (chart, version, release name, namespace
and the exact values Strait passes) go through Helm v4's engine (helm-python-sdk) with the upstream chart
sources at (or next to) the pinned version. What Helm renders is then judged by:

* the chart's own values.schema.json, where it has one (Helm's validate_schema, sub-charts included);
* kubernetes-validate, strict, at the stack's Kubernetes version, for built-in kinds; custom resources
  against the CRDs the charts themselves ship (jsonschema over openAPIV3Schema, unknown fields rejected as the
  API server's strict field validation does);
* Checkov, with the repository's .checkov.yaml and the per-object exceptions in checkov-exceptions.yaml
  (each with its reason; an exception that no longer matches a failure fails too).

Chart sources are not vendored: set STRAIT_CHARTS_DIR to a directory made by scripts/prepare-charts.py.
Without it these tests skip, and say so.
"""
from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from strait.catalog.charts import load_charts
from tests.conftest import ROOT, STACKS
from tests.helm import render as hr

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
EXCEPTIONS_FILE = Path(__file__).with_name("checkov-exceptions.yaml")
CHART_KEYS = sorted(load_charts())

ROOT_DIR = hr.charts_dir()
pytestmark = pytest.mark.skipif(
    ROOT_DIR is None, reason=f"SKIPPED: {hr.ENV} is not set, so no Helm release was rendered or judged. Prepare the "
    f"upstream chart sources with `python scripts/prepare-charts.py --out DIR`, then rerun with {hr.ENV}=DIR.")


def kubernetes_version(stack: str) -> str:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return str((doc.get("strait:cluster") or {}).get("kubernetes_version", "1.35"))


@pytest.fixture(scope="session")
def rendered(planned) -> dict[str, dict[str, hr.Rendered]]:
    """stack -> chart key -> what Helm rendered from the planned Release."""
    return {stack: {key: hr.render(ROOT_DIR, key, inputs) for key, inputs in sorted(hr.releases(p.resources).items())}
            for stack, p in planned.items()}


@pytest.fixture(scope="session")
def crd_schemas(rendered) -> dict[tuple[str, str, str], dict]:
    """(group, version, kind) -> openAPIV3Schema, from every CRD the prepared charts ship or render."""
    schemas = {}
    for by_key in rendered.values():
        for r in by_key.values():
            crds = list(r.crds) + [o for _, o in r.objects if o.get("kind") == "CustomResourceDefinition"]
            for crd in crds:
                spec = crd["spec"]
                for v in spec["versions"]:
                    schema = (v.get("schema") or {}).get("openAPIV3Schema")
                    if schema:
                        schemas[(spec["group"], v["name"], spec["names"]["kind"])] = schema
    return schemas


def test_prepared_sources_match_the_pins():
    """The prepared directory was made from the current pins; a snapshot without the pinned tag is reported."""
    man = hr.manifest(ROOT_DIR)
    pins = load_charts()
    assert sorted(man) == CHART_KEYS, "re-run scripts/prepare-charts.py: the pinned charts changed"
    for key, pin in pins.items():
        assert man[key]["pinned"] == pin.version, f"{key}: prepared for {man[key]['pinned']}, pinned {pin.version}"
        if not man[key]["exact"]:
            warnings.warn(f"{key}: pinned {pin.version} rendered from {man[key]['repo']}@{man[key]['tag']} "
                          f"(chart {man[key]['chart_version']}): the snapshot has no {pin.version} tag", stacklevel=1)


@pytest.mark.parametrize("stack", STACKS)
def test_every_pinned_chart_is_released(planned, stack):
    """Every Release names a pinned chart at its pinned version (nothing is installed unpinned)."""
    pins = load_charts()
    for key, inputs in hr.releases(planned[stack].resources).items():
        assert inputs["version"] == pins[key].version, key


@pytest.mark.parametrize("key", CHART_KEYS)
@pytest.mark.parametrize("stack", STACKS)
def test_values_pass_the_charts_schema(rendered, stack, key):
    r = rendered[stack].get(key)
    if r is None:
        pytest.skip(f"{stack} does not install {key}")
    assert r.schema_error is None, f"{key}: Strait's values fail the chart's values.schema.json: {r.schema_error}"


@pytest.mark.parametrize("key", CHART_KEYS)
@pytest.mark.parametrize("stack", STACKS)
def test_rendered_objects_validate_strictly(rendered, crd_schemas, stack, key):
    r = rendered[stack].get(key)
    if r is None:
        pytest.skip(f"{stack} does not install {key}")
    assert r.objects, f"{key}: Helm rendered nothing"
    assert r.missing_enabled == [], (f"{key}: Strait's values turn on sub-charts whose sources were not prepared, so "
                                     f"their objects went unjudged: {r.missing_enabled}; add their repository to "
                                     "scripts/prepare-charts.py")
    version = kubernetes_version(stack)
    errors = []
    for path, obj in r.objects:
        where = f"{path} {obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, f"{version}.0", strict=True)
            continue
        except kubernetes_validate.SchemaNotFoundError:
            pass
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{where}: {exc.message} at {list(exc.path)}")
            continue
        group, _, ver = obj["apiVersion"].rpartition("/")
        schema = crd_schemas.get((group, ver, obj["kind"]))
        if schema is None:
            errors.append(f"{where}: no schema for {obj['apiVersion']} {obj['kind']} (neither Kubernetes {version} "
                          "nor any CRD the charts ship)")
            continue
        for e in jsonschema.Draft7Validator(hr.strict_schema(schema)).iter_errors(obj):
            errors.append(f"{where}: {e.message} at {list(e.absolute_path)}")
    assert errors == [], "\n".join(errors)


def _load_exceptions() -> dict[str, dict[str, dict[str, str]]]:
    doc = yaml.safe_load(EXCEPTIONS_FILE.read_text()) or {}
    for key, objects in doc.items():
        assert key in CHART_KEYS, f"checkov-exceptions.yaml: {key!r} is not a pinned chart"
        for resource, checks in objects.items():
            for check, reason in checks.items():
                assert isinstance(reason, str) and len(reason) > 20, f"{key} {resource} {check}: give a reason"
    return doc


def run_checkov(directory: Path) -> list[dict]:
    proc = subprocess.run([str(CHECKOV), "-d", str(directory), "--config-file", str(ROOT / ".checkov.yaml"),
                           "--quiet", "--compact", "-o", "json"], capture_output=True, text=True, timeout=600)
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports), proc.stdout[:2000]
    return [f for r in reports for f in r["results"]["failed_checks"]]


@pytest.fixture(scope="session")
def checkov_failures(planned, rendered, tmp_path_factory) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """stack -> chart key -> [(checkov resource, check id)] over what Helm rendered."""
    if not CHECKOV.exists():
        pytest.fail("Checkov is not installed; run scripts/setup.sh --test")
    out = {}
    for stack, by_key in rendered.items():
        base = tmp_path_factory.mktemp(f"helm-{stack}")
        # Strait's own NetworkPolicies, so CKV2_K8S_6 sees what covers the charts' pods; not judged here.
        netpol = base / "_strait-networkpolicies"
        netpol.mkdir()
        for i, obj in enumerate(hr.network_policies(planned[stack].dir)):
            (netpol / f"{i:03d}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
        for key, r in by_key.items():
            d = base / key
            d.mkdir()
            for i, (_, obj) in enumerate(r.objects):
                (d / f"{i:03d}-{obj['kind'].lower()}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
        out[stack] = {key: [] for key in by_key}
        for f in run_checkov(base):
            key = Path(f["file_path"]).parts[1] if f["file_path"].startswith("/") else Path(f["file_path"]).parts[0]
            if key in out[stack]:
                out[stack][key].append((f["resource"], f["check_id"]))
    return out


@pytest.mark.parametrize("key", CHART_KEYS)
@pytest.mark.parametrize("stack", STACKS)
def test_checkov_passes_with_documented_exceptions(checkov_failures, stack, key):
    if key not in checkov_failures[stack]:
        pytest.skip(f"{stack} does not install {key}")
    accepted = _load_exceptions().get(key, {})
    found = sorted(set(checkov_failures[stack][key]))
    unexplained = [f"{res}: {check}" for res, check in found if check not in accepted.get(res, {})]
    assert unexplained == [], f"{key}: Checkov failures with no documented exception:\n" + "\n".join(unexplained)
    stale = [f"{res}: {check}" for res, checks in accepted.items() for check in checks if (res, check) not in found]
    assert stale == [], f"{key}: exceptions in checkov-exceptions.yaml that no longer match a failure:\n" + "\n".join(stale)
