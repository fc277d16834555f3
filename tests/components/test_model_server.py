"""The shared model-server pod (components/k8s/model_server.py): pure, so every rule is checked on dicts."""
from __future__ import annotations

import dataclasses

import pytest

from components.k8s.model_server import (
    PRE_STOP_SECONDS,
    PROBE_PERIOD_SECONDS,
    ServerPod,
    ServerSizing,
    deployment_spec,
    pod_spec,
    shm_size_gib,
    size_for_pool,
)
from components.platform import GpuPool, WeightSource
from strait.config.checks import startup_budget_seconds
from strait.gpu_labels import GPU_LABEL, GPU_RESOURCE, GPU_TOLERATION, POOL_LABEL

POOL = GpuPool(name="t4x4", gpu_model="T4", gpus_per_node=4, node_labels={POOL_LABEL: "t4x4", GPU_LABEL: "T4"},
               capacity="on_demand", min_nodes=2, max_nodes=3, node_vcpu=48, node_memory_gib=192)
SIZING = ServerSizing(cpu_request=36, memory_request_gib=144, startup_timeout_seconds=390, max_surge=1)
WEIGHTS = WeightSource(uri="gs://b/models/x/main", service_account="m",
                       wait_container={"name": "wait-for-weights", "image": "gcloud", "command": ["gcloud", "storage", "ls"],
                                       "args": ["gs://b/models/x/main/.strait-complete"]},
                       env=({"name": "GOOGLE_CLOUD_PROJECT", "value": "p"},))


def _pod(**over) -> ServerPod:
    base = dict(container="sglang", image="img", command=["sglang", "serve"], args=["--model-path", "gs://b/x"],
                env=[{"name": "A", "value": "1"}], port=30000, pool="t4x4", gpu_model="T4", gpus=4,
                tensor_parallel_size=4, sizing=SIZING, shutdown_timeout_seconds=60, service_account="m",
                selector={"app.kubernetes.io/instance": "m"}, weights=WEIGHTS)
    base.update(over)
    return ServerPod(**base)


def test_requests_come_from_the_pools_smallest_node_and_surge_only_with_a_spare_node():
    s = size_for_pool(POOL, replicas=2, weights_gib_per_gpu=4.5)
    assert (s.cpu_request, s.memory_request_gib) == (36, 144)  # 75% of 48 vCPU / 192 GiB
    assert s.startup_timeout_seconds == startup_budget_seconds(4.5)
    assert s.max_surge == 1
    assert size_for_pool(POOL, replicas=3, weights_gib_per_gpu=4.5).max_surge == 0
    assert size_for_pool(POOL, replicas=2, weights_gib_per_gpu=4.5, startup_timeout_seconds=1200).startup_timeout_seconds == 1200
    tiny = dataclasses.replace(POOL, node_vcpu=1, node_memory_gib=4)
    assert (size_for_pool(tiny, replicas=1, weights_gib_per_gpu=1).cpu_request,
            size_for_pool(tiny, replicas=1, weights_gib_per_gpu=1).memory_request_gib) == (1, 8)


def test_gpu_scheduling_on_one_pool_one_replica_per_node():
    pod = pod_spec(_pod())
    c = pod["containers"][0]
    assert c["resources"]["requests"][GPU_RESOURCE] == c["resources"]["limits"][GPU_RESOURCE] == "4"
    assert pod["nodeSelector"] == {POOL_LABEL: "t4x4", GPU_LABEL: "T4"}
    assert pod["tolerations"] == [GPU_TOLERATION]
    term = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term == {"labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "m"}},
                    "topologyKey": "kubernetes.io/hostname"}


@pytest.mark.parametrize("tp, gib", [(1, 1), (2, 8), (8, 32)])
def test_shm_for_tensor_parallelism(tp, gib):
    pod = pod_spec(_pod(gpus=tp, tensor_parallel_size=tp))
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")["emptyDir"]
    assert shm == {"medium": "Memory", "sizeLimit": f"{gib}Gi"} and shm_size_gib(tp) == gib


def test_probes_budget_the_load_and_the_grace_period_outlasts_the_drain():
    pod = pod_spec(_pod())
    c = pod["containers"][0]
    sp = c["startupProbe"]
    assert sp["periodSeconds"] == PROBE_PERIOD_SECONDS and sp["periodSeconds"] * sp["failureThreshold"] >= 390
    assert {c[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")} == {"/health"}
    assert c["lifecycle"]["preStop"]["sleep"]["seconds"] == PRE_STOP_SECONDS
    assert pod["terminationGracePeriodSeconds"] > 60 + PRE_STOP_SECONDS


def test_every_container_is_non_root_with_a_read_only_root():
    pod = pod_spec(_pod())
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    for c in pod["initContainers"] + pod["containers"]:
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"] and sc["capabilities"] == {"drop": ["ALL"]}


def test_the_weight_source_gives_the_wait_container_identity_and_env_whatever_the_cloud():
    pod = pod_spec(_pod())
    [init] = pod["initContainers"]
    assert init["command"] == ["gcloud", "storage", "ls"] and init["args"] == ["gs://b/models/x/main/.strait-complete"]
    assert {"name": "tmp", "mountPath": "/tmp"} in init["volumeMounts"]
    assert pod["serviceAccountName"] == "m"
    env = pod["containers"][0]["env"]
    assert env == [{"name": "A", "value": "1"}, {"name": "GOOGLE_CLOUD_PROJECT", "value": "p"}]
    assert pod_spec(_pod(weights=None))["initContainers"] == []


def test_the_engine_part_is_only_the_command_line():
    a, b = pod_spec(_pod()), pod_spec(_pod(container="vllm", command=["vllm", "serve"], args=["gs://b/x"]))
    for p in (a, b):
        c = p["containers"][0]
        for k in ("name", "command", "args"):
            c.pop(k)
    assert a == b


def test_gpus_must_match_tensor_parallelism():
    with pytest.raises(ValueError, match="must equal tensor_parallel_size"):
        pod_spec(_pod(gpus=2))


@pytest.mark.parametrize("surge, unavailable", [(1, 0), (0, 1)])
def test_rollouts_surge_into_a_spare_node_or_replace_one_at_a_time(surge, unavailable):
    d = deployment_spec(_pod(sizing=dataclasses.replace(SIZING, max_surge=surge)), replicas=2, labels={"l": "v"},
                        annotations={"checksum/config": "x"})
    assert d["strategy"]["rollingUpdate"] == {"maxSurge": surge, "maxUnavailable": unavailable}
    assert d["progressDeadlineSeconds"] > SIZING.startup_timeout_seconds
    assert d["template"]["metadata"] == {"labels": {"l": "v"}, "annotations": {"checksum/config": "x"}}
    assert d["selector"] == {"matchLabels": {"app.kubernetes.io/instance": "m"}}
