import json

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components.k8s.litellm_gateway import CONFIG_PATH, LiteLLMGateway, LiteLLMGatewayArgs
from strait.plan.mocks import SECRET_MASK
from strait.render.litellm import GatewaySpec, ProviderModel, Routing, SelfHostedEndpoint, Tier
from tests.helpers import by_name

MASTER = "sk-plain-text-master-key-that-must-not-leak-0123456789"
VLLM_KEY = "plain-text-vllm-key-that-must-not-leak"
REDIS_PW = "plain-text-redis-password-that-must-not-leak"
DB_URL = "postgresql://user:plain-text-db-password@db:5432/litellm"
SPEC = GatewaySpec(
    tiers={"self-hosted": Tier(self_hosted=(SelfHostedEndpoint(
        served_model_name="qwen32b", api_base="http://qwen32b.strait-serving.svc.cluster.local:8000/v1",
        api_key_env="VLLM_API_KEY_QWEN32B", max_model_len=16384),), fallbacks=("commercial",)),
        "commercial": Tier(providers=(ProviderModel(provider="anthropic", model="claude-sonnet-4-5"),))},
    routing=Routing(ladder=("self-hosted", "commercial")))


def _build(monitor, **over):
    args = dict(namespace="strait-gateway", spec=SPEC, image="ghcr.io/berriai/litellm:v1.109.1", version="1.109.1",
                master_key=MASTER, secret_env={"VLLM_API_KEY_QWEN32B": VLLM_KEY}, replicas=2,
                redis_image="valkey/valkey:8.1.9-alpine", redis_password=REDIS_PW)
    args.update(over)

    @pulumi.runtime.test
    def build():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        gw = LiteLLMGateway("litellm", LiteLLMGatewayArgs(**args),
                            opts=pulumi.ResourceOptions(providers={"kubernetes": provider}))
        return gw.urn
    build()
    return [r for r in monitor.registrations if r.type.startswith("kubernetes:") and r.custom]


def _kinds(objs):
    return sorted(r.type.split(":")[-1] + ":" + r.inputs["metadata"]["name"] for r in objs)


def test_two_replicas_get_shared_router_state_in_valkey(monitor):
    objs = _build(monitor)
    assert by_name(monitor, "litellm").type == "strait:gateway:LiteLLMGateway"
    assert _kinds(objs) == ["ConfigMap:litellm-config", "Deployment:litellm", "Deployment:litellm-redis",
                            "HorizontalPodAutoscaler:litellm", "NetworkPolicy:litellm", "NetworkPolicy:litellm-redis", "PodDisruptionBudget:litellm", "Secret:litellm-keys",
                            "Secret:litellm-redis-conf", "Service:litellm", "Service:litellm-redis",
                            "ServiceAccount:litellm"]
    for r in objs:
        assert r.parent.endswith("::litellm"), r.name
    cm = next(r for r in objs if r.type.endswith("ConfigMap"))
    config = yaml.safe_load(cm.inputs["data"]["config.yaml"])
    rs = config["router_settings"]
    # One secret URL holds host and password: see REDIS_URL_ENV in strait/render/litellm.py.
    assert rs["redis_url"] == "os.environ/REDIS_URL"
    keys = next(r for r in objs if r.inputs["metadata"]["name"] == "litellm-keys")
    assert keys.inputs["stringData"] == {k: SECRET_MASK for k in ("LITELLM_MASTER_KEY", "REDIS_URL",
                                                                   "VLLM_API_KEY_QWEN32B")}
    netpol = next(r for r in objs if r.type.endswith("NetworkPolicy") and r.inputs["metadata"]["name"] == "litellm-redis")
    gateway_pods = next(r for r in objs if r.inputs["metadata"]["name"] == "litellm" and r.type.endswith("Deployment"))
    assert netpol.inputs["spec"]["ingress"][0]["from"] == [
        {"podSelector": {"matchLabels": gateway_pods.inputs["spec"]["selector"]["matchLabels"]}}]
    valkey = next(r for r in objs if r.inputs["metadata"]["name"] == "litellm-redis" and r.type.endswith("Deployment"))
    assert REDIS_PW not in json.dumps(valkey.inputs)  # the password is in a Secret-mounted file, not argv


def test_the_config_map_ships_the_hook_beside_the_config_and_no_secret(monitor):
    objs = _build(monitor, database_url=DB_URL)
    cm = next(r for r in objs if r.type.endswith("ConfigMap"))
    data = cm.inputs["data"]
    assert sorted(data) == ["config.yaml", "strait_errors.py", "strait_hook.py", "strait_overflow.py",
                            "strait_routing.json", "strait_routing.py"]
    config = yaml.safe_load(data["config.yaml"])
    assert "strait_hook.proxy_handler_instance" in config["litellm_settings"]["callbacks"]
    assert config["general_settings"]["database_url"] == "os.environ/DATABASE_URL"
    dumped = json.dumps([r.inputs for r in objs])
    for secret in (MASTER, VLLM_KEY, REDIS_PW, DB_URL):
        assert secret not in dumped


def test_pod_spec_probes_resources_and_env(monitor):
    objs = _build(monitor, cpu_request="1", memory_request="2Gi", memory_limit="3Gi")
    dep = next(r for r in objs if r.inputs["metadata"]["name"] == "litellm" and r.type.endswith("Deployment"))
    spec = dep.inputs["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    assert c["args"][:2] == ["--config", CONFIG_PATH]
    assert c["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
    assert c["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert c["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "3Gi"}}
    secret_refs = {e["name"] for e in c["env"] if "valueFrom" in e}
    assert secret_refs == {"LITELLM_MASTER_KEY", "REDIS_URL", "VLLM_API_KEY_QWEN32B"}
    assert {"name": "LITELLM_LOCAL_MODEL_COST_MAP", "value": "True"} in c["env"]
    assert {"name": "config", "mountPath": "/etc/litellm", "readOnly": True} in c["volumeMounts"]
    assert len(spec["template"]["metadata"]["annotations"]["checksum/config"]) == 64
    pdb = next(r for r in objs if r.type.endswith("PodDisruptionBudget"))
    assert pdb.inputs["spec"]["maxUnavailable"] == 1


def test_one_replica_needs_no_redis(monitor):
    objs = _build(monitor, replicas=1, redis_image=None, redis_password=None)
    assert not [r for r in objs if "redis" in r.inputs["metadata"]["name"]]
    gw_netpol = next(r for r in objs if r.type.endswith("NetworkPolicy"))
    # No client namespaces named: the API port admits no namespace; only Prometheus reaches the metrics port.
    assert [rule["ports"] for rule in gw_netpol.inputs["spec"]["ingress"]] == [[{"port": 4001, "protocol": "TCP"}]]
    cm = next(r for r in objs if r.type.endswith("ConfigMap"))
    assert "redis_url" not in yaml.safe_load(cm.inputs["data"]["config.yaml"])["router_settings"]


def test_several_replicas_without_redis_are_refused(monitor):
    with pytest.raises(ValueError, match="2 gateway replicas need redis_image and redis_password"):
        _build(monitor, redis_image=None, redis_password=None)


def test_reserved_env_names_are_refused(monitor):
    with pytest.raises(ValueError, match=r"\['REDIS_PASSWORD'\] are set from their own arguments"):
        _build(monitor, secret_env={"REDIS_PASSWORD": "x"})


def test_the_hpa_scales_the_gateway_between_replicas_and_the_sized_maximum(monitor):
    from strait.gateway.capacity import GatewayScaling

    scaling = GatewayScaling(min_replicas=2, max_replicas=5, workers_per_replica=2, target_cpu_utilization_percent=60,
                             requests_per_second_per_replica=156.0)
    objs = _build(monitor, cpu_request="2", scaling=scaling)
    hpa = next(r for r in objs if r.type.endswith("HorizontalPodAutoscaler"))
    spec = hpa.inputs["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "litellm"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 5)
    assert spec["metrics"][0]["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}
    dep = next(r for r in objs if r.inputs["metadata"]["name"] == "litellm" and r.type.endswith("Deployment"))
    args = dep.inputs["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--num_workers") + 1] == "2"


def test_an_hpa_maximum_below_the_replicas_is_refused(monitor):
    from strait.gateway.capacity import GatewayScaling

    with pytest.raises(ValueError, match=r"scaling.max_replicas=1 must be >= replicas=2"):
        _build(monitor, scaling=GatewayScaling(min_replicas=2, max_replicas=1, workers_per_replica=1,
                                               target_cpu_utilization_percent=70, requests_per_second_per_replica=1))
