"""VllmMultiNode under mocks: children, names, the LWS waiting for the controller, the weights and its policies,
the leader-only Service, the API key as a secret; bad args refused before any child exists."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.k8s.model_server import ServerSizing
from components.k8s.vllm_multinode import VllmMultiNode, VllmMultiNodeArgs, WORKER_INDEX_LABEL
from strait.render.vllm import VllmSpec
from strait.render.vllm_multinode import MultiNodeSpec
from tests.helpers import by_name, of_type

ENGINE = VllmSpec(model="s3://c/m", served_model_name="big", max_model_len=16384, tensor_parallel_size=8)


def _args(**over) -> VllmMultiNodeArgs:
    base = dict(namespace="strait-serving", spec=MultiNodeSpec(engine=ENGINE, nodes=2), image="vllm/vllm-openai:v0.33.0",
                engine_version="0.33.0", api_key="sk-not-in-state", pool="h100", gpu_model="H100", gpus_per_node=8,
                sizing=ServerSizing(cpu_request=144, memory_request_gib=1536, startup_timeout_seconds=1800),
                client_namespaces=("strait-gateway",))
    return VllmMultiNodeArgs(**{**base, **over})


def _run(build):
    @pulumi.runtime.test
    def inner():
        p = k8s.Provider("k8s", kubeconfig="{}")
        return build(pulumi.ResourceOptions(providers={"kubernetes": p}))
    inner()


def test_children_and_wiring(monitor):
    _run(lambda o: VllmMultiNode("big", _args(), opts=o).urn)
    lws = by_name(monitor, "big-lws")
    assert lws.inputs["apiVersion"] == "leaderworkerset.x-k8s.io/v1" and lws.inputs["kind"] == "LeaderWorkerSet"
    assert lws.parent.endswith("strait:serving:VllmMultiNode::big")
    svc = by_name(monitor, "big-svc")
    assert svc.inputs["metadata"]["name"] == "big-api"  # LWS owns the headless Service named "big"
    assert svc.inputs["spec"]["selector"][WORKER_INDEX_LABEL] == "0"
    assert {r.name for r in of_type(monitor, "kubernetes:networking.k8s.io/v1:NetworkPolicy")} == {"big-api", "big-group"}
    secret = by_name(monitor, "big-api-key")
    assert "sk-not-in-state" not in str(secret.inputs.get("metadata")) and "sk-not-in-state" not in str(lws.inputs)


@pytest.mark.parametrize("over, message", [
    (dict(gpus_per_node=4), "tensor_parallel_size (8) must equal the pool's GPUs per node (4)"),
    (dict(groups=0), "groups must be at least 1 (got 0)"),
])
def test_bad_args_are_refused(monitor, over, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        VllmMultiNode("big", _args(**over))
    assert not of_type(monitor, "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet")


def test_lws_controller_installs_the_pinned_chart_in_a_restricted_default_deny_namespace(monitor):
    from components.k8s.lws import Lws, LwsArgs
    from strait.catalog.charts import load_charts
    from strait.render.netpol import Allow, cidr_peer, tcp

    args = LwsArgs(chart=load_charts()["lws"], api_server_egress=Allow((cidr_peer("172.20.0.0/16"),), tcp(443)),
                   webhook_ingress=Allow((cidr_peer("10.40.0.0/16"),), tcp(10250)))
    _run(lambda o: Lws("lws", args, opts=o).urn)
    (rel,) = of_type(monitor, "kubernetes:helm.sh/v3:Release")
    assert (rel.inputs["chart"], rel.inputs["version"], rel.inputs["namespace"]) == (
        "oci://registry.k8s.io/lws/charts/lws", "0.10.0", "lws-system")
    assert rel.inputs["values"]["image"]["manager"]["tag"] == "v0.10.0"
    ns = by_name(monitor, "lws-ns")
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    names = {r.inputs["metadata"]["name"] for r in of_type(monitor, "kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    assert names == {"default-deny", "allow-dns", "lws-controller"}


def test_lws_refuses_another_chart(monitor):
    from components.k8s.lws import Lws, LwsArgs
    from strait.catalog.charts import load_charts
    from strait.render.netpol import Allow, cidr_peer, tcp

    allow = Allow((cidr_peer("10.0.0.0/8"),), tcp(443))
    with pytest.raises(ValueError, match="is not LeaderWorkerSet's"):
        Lws("lws", LwsArgs(chart=load_charts()["keda"], api_server_egress=allow, webhook_ingress=allow))
