"""LoRA adapters and a draft model end to end on both clouds: seeded into the weight cache like base models (one
Job each, at the pinned revision, read by the base model's ServiceAccount only), adapters synced from the cache
into an emptyDir by argv-only init containers (a hostile-looking key never reaches a shell), the draft streamed by
vLLM from the cache, and the Deployment waiting for every one of their seeding Jobs."""
from __future__ import annotations

import json
import math
import os
import stat
import subprocess

import pulumi

from strait.plan.mocks import StraitMocks

pulumi.runtime.set_mocks(StraitMocks(), project="strait", stack="test", preview=False)

import pulumi_aws as aws  # noqa: E402
import pulumi_kubernetes as k8s  # noqa: E402
import pytest  # noqa: E402

from components.aws import weight_cache as aws_cache  # noqa: E402
from components.gcp import weight_cache as gcp_cache  # noqa: E402
from components.k8s.common import CONTAINER_SECURITY  # noqa: E402
from components.k8s.model_server import ServerSizing  # noqa: E402
from components.k8s.vllm_service import VllmService, VllmServiceArgs  # noqa: E402
from strait.catalog import load_catalog  # noqa: E402
from strait.engines import adapter_cache_key, cache_artefacts, draft_cache_key, vllm_spec  # noqa: E402
from tests.helpers import by_name, of_type  # noqa: E402

CAT = load_catalog()
REV_A, REV_B, REV_D = "1" * 40, "2" * 40, "3" * 40
SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash", "dash", "-c"}


def model_cfg():
    """phase1-sg's model with two adapters and a draft model, as the config validates it."""
    import copy

    from strait.config import validate_stack
    from tests.conftest import load_stack_raw

    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["models"]["qwen32b"].update(
        adapters={"sql-helper": {"hf_repo": "acme/qwen32b-sql-lora", "revision": REV_A, "rank": 16},
                  "support-bot": {"hf_repo": "acme/qwen32b-support-lora", "revision": REV_B, "rank": 64}},
        speculative={"method": "draft_model", "draft_model": "qwen2.5-7b-instruct", "draft_quantization": "awq",
                     "draft_revision": REV_D})
    cfg = validate_stack(raw, "phase1-sg", secrets_set={"anthropic_api_key", "openai_api_key", "deepseek_api_key"})
    return cfg.models["qwen32b"].model_copy(update={"max_num_seqs": 4})


def seeds(mod):
    m = model_cfg()
    v = CAT.variant(m.model, m.quantization)
    out = {"qwen32b": mod.SeedSpec(hf_repo=v.hf_repo, revision="main", weights_gib=v.weights_gib)}
    out.update({k: mod.SeedSpec(hf_repo=a.hf_repo, revision=a.revision, weights_gib=a.weights_gib, reader=a.reader)
                for k, a in cache_artefacts("qwen32b", m, CAT).items()})
    return out


def test_adapters_and_draft_are_cache_artefacts_at_their_pinned_revisions():
    arts = cache_artefacts("qwen32b", model_cfg(), CAT)
    assert {k: (a.hf_repo, a.revision, a.reader) for k, a in arts.items()} == {
        "qwen32b-lora-sql-helper": ("acme/qwen32b-sql-lora", REV_A, "qwen32b"),
        "qwen32b-lora-support-bot": ("acme/qwen32b-support-lora", REV_B, "qwen32b"),
        "qwen32b-draft": ("Qwen/Qwen2.5-7B-Instruct-AWQ", REV_D, "qwen32b")}
    # rank 64 is four times rank 16's checkpoint; the draft is its catalog size
    assert arts["qwen32b-lora-support-bot"].weights_gib == pytest.approx(4 * arts["qwen32b-lora-sql-helper"].weights_gib)
    assert arts["qwen32b-draft"].weights_gib == CAT.variant("qwen2.5-7b-instruct", "awq").weights_gib


def _aws_cache(monitor):
    holder = {}

    @pulumi.runtime.test
    def build():
        o = pulumi.ResourceOptions(providers={"aws": aws.Provider("aws", region="ap-southeast-1"),
                                              "kubernetes": k8s.Provider("k8s", kubeconfig="{}")})
        holder["cache"] = aws_cache.WeightCache("weights", aws_cache.WeightCacheArgs(
            bucket_name="strait-test-weights-abc", cluster_name="c1", namespace="strait-serving",
            reader_service_accounts=sorted(seeds(aws_cache)), models=seeds(aws_cache), seeder_image="python:3.12-slim",
            tags={"project": "strait"}, region="ap-southeast-1", wait_image="aws-cli:2"), opts=o)
        return holder["cache"].urn
    build()
    return holder["cache"]


def _gcp_cache(monitor):
    holder = {}

    @pulumi.runtime.test
    def build():
        import pulumi_gcp as gcp

        o = pulumi.ResourceOptions(providers={"gcp": gcp.Provider("gcp", project="p-1"),
                                              "kubernetes": k8s.Provider("k8s", kubeconfig="{}")})
        holder["cache"] = gcp_cache.WeightCache("weights", gcp_cache.WeightCacheArgs(
            project="p-1", region="asia-southeast1", bucket_name="strait-test-weights-1a2b", workload_pool="p-1.svc.id.goog",
            namespace="strait-serving", reader_service_accounts=sorted(seeds(gcp_cache)), models=seeds(gcp_cache),
            labels={"project": "strait"}, seeder_image="python:3.12-slim", wait_image="gcloud:1"), opts=o)
        return holder["cache"].urn
    build()
    return holder["cache"]


def _jobs(monitor) -> dict[str, dict]:
    return {j.inputs["metadata"]["name"]: {e["name"]: e.get("value") for e in
                                           j.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
            for j in of_type(monitor, "kubernetes:batch/v1:Job")}


def test_aws_seeds_each_adapter_and_the_draft_and_binds_only_the_base_models_account(monitor):
    cache = _aws_cache(monitor)
    jobs = _jobs(monitor)
    assert set(jobs) == {"seed-qwen32b", "seed-qwen32b-lora-sql-helper", "seed-qwen32b-lora-support-bot",
                         "seed-qwen32b-draft"}
    assert (jobs["seed-qwen32b-lora-sql-helper"]["HF_REPO"], jobs["seed-qwen32b-lora-sql-helper"]["REVISION"]) == (
        "acme/qwen32b-sql-lora", REV_A)
    assert jobs["seed-qwen32b-draft"]["PREFIX"] == f"models/Qwen/Qwen2.5-7B-Instruct-AWQ/{REV_D}"
    # The reader identity is bound to the model's ServiceAccount only: an adapter's key names no account.
    readers = {a.inputs["serviceAccount"] for a in of_type(monitor, "aws:eks/podIdentityAssociation:PodIdentityAssociation")}
    assert readers == {"qwen32b", "strait-weight-seeder"}
    ws = cache.weights["qwen32b-lora-sql-helper"]
    assert ws.service_account == "qwen32b" and ws.uri == f"s3://strait-test-weights-abc/models/acme/qwen32b-sql-lora/{REV_A}"
    assert [r.urn for r in ws.ready] == [cache.seed_jobs["qwen32b-lora-sql-helper"].urn]
    sync = ws.sync_container("/adapters/sql-helper")
    assert sync["command"] == ["aws", "s3", "sync", f"s3://strait-test-weights-abc/models/acme/qwen32b-sql-lora/{REV_A}/",
                               "/adapters/sql-helper", "--no-progress", "--only-show-errors"]
    assert {"name": "AWS_REGION", "value": "ap-southeast-1"} in sync["env"]


def test_gcp_seeds_each_adapter_and_the_draft_and_binds_only_the_base_models_account(monitor):
    cache = _gcp_cache(monitor)
    jobs = _jobs(monitor)
    assert set(jobs) == {"seed-qwen32b", "seed-qwen32b-lora-sql-helper", "seed-qwen32b-lora-support-bot",
                         "seed-qwen32b-draft"}
    assert jobs["seed-qwen32b-lora-support-bot"]["REVISION"] == REV_B and jobs["seed-qwen32b-draft"]["STORE"] == "gcs"
    members = {m.inputs["member"] for m in of_type(monitor, "gcp:serviceaccount/iAMMember:IAMMember")}
    assert members == {"serviceAccount:p-1.svc.id.goog[strait-serving/qwen32b]",
                       "serviceAccount:p-1.svc.id.goog[strait-serving/strait-weight-seeder]"}
    ws = cache.weights["qwen32b-lora-support-bot"]
    assert ws.service_account == "qwen32b" and ws.service_account_annotations == cache.weights["qwen32b"].service_account_annotations
    sync = ws.sync_container("/adapters/support-bot")
    assert sync["command"] == ["gcloud", "storage", "rsync", "--recursive", "--no-user-output-enabled",
                               f"gs://strait-test-weights-1a2b/models/acme/qwen32b-support-lora/{REV_B}/",
                               "/adapters/support-bot"]
    assert cache.weights["qwen32b-draft"].uri == f"gs://strait-test-weights-1a2b/models/Qwen/Qwen2.5-7B-Instruct-AWQ/{REV_D}"


def _server(monitor, cache, **over):
    """The vLLM server as the blueprint wires it (blueprints/phase1_mvp local_artefacts)."""
    from blueprints.phase1_mvp import local_artefacts
    from components.platform import Platform

    m = model_cfg()
    platform = Platform(cloud="x", region="r", k8s_provider=None, cluster_name="c", gpu_pools={},
                        weights=cache.weights, storage_class="s", bind_identity=None)
    local = local_artefacts("qwen32b", m, CAT, platform)
    w = cache.weights["qwen32b"]
    spec = vllm_spec("qwen32b", m, CAT, w.uri, local["draft"].uri)

    @pulumi.runtime.test
    def build():
        VllmService("qwen32b", VllmServiceArgs(**{**dict(
            namespace="strait-serving", spec=spec, image="vllm/vllm-openai:v0.33.0", engine_version="0.33.0",
            api_key="k", pool="t4x4", gpu_model="T4", gpus_per_replica=4, weights=w,
            sizing=ServerSizing(cpu_request=36, memory_request_gib=144, startup_timeout_seconds=390), **local), **over}),
            opts=pulumi.ResourceOptions(providers={"kubernetes": k8s.Provider("k8s2", kubeconfig="{}")}))
    build()
    return by_name(monitor, "qwen32b-deploy"), spec


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_the_pod_syncs_adapters_into_an_emptydir_and_waits_for_the_draft(monitor, cloud):
    cache = (_aws_cache if cloud == "aws" else _gcp_cache)(monitor)
    deploy, spec = _server(monitor, cache)
    pod = deploy.inputs["spec"]["template"]["spec"]
    init = {c["name"]: c for c in pod["initContainers"]}
    assert list(init) == ["wait-for-weights", "wait-draft", "wait-lora-0", "sync-lora-0", "wait-lora-1", "sync-lora-1"]
    assert init["sync-lora-1"]["command"][-3 if cloud == "aws" else -1] == "/adapters/support-bot"
    for c in init.values():
        assert not SHELLS & set(c["command"]) and "args" not in c
        assert c["securityContext"] == CONTAINER_SECURITY
    # Each copier sees only its own directory of the volume (the kubelet creates it), at the path it writes to.
    assert init["sync-lora-0"]["volumeMounts"][1] == {"name": "adapters", "mountPath": "/adapters/sql-helper",
                                                      "subPath": "sql-helper"}
    vllm = pod["containers"][0]
    assert {"name": "adapters", "mountPath": "/adapters", "readOnly": True} in vllm["volumeMounts"]
    (vol,) = [v for v in pod["volumes"] if v["name"] == "adapters"]
    gib = sum(a.weights_gib for k, a in cache_artefacts("qwen32b", model_cfg(), CAT).items() if "-lora-" in k)
    assert vol == {"name": "adapters", "emptyDir": {"sizeLimit": f"{math.ceil(gib * 1.1) + 1}Gi"}}
    args = vllm["args"]
    assert args[args.index("--lora-modules") + 1:args.index("--lora-modules") + 3] == [
        "sql-helper=/adapters/sql-helper", "support-bot=/adapters/support-bot"]
    assert json.loads(args[args.index("--speculative-config") + 1])["model"] == cache.weights["qwen32b-draft"].uri
    # The Deployment waits for every seeding Job: the model's, each adapter's and the draft's.
    jobs = {j.urn for j in of_type(monitor, "kubernetes:batch/v1:Job")}
    assert len(jobs) == 4 and jobs <= set(deploy.dependencies)


def test_the_service_refuses_adapters_the_spec_does_not_name(monitor):
    cache = _aws_cache(monitor)
    with pytest.raises(Exception, match="lora_modules"):
        _server(monitor, cache, adapters={"other": (cache.weights["qwen32b-lora-sql-helper"], 1.0)})


@pytest.mark.parametrize("cloud,tool", [("aws", "aws"), ("gcp", "gcloud")])
def test_a_hostile_looking_key_is_one_argv_entry_and_no_shell_runs_it(tmp_path, cloud, tool):
    """The kubelet execs command without a shell; do the same with a stand-in CLI that records its argv."""
    canary = tmp_path / "pwned"
    hostile = f'x"; touch {canary}; echo "$(touch {canary})'
    if cloud == "aws":
        c = aws_cache.sync_container("b", f"models/acme/a/{hostile}", "aws-cli:2", "r", "/adapters/a")
    else:
        c = gcp_cache.sync_container(f"gs://b/models/acme/a/{hostile}", "gcloud:1", "p", "/adapters/a")
    fake = tmp_path / "bin" / tool
    fake.parent.mkdir()
    fake.write_text("#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    out = subprocess.run(c["command"], env={**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"},
                         capture_output=True, text=True, check=True)
    argv = json.loads(out.stdout)
    assert sum(hostile in a for a in argv) == 1 and not canary.exists()


def test_cache_keys_fit_a_job_name():
    assert adapter_cache_key("qwen32b", "sql-helper") == "qwen32b-lora-sql-helper"
    assert draft_cache_key("qwen32b") == "qwen32b-draft"


def test_a_local_copy_outside_its_volume_is_refused():
    from components.k8s.model_server import LocalCopy, local_copy_containers

    from components.platform import WeightSource

    ws = WeightSource(uri="s3://b/p", service_account="m", wait_container={"name": "w", "image": "i", "command": ["x"]},
                      sync_container=lambda dest: {"name": "s", "image": "i", "command": ["aws", "s3", "sync", dest]})
    with pytest.raises(ValueError, match="not under its mount path"):
        local_copy_containers(LocalCopy(name="lora-0", source=ws, volume="adapters", mount_path="/adapters",
                                        dest="/adaptersX/a", size_gib=1))
    with pytest.raises(ValueError, match="cannot copy to local disk"):
        local_copy_containers(LocalCopy(name="lora-0", source=WeightSource(uri="s3://b/p", service_account="m",
                                                                            wait_container={}),
                                        volume="adapters", mount_path="/adapters", dest="/adapters/a", size_gib=1))
