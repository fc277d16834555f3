import dataclasses

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.aws.weight_cache import wait_container
from components.k8s.model_server import ServerSizing
from components.k8s.vllm_service import VllmService, VllmServiceArgs
from components.platform import WeightSource
from strait.plan.mocks import SECRET_MASK
from strait.render.vllm import VllmSpec
from tests.helpers import by_name, of_type

URI = "s3://bucket/models/Qwen/Qwen2.5-32B-Instruct-AWQ/main"
WEIGHTS = WeightSource(uri=URI, service_account="qwen32b",
                       wait_container=wait_container("bucket", "models/Qwen/Qwen2.5-32B-Instruct-AWQ/main/.strait-complete",
                                                     "aws-cli:2", "ap-southeast-1"),
                       env=({"name": "AWS_REGION", "value": "ap-southeast-1"},))
SPEC = VllmSpec(model=URI, served_model_name="qwen32b",
                max_model_len=16384, tensor_parallel_size=4, max_num_seqs=32, shutdown_timeout_seconds=60)
API_KEY = "plain-text-api-key-that-must-not-leak"


def _args(**over):
    base = dict(namespace="strait-serving", spec=SPEC, image="vllm/vllm-openai:v0.33.0", engine_version="0.33.0",
                api_key=API_KEY, pool="t4x4", gpu_model="T4", gpus_per_replica=4, replicas=2,
                sizing=ServerSizing(cpu_request=36, memory_request_gib=144, startup_timeout_seconds=390),
                weights=WEIGHTS)
    base.update(over)
    return VllmServiceArgs(**base)


def _build(monitor, **over):
    @pulumi.runtime.test
    def build():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        svc = VllmService("qwen32b", _args(**over), opts=pulumi.ResourceOptions(providers={"kubernetes": provider}))
        return svc.urn
    build()
    return {r.type.split(":")[-1]: r for r in monitor.registrations if r.type.startswith("kubernetes:") and r.custom}


def _build_again(monitor, **over):
    """A second build in the same test: a fresh root stack and record."""
    monitor.registrations.clear()
    from pulumi.runtime import settings
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(monitor.mocks, project="strait", stack="test", preview=False, monitor=monitor)
    return _build(monitor, **over)


def test_children_are_parented_named_and_use_the_passed_provider(monitor):
    objs = _build(monitor)
    comp = by_name(monitor, "qwen32b")
    assert comp.type == "strait:serving:VllmService"
    assert set(objs) == {"ServiceAccount", "Secret", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"}
    for r in objs.values():
        assert r.parent == comp.urn
        assert r.name.startswith("qwen32b-")
        assert "::k8s::" in r.provider and "default_" not in r.provider


def test_pod_gets_gpus_toleration_selector_and_shm(monitor):
    pod = _build(monitor)["Deployment"].inputs["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"] == {"strait.dev/pool": "t4x4", "strait.dev/gpu": "T4"}
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "dshm", "mountPath": "/dev/shm"} in c["volumeMounts"]
    # each replica on its own node
    term = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["topologyKey"] == "kubernetes.io/hostname"


def test_probes_allow_a_long_model_load_and_drain_outlasts_shutdown_timeout(monitor):
    pod = _build(monitor)["Deployment"].inputs["spec"]["template"]["spec"]
    c = pod["containers"][0]
    sp = c["startupProbe"]
    assert sp["httpGet"]["path"] == "/health"
    assert sp["periodSeconds"] * sp["failureThreshold"] >= 390
    assert c["readinessProbe"]["httpGet"]["path"] == "/health"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert "--shutdown-timeout" in c["args"] and c["args"][c["args"].index("--shutdown-timeout") + 1] == "60"
    assert pod["terminationGracePeriodSeconds"] > 60 + c["lifecycle"]["preStop"]["sleep"]["seconds"]


def test_api_key_is_a_secret_reference_never_plain_text(monitor):
    objs = _build(monitor)
    assert objs["Secret"].inputs["stringData"]["VLLM_API_KEY"] == SECRET_MASK
    c = objs["Deployment"].inputs["spec"]["template"]["spec"]["containers"][0]
    key_env = next(e for e in c["env"] if e["name"] == "VLLM_API_KEY")
    assert key_env["valueFrom"]["secretKeyRef"] == {"name": "qwen32b-api-key", "key": "VLLM_API_KEY"}
    assert "--api-key" not in c["args"]
    assert API_KEY not in repr([r.inputs for r in monitor.registrations])


def test_weights_come_from_the_cache_not_the_hub(monitor):
    pod = _build(monitor)["Deployment"].inputs["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["args"][0].startswith("s3://")
    assert {"name": "HF_HUB_OFFLINE", "value": "1"} in c["env"]
    init = pod["initContainers"][0]
    assert init["name"] == "wait-for-weights"
    assert init["command"] == ["aws", "s3api", "wait", "object-exists", "--bucket", "bucket",
                               "--key", "models/Qwen/Qwen2.5-32B-Instruct-AWQ/main/.strait-complete"]
    assert {"name": "AWS_REGION", "value": "ap-southeast-1"} in c["env"]
    assert pod["serviceAccountName"] == "qwen32b"


def test_the_model_must_be_the_weight_sources_uri(monitor):
    with pytest.raises(ValueError, match="is not the weight source's uri"):
        _build(monitor, spec=dataclasses.replace(SPEC, model="s3://other-bucket/x"))
    assert not of_type(monitor, "kubernetes:apps/v1:Deployment")


def test_service_account_carries_the_weight_sources_annotations(monitor):
    """GKE Workload Identity binds by annotation; EKS Pod Identity needs none (the default above)."""
    weights = dataclasses.replace(WEIGHTS, service_account_annotations={"iam.gke.io/gcp-service-account": "r@p.iam"})
    sa = _build(monitor, weights=weights)["ServiceAccount"]
    assert sa.inputs["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": "r@p.iam"}
    assert "annotations" not in _build_again(monitor)["ServiceAccount"].inputs["metadata"]


def test_the_deployment_waits_for_exactly_what_the_weights_need(monitor):
    """WeightSource.ready (the seeding Job) reaches the Deployment itself, not the whole component."""
    @pulumi.runtime.test
    def build():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        job = k8s.batch.v1.Job("seed-qwen32b", spec={}, opts=pulumi.ResourceOptions(provider=provider))
        VllmService("qwen32b", _args(weights=dataclasses.replace(WEIGHTS, ready=(job,))),
                    opts=pulumi.ResourceOptions(providers={"kubernetes": provider}))
    build()
    job = by_name(monitor, "seed-qwen32b")
    deploy = by_name(monitor, "qwen32b-deploy")
    assert job.urn in deploy.dependencies
    assert all(job.urn not in r.dependencies for r in monitor.registrations if r.name != "qwen32b-deploy")


@pytest.mark.parametrize("replicas", [1, 3])
def test_pdb_never_blocks_a_drain(monitor, replicas):
    pdb = _build(monitor, replicas=replicas)["PodDisruptionBudget"].inputs["spec"]
    assert pdb["maxUnavailable"] == 1 and "minAvailable" not in pdb
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_config_change_rolls_the_deployment(monitor):
    a = _build(monitor)["Deployment"].inputs["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    b = _build_again(monitor, spec=dataclasses.replace(SPEC, max_model_len=8192))["Deployment"].inputs["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert a != b


def test_mismatched_gpu_count_is_rejected_before_any_child_exists(monitor):
    with pytest.raises(ValueError, match="gpus_per_replica must equal"):
        _build(monitor, gpus_per_replica=2)
    assert not of_type(monitor, "kubernetes:apps/v1:Deployment")
