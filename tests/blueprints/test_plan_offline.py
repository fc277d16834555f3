"""Every stack plans offline through the real CLI, and its artefacts pass their real consumers."""
import json

import kubernetes_validate
import pytest
import yaml

from strait.catalog import load_catalog
from tests.conftest import ROOT, STACKS, run_cli


def kubernetes_version(stack: str) -> str:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return str((doc.get("strait:cluster") or {}).get("kubernetes_version", "1.35"))


@pytest.mark.parametrize("stack", STACKS)
def test_stack_plans_and_exits_zero(planned, stack):
    p = planned[stack]
    assert p.proc.returncode == 0, p.proc.stderr + p.proc.stdout
    assert "Traceback" not in p.proc.stderr
    assert (p.dir / "resources.json").is_file() and (p.dir / "litellm" / "config.yaml").is_file()
    assert "Estimated monthly cost: $" in p.proc.stdout
    assert "GPU nodes:" in p.proc.stdout


@pytest.mark.parametrize("stack", STACKS)
def test_every_manifest_validates_strictly(planned, stack):
    version = kubernetes_version(stack)
    manifests = planned[stack].manifests()
    assert len(manifests) >= 10
    for path, m in manifests:
        if m["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # custom resources: no schema here; tests/observability/test_custom_resources.py checks them
        if m["apiVersion"].startswith("keda.sh/"):
            continue  # KEDA's own model and webhook checks judge them: tests/autoscaling/test_planned_scaledobjects.py
        if m["apiVersion"].startswith("cloud.google.com/"):
            continue  # GKE's ComputeClass: no public schema here; tests/components/test_gcp_components.py checks its shape
        if m["apiVersion"].startswith("leaderworkerset.x-k8s.io/"):
            # LWS v0.10.0's own CRD schema (strict on unknown keys), then each pod template as the Pod LWS creates.
            from tests.multinode.test_leaderworkerset import crd_errors

            assert not crd_errors(m), (path.name, crd_errors(m))
            for role, tmpl in sorted(m["spec"]["leaderWorkerTemplate"].items()):
                if role.endswith("Template"):
                    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {
                        "name": "x", **tmpl["metadata"]}, "spec": tmpl["spec"]}, f"{version}.0", strict=True)
            continue
        try:
            kubernetes_validate.validate(m, f"{version}.0", strict=True)
        except kubernetes_validate.ValidationError as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{path.name}: {exc.message} at {list(exc.path)}")


@pytest.mark.parametrize("stack", STACKS)
def test_integers_stay_integers(planned, stack):
    deploys = [m for _, m in planned[stack].manifests() if m["kind"] == "Deployment"]
    for d in deploys:
        assert type(d["spec"]["replicas"]) is int
        assert type(d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]) is int


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_has_a_parent_and_an_explicit_provider(planned, stack):
    for r in planned[stack].resources:
        if r["custom"] and not r["type"].startswith("pulumi:providers:"):
            assert r["provider"] and "::default_" not in r["provider"], r["name"]
        if r["custom"] and not r["type"].startswith(("pulumi:providers:", "random:", "kubernetes:core/v1:Namespace")):
            parent_type = r["parent"].split("::")[2].split("$")[-1]
            assert parent_type.startswith("strait:"), f"{r['name']} is not inside a Strait component"


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_in_plain_text_anywhere(planned, stack):
    p = planned[stack]
    text = "\n".join(f.read_text() for f in p.dir.rglob("*") if f.is_file()) + p.proc.stdout + p.proc.stderr
    assert "offline-placeholder-" not in text
    assert "mock-random-" not in text
    secrets = [m for _, m in p.manifests() if m["kind"] == "Secret"]
    assert secrets and all(set(s["stringData"].values()) == {"[secret]"} for s in secrets)
    for _, m in p.manifests():
        if m["kind"] == "ConfigMap":
            assert "os.environ/" in json.dumps(m) or "api_key" not in json.dumps(m)


def test_phase1_sg_shape(planned):
    p = planned["phase1-sg"]
    types = [r["type"] for r in p.resources]
    assert types.count("aws:eks/nodeGroup:NodeGroup") == 2  # system + one GPU pool
    gpu_ng = next(r for r in p.resources if r["type"] == "aws:eks/nodeGroup:NodeGroup" and "taints" in r["inputs"])
    assert gpu_ng["inputs"]["instanceTypes"] == ["g4dn.12xlarge"]
    assert load_catalog().offer("g4dn.12xlarge", "ap-southeast-1") is not None
    vllm = next(m for _, m in p.manifests() if m["kind"] == "Deployment" and m["metadata"]["name"] == "qwen32b")
    assert vllm["spec"]["replicas"] == 2
    assert vllm["spec"]["template"]["spec"]["containers"][0]["image"] == "vllm/vllm-openai:v0.33.0"
    assert "t4x4: 2-3 x g4dn.12xlarge (T4, on-demand)" in p.proc.stdout
    litellm = yaml.safe_load((p.dir / "litellm" / "config.yaml").read_text())
    assert {m["model_name"] for m in litellm["model_list"]} >= {"self-hosted", "commercial"}
    assert p.outputs["litellm_master_key"] == "[secret]"


def test_invalid_config_exits_2_with_the_errors_and_no_traceback(tmp_path):
    proj = tmp_path / "proj"
    (proj / "stacks").mkdir(parents=True)
    (proj / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.phase1-sg.yaml").read_text())
    doc["config"]["strait:models"]["qwen32b"]["max_model_len"] = 65536
    doc["config"]["strait:regoin"] = "x"
    (proj / "stacks" / "Pulumi.bad.yaml").write_text(yaml.safe_dump(doc))
    proc = run_cli("plan", "--stack", "bad", "--project-dir", str(proj), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "strait:regoin = <not shown>: unknown key 'regoin'" in proc.stderr
    assert not (tmp_path / "out").exists()  # nothing planned, nothing written


def test_unknown_stack_exits_2(tmp_path):
    proc = run_cli("plan", "--stack", "nope", "--out", str(tmp_path))
    assert proc.returncode == 2 and "no stack file stacks/Pulumi.nope.yaml" in proc.stderr


def test_litellm_folder_holds_every_file_the_proxy_mounts(planned):
    p = planned["phase1-sg"]
    cm = next(m for _, m in p.manifests() if m["kind"] == "ConfigMap" and "config.yaml" in (m.get("data") or {}))
    assert {f.name: f.read_text() for f in (p.dir / "litellm").iterdir()} == cm["data"]
