"""The weight cache's WeightSource: a revision never reaches a shell (issue 8, shell injection through
``models.*.revision``), the AWS wait container is argv only, and the config refuses such a revision too."""
from __future__ import annotations

import os
import stat
import subprocess

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.aws.weight_cache import COMPLETE_MARKER, SeedSpec, WeightCache, WeightCacheArgs, model_prefix, wait_container
from components.k8s.model_server import ServerPod, ServerSizing, pod_spec
from strait.config import ConfigError, validate_stack
from tests.conftest import load_stack_raw
from tests.helpers import of_type

INJECTION = 'main"; touch /tmp/pwned; echo "'
SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash", "dash", "-c"}


def _init_for(revision: str) -> dict:
    """The wait container exactly as a model server's pod renders it, for a cache key made from ``revision``."""
    key = f"{model_prefix(SeedSpec(hf_repo='Qwen/Qwen2.5-7B-Instruct', revision=revision, weights_gib=1))}/{COMPLETE_MARKER}"
    from components.platform import WeightSource
    ws = WeightSource(uri=f"s3://b/{key}", service_account="m", wait_container=wait_container("b", key, "aws-cli:2",
                                                                                              "ap-southeast-1"))
    pod = pod_spec(ServerPod(container="vllm", image="vllm", command=["vllm", "serve"], args=[], env=[], port=8000,
                             pool="p", gpu_model="T4", gpus=1, tensor_parallel_size=1, shutdown_timeout_seconds=30,
                             sizing=ServerSizing(cpu_request=1, memory_request_gib=8, startup_timeout_seconds=300),
                             service_account="m", selector={"a": "b"}, weights=ws))
    [init] = pod["initContainers"]
    return init


def test_the_wait_container_is_argv_and_no_shell_sees_the_revision():
    init = _init_for(INJECTION)
    argv = [*init["command"], *init.get("args", [])]
    assert argv[:4] == ["aws", "s3api", "wait", "object-exists"]
    assert not SHELLS & set(argv), argv
    # the whole hostile key is one argv entry, data not code
    assert argv[argv.index("--key") + 1] == f"models/Qwen/Qwen2.5-7B-Instruct/{INJECTION}/{COMPLETE_MARKER}"
    assert all(isinstance(e["value"], str) and INJECTION not in e["value"] for e in init["env"])


def test_executing_the_argv_as_the_kubelet_does_runs_no_injected_command(tmp_path):
    """The kubelet execs command+args without a shell. Do the same with a stand-in `aws` that records argv:
    the injected `touch` must not run."""
    canary = tmp_path / "pwned"
    init = _init_for(f'main"; touch {canary}; echo "')
    fake = tmp_path / "bin" / "aws"
    fake.parent.mkdir()
    fake.write_text('#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    out = subprocess.run([*init["command"], *init.get("args", [])], env=env, capture_output=True, text=True, check=True)
    assert f'touch {canary}' in out.stdout  # it arrived, as an argument
    assert not canary.exists()


def test_the_weight_cache_refuses_an_unsafe_revision_before_any_resource(monitor):
    @pulumi.runtime.test
    def build():
        kp = k8s.Provider("k8s", kubeconfig="{}")
        WeightCache("weights", WeightCacheArgs(
            bucket_name="b", cluster_name="c", namespace="strait-serving", reader_service_accounts=["m"],
            models={"m": SeedSpec(hf_repo="Qwen/Qwen2.5-7B-Instruct", revision=INJECTION, weights_gib=1)},
            seeder_image="python:3.12-slim", region="ap-southeast-1", wait_image="aws-cli:2", tags={}),
            opts=pulumi.ResourceOptions(providers={"kubernetes": kp}))

    with pytest.raises(ValueError, match=r"models\.m\.revision"):
        build()
    assert not of_type(monitor, "aws:s3/bucket:Bucket") and not of_type(monitor, "kubernetes:batch/v1:Job")


@pytest.mark.parametrize("revision", [INJECTION, "../../other-model/main"])
def test_the_stack_config_refuses_it_too(revision):
    raw = load_stack_raw("phase1-sg")
    for m in raw["models"].values():
        m["revision"] = revision
    with pytest.raises(ConfigError) as exc:
        validate_stack(raw, "phase1-sg", secrets_set={"anthropic_api_key"})
    assert any(i.path.endswith(".revision") for i in exc.value.issues)
