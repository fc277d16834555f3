"""SglangService: the shared model-server pod with SGLang's command line; the key never in plain text."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.k8s.model_server import ServerSizing
from components.k8s.sglang_service import SglangService, SglangServiceArgs
from components.platform import WeightSource
from strait.plan.mocks import SECRET_MASK
from strait.render.sglang import SglangSpec
from tests.helpers import by_name, of_type

URI = "s3://bucket/models/Qwen/Qwen2.5-32B-Instruct-AWQ/main"
SPEC = SglangSpec(model_path=URI, served_model_name="qwen32b", context_length=16384, tp_size=4,
                  tool_call_parser="qwen25")
API_KEY = "plaintextsglangkeythatmustnotleak"
WEIGHTS = WeightSource(uri=URI, service_account="weights-reader", service_account_annotations={},
                       wait_container={"name": "wait-for-weights", "image": "aws-cli:2",
                                       "command": ["aws", "s3api", "head-object"], "args": ["--bucket", "bucket"]},
                       env=({"name": "AWS_REGION", "value": "ap-southeast-1"},))


def _build(monitor, **over):
    base = dict(namespace="strait-serving", spec=SPEC, image="lmsysorg/sglang:v0.5.23", engine_version="0.5.23",
                api_key=API_KEY, pool="t4x4", gpu_model="T4", gpus_per_replica=4, replicas=2,
                sizing=ServerSizing(cpu_request=36, memory_request_gib=144, startup_timeout_seconds=390),
                weights=WEIGHTS, client_namespaces=("strait-gateway",))
    base.update(over)

    @pulumi.runtime.test
    def build():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        return SglangService("qwen32b", SglangServiceArgs(**base),
                             opts=pulumi.ResourceOptions(providers={"kubernetes": provider})).urn
    build()
    return {r.type.split(":")[-1]: r for r in monitor.registrations if r.type.startswith("kubernetes:") and r.custom}


def test_children_and_the_shared_pod(monitor):
    objs = _build(monitor)
    comp = by_name(monitor, "qwen32b")
    assert comp.type == "strait:serving:SglangService"
    assert set(objs) == {"ServiceAccount", "Secret", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"}
    assert all(r.parent == comp.urn for r in objs.values())
    pod = objs["Deployment"].inputs["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["name"] == "sglang" and c["command"] == ["sglang", "serve"]
    assert c["args"][:2] == ["--model-path", URI] and "--enable-metrics" in c["args"]
    assert c["args"][c["args"].index("--tool-call-parser") + 1] == "qwen25"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert pod["nodeSelector"] == {"strait.dev/pool": "t4x4", "strait.dev/gpu": "T4"}
    assert pod["serviceAccountName"] == "weights-reader"
    assert pod["initContainers"][0]["name"] == "wait-for-weights"
    assert {"name": "AWS_REGION", "value": "ap-southeast-1"} in c["env"]
    assert {"name": "HF_HUB_OFFLINE", "value": "1"} in c["env"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["terminationGracePeriodSeconds"] > 60


def test_api_key_reaches_sglang_in_a_mounted_secret_never_in_the_argv(monitor):
    objs = _build(monitor)
    assert objs["Secret"].inputs["stringData"]["secret-args.yaml"] == SECRET_MASK
    pod = objs["Deployment"].inputs["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert "--api-key" not in c["args"] and c["args"][c["args"].index("--config") + 1] == "/etc/sglang/secret-args.yaml"
    assert {"name": "api-key", "mountPath": "/etc/sglang", "readOnly": True} in c["volumeMounts"]
    assert {"name": "api-key", "secret": {"secretName": "qwen32b-api-key", "defaultMode": 0o440}} in pod["volumes"]
    assert API_KEY not in repr([r.inputs for r in monitor.registrations])


@pytest.mark.parametrize("over,message", [
    (dict(gpus_per_replica=2), "gpus_per_replica must equal the spec's tp_size"),
    (dict(spec=SglangSpec(model_path="s3://other/m", served_model_name="q", context_length=4096, tp_size=4)),
     "is not the weight source's uri"),
])
def test_bad_args_fail_before_any_child(monitor, over, message):
    with pytest.raises(ValueError, match=message):
        _build(monitor, **over)
    assert not of_type(monitor, "kubernetes:apps/v1:Deployment")
