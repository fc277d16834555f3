"""Seeding Jobs run at strait-batch (components/k8s/priority.py) when the platform creates the PriorityClasses,
and name no class otherwise: a pod naming a PriorityClass that does not exist is refused at admission, so the
class is set only together with the resources creating it, and the Job depends on them. Under Pulumi's mocks
(tests/components/conftest.py), the Job judged by kubernetes-validate strict (the Kubernetes 1.35 schema)."""
from __future__ import annotations

import kubernetes_validate
import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pytest

from components.aws.weight_cache import SeedSpec, WeightCache, WeightCacheArgs
from components.gcp.weight_cache import SeedSpec as GcsSeedSpec
from components.gcp.weight_cache import WeightCache as GcsWeightCache
from components.gcp.weight_cache import WeightCacheArgs as GcsWeightCacheArgs
from components.k8s.priority import BATCH, SERVING, PriorityClasses
from components.platform import PodPriority
from tests.helpers import of_type

K8S = "1.35.0"
JOB = "kubernetes:batch/v1:Job"
PC = "kubernetes:scheduling.k8s.io/v1:PriorityClass"
MODEL = "qwen32b"


def _aws(o, prio):
    return WeightCache("weights", WeightCacheArgs(
        bucket_name="strait-test-weights-abc", cluster_name="c1", namespace="strait-serving",
        reader_service_accounts=[MODEL], models={MODEL: SeedSpec(hf_repo="Qwen/Qwen2.5-32B-Instruct-AWQ",
                                                                  revision="main", weights_gib=18.0)},
        seeder_image="python:3.12-slim", tags={"managed-by": "strait"}, region="ap-southeast-1",
        wait_image="aws-cli:2", seed_priority=prio), opts=o)


def _gcp(o, prio):
    return GcsWeightCache("weights", GcsWeightCacheArgs(
        project="strait-test-123", region="asia-southeast1", bucket_name="strait-test-weights-1a2b3c4d",
        workload_pool="strait-test-123.svc.id.goog", namespace="strait-serving", reader_service_accounts=[MODEL],
        models={MODEL: GcsSeedSpec(hf_repo="Qwen/Qwen2.5-32B-Instruct-AWQ", revision="main", weights_gib=18.2)},
        labels={"managed-by": "strait"}, seeder_image="python:3.12-slim", wait_image="gcloud:1",
        seed_priority=prio), opts=o)


def _build(cloud: str, with_classes: bool):
    @pulumi.runtime.test
    def run():
        kp = k8s.Provider("k8s", kubeconfig="{}")
        cloud_provider = (aws.Provider("aws", region="ap-southeast-1") if cloud == "aws"
                          else gcp.Provider("gcp", project="strait-test-123", region="asia-southeast1"))
        o = pulumi.ResourceOptions(providers={cloud: cloud_provider, "kubernetes": kp})
        prio = None
        if with_classes:
            prio = PriorityClasses("priority", opts=pulumi.ResourceOptions(providers={"kubernetes": kp})
                                   ).pod_priorities()["batch"]
        return (_aws if cloud == "aws" else _gcp)(o, prio).urn

    run()


def _waits_for(monitor, deps: set[str], class_name: str) -> bool:
    """The Job depends on the PriorityClass itself or on the component that creates it (Pulumi waits for all of
    a component's children; the monitor may write the component in their place)."""
    [rec] = [r for r in monitor.records() if r.type == PC and r.inputs["metadata"]["name"] == class_name]
    comp = next(r for r in monitor.records() if r.type == "strait:k8s:PriorityClasses")
    return rec.urn in deps or comp.urn in deps


def _job(monitor) -> dict:
    [rec] = [r for r in monitor.records() if r.type == JOB]
    obj = {"apiVersion": "batch/v1", "kind": "Job", **rec.inputs}
    kubernetes_validate.validate(obj, K8S, strict=True)
    return {"obj": obj, "deps": set(rec.dependencies)}


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_seed_job_runs_at_batch_and_waits_for_the_classes(monitor, cloud):
    _build(cloud, with_classes=True)
    job = _job(monitor)
    assert job["obj"]["spec"]["template"]["spec"]["priorityClassName"] == BATCH
    classes = {r.inputs["metadata"]["name"]: r.urn for r in monitor.records() if r.type == PC}
    assert set(classes) == {SERVING, BATCH}
    assert _waits_for(monitor, job["deps"], BATCH)  # created before any seeding pod names it


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_without_classes_the_seed_job_names_none(monitor, cloud):
    _build(cloud, with_classes=False)
    job = _job(monitor)
    assert "priorityClassName" not in job["obj"]["spec"]["template"]["spec"]
    assert not of_type(monitor, PC)


def test_a_class_nothing_creates_is_refused():
    with pytest.raises(ValueError, match=r"'strait-batch': no resource creates this PriorityClass"):
        PodPriority(class_name=BATCH, ready=())


@pytest.mark.parametrize("on", [True, False])
def test_gcp_platform_creates_the_classes_before_its_seeding_jobs_only_when_asked(monitor, on):
    from components.context import StackContext
    from components.gcp.platform import GcpPlatformArgs, GcpPoolSpec, build_gcp_platform
    from strait.catalog import load_catalog

    got = {}

    @pulumi.runtime.test
    def run():
        ctx = StackContext(project="strait", stack="test", blueprint="phase3_prod", cost_center="ml")
        got["p"] = build_gcp_platform(GcpPlatformArgs(
            project="strait-test-123", region="asia-southeast1", cluster_name="strait-test",
            kubernetes_version="1.35", serving_namespace="strait-serving", seeder_image="python:3.12-slim",
            wait_image="gcloud:1", pools={"l4": GcpPoolSpec(machine_type="g2-standard-48", max_nodes=2)},
            models={MODEL: GcsSeedSpec(hf_repo="Qwen/Qwen2.5-32B-Instruct-AWQ", revision="main", weights_gib=18.2)},
            priority_classes=on), ctx, load_catalog())
        return got["p"].cluster_name

    run()
    p, job = got["p"], _job(monitor)
    pod = job["obj"]["spec"]["template"]["spec"]
    if on:
        assert {k: v.class_name for k, v in p.priority.items()} == {"serving": SERVING, "batch": BATCH}
        assert pod["priorityClassName"] == BATCH
        assert _waits_for(monitor, job["deps"], BATCH)
    else:
        assert p.priority == {} and "priorityClassName" not in pod and not of_type(monitor, PC)


@pytest.mark.parametrize("stack, batch", [("phase3-sg", True), ("phase1-sg", False)])
def test_the_blueprints_wire_it_only_where_the_classes_exist(tmp_path, stack, batch):
    """The offline plan of a real stack: phase 3 creates the classes (serving_priority, default on), so its
    seeding Jobs run at strait-batch after them; phase 1 creates none, so its Jobs name none."""
    from tests.conftest import PlannedStack, run_cli

    planned = PlannedStack(stack, tmp_path, run_cli("plan", "--stack", stack, "--out", str(tmp_path)))
    assert planned.proc.returncode == 0, planned.proc.stderr[-2000:]
    res = planned.resources
    classes = [r for r in res if r["type"] in (PC, "strait:k8s:PriorityClasses")]
    jobs = [r for r in res if r["type"] == JOB and r["name"].startswith("weights-seed-")]
    assert jobs
    for job in jobs:
        pod = job["inputs"]["spec"]["template"]["spec"]
        if batch:
            assert pod["priorityClassName"] == BATCH
            assert {r["urn"] for r in classes} & set(job["dependencies"]), job["name"]
        else:
            assert "priorityClassName" not in pod and not classes
