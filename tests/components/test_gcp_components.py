"""GCP components under Pulumi's mocks: pulumi-gcp's own typed Args classes take every nested input
(an unknown field is a TypeError at construction), and the recorded registrations are checked here."""
from __future__ import annotations

import json

import pulumi
import pulumi_gcp as gcp
import pytest

from components.gcp.gke_cluster import GkeCluster, GkeClusterArgs, render_kubeconfig
from components.gcp.gpu_node_pool import (ACCELERATOR_TYPES, COMPUTE_CLASS_LABEL, GpuNodePool, GpuNodePoolArgs,
                                          location_policy, render_compute_class)
from components.gcp.network import Network, NetworkArgs, check_ranges
from components.gcp.storage import GCS_HTTPS, GKE_METADATA, lifecycle_rules
from components.gcp.weight_cache import (COMPLETE_MARKER, WI_ANNOTATION, SeedSpec, WeightCache, WeightCacheArgs,
                                         workload_identity_member)
from strait.gpu_labels import GPU_TAINT_KEY, pool_labels
from strait.plan.mocks import GCP_PROJECT
from tests.helpers import by_name, of_type, one

ZONES = ["asia-southeast1-a", "asia-southeast1-b", "asia-southeast1-c"]
LABELS = {"managed-by": "strait", "stack": "test"}


def _run(fn):
    @pulumi.runtime.test
    def inner():
        provider = gcp.Provider("gcp", project=GCP_PROJECT, region="asia-southeast1")
        return fn(pulumi.ResourceOptions(providers={"gcp": provider}))
    inner()


def _children_provided(monitor, component_name):
    comp = by_name(monitor, component_name)
    children = [r for r in monitor.registrations if r.parent == comp.urn]
    assert children
    for r in children:
        assert r.name.startswith(f"{component_name}-"), r.name
        if r.custom and r.type.startswith("gcp:"):
            assert "::gcp::" in r.provider and "default_" not in r.provider, (r.name, r.provider)
    return children


def _cluster(o, **kw):
    return GkeCluster("cluster", GkeClusterArgs(
        project=GCP_PROJECT, region="asia-southeast1", cluster_name="strait-test", kubernetes_version="1.35",
        network_id="projects/p/global/networks/n", subnet_id="projects/p/regions/r/subnetworks/s",
        pods_range_name="pods", services_range_name="services", node_zones=ZONES, labels=LABELS, **kw), opts=o)


def test_network_is_vpc_native_with_nat_for_private_nodes(monitor):
    _run(lambda o: Network("net", NetworkArgs(project=GCP_PROJECT, region="asia-southeast1", network_name="strait-test"),
                           opts=o).urn)
    _children_provided(monitor, "net")
    vpc = one(monitor, "gcp:compute/network:Network")
    assert vpc.inputs["autoCreateSubnetworks"] is False
    subnet = one(monitor, "gcp:compute/subnetwork:Subnetwork")
    assert subnet.inputs["privateIpGoogleAccess"] is True
    assert {r["rangeName"]: r["ipCidrRange"] for r in subnet.inputs["secondaryIpRanges"]} == {
        "pods": "10.48.0.0/14", "services": "10.52.0.0/20"}
    nat = one(monitor, "gcp:compute/routerNat:RouterNat")
    assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    assert nat.inputs["subnetworks"][0]["sourceIpRangesToNats"] == ["ALL_IP_RANGES"]
    assert nat.inputs["router"] == one(monitor, "gcp:compute/router:Router").inputs["name"]


def test_network_reports_every_bad_range_at_once():
    errors = check_ranges(NetworkArgs(project="p", region="r", network_name="n", nodes_cidr="10.0.0.0/8",
                                      pods_cidr="8.8.8.0/24", services_cidr="nope"))
    assert errors == [
        "pods_cidr: '8.8.8.0/24' must be a private IPv4 range (RFC 1918); fix: use 10.0.0.0/8 space",
        "services_cidr: 'nope' is not a CIDR block; fix: write it like 10.40.0.0/20",
    ]
    overlap = check_ranges(NetworkArgs(project="p", region="r", network_name="n", nodes_cidr="10.48.0.0/20"))
    assert overlap == ["nodes_cidr 10.48.0.0/20 overlaps pods_cidr 10.48.0.0/14; fix: give each range its own block"]


def test_gke_cluster_private_wi_dataplane_v2_shielded_and_its_own_node_account(monitor):
    _run(lambda o: _cluster(o).urn)
    _children_provided(monitor, "cluster")
    c = one(monitor, "gcp:container/cluster:Cluster")
    i = c.inputs
    assert i["workloadIdentityConfig"] == {"workloadPool": f"{GCP_PROJECT}.svc.id.goog"}
    assert i["datapathProvider"] == "ADVANCED_DATAPATH"
    assert "networkPolicy" not in i  # Dataplane V2 enforces NetworkPolicy; the Calico add-on stays off
    assert i["enableShieldedNodes"] is True
    assert i["releaseChannel"] == {"channel": "REGULAR"} and i["minMasterVersion"] == "1.35"
    assert i["privateClusterConfig"]["enablePrivateNodes"] is True
    assert i["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert i["masterAuthorizedNetworksConfig"].get("cidrBlocks", []) == []
    assert i["removeDefaultNodePool"] is True
    assert i["ipAllocationPolicy"] == {"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"}
    sa = one(monitor, "gcp:serviceaccount/account:Account")
    email = f"{sa.inputs['accountId']}@{GCP_PROJECT}.iam.gserviceaccount.com"
    assert "compute@developer" not in email
    assert i["nodeConfig"]["serviceAccount"] == email
    grants = of_type(monitor, "gcp:projects/iAMMember:IAMMember")
    assert [(g.inputs["role"], g.inputs["member"]) for g in grants] == [
        ("roles/container.defaultNodeServiceAccount", f"serviceAccount:{email}")]
    system = one(monitor, "gcp:container/nodePool:NodePool")
    nc = system.inputs["nodeConfig"]
    assert nc["serviceAccount"] == email
    assert nc["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert nc["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert nc["labels"] == {"strait.dev/pool": "system"}
    provider = one(monitor, "pulumi:providers:kubernetes")
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    assert kubeconfig["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://172.16.0.2"


def test_public_endpoint_only_for_the_authorised_networks(monitor):
    _run(lambda o: _cluster(o, api_public_cidrs=["203.0.113.0/24"]).urn)
    i = one(monitor, "gcp:container/cluster:Cluster").inputs
    assert i["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert i["masterAuthorizedNetworksConfig"]["cidrBlocks"] == [{"cidrBlock": "203.0.113.0/24", "displayName": "api-0"}]
    assert i["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is False


def test_cluster_arguments_fail_together():
    with pytest.raises(ValueError) as err:
        _cluster(None, release_channel="FAST", system_nodes_per_zone=0)
    assert "release_channel: 'FAST' is not one of RAPID, REGULAR, STABLE, EXTENDED" in str(err.value)
    assert "system_nodes_per_zone: 0 must be at least 1" in str(err.value)


def test_kubeconfig_has_no_static_credentials():
    cfg = json.loads(render_kubeconfig("c", "10.0.0.2", "Q0E="))
    user = cfg["users"][0]["user"]
    assert set(user) == {"exec"} and "token" not in json.dumps(cfg)


@pytest.mark.parametrize("capacity,policy", [("spot", "ANY"), ("on_demand", "BALANCED")])
def test_gpu_pool_driver_taint_labels_and_autoscaling(monitor, capacity, policy):
    def build(o):
        cluster = _cluster(o)
        return GpuNodePool("gpu-l4", "l4x4", cluster, GpuNodePoolArgs(
            machine_type="g2-standard-48", gpu_model="L4", gpus_per_node=4, zones=ZONES[:2], capacity=capacity,
            min_nodes=2, max_nodes=3, labels=LABELS), opts=o).urn
    _run(build)
    _children_provided(monitor, "gpu-l4")
    np = by_name(monitor, "gpu-l4-np").inputs
    nc = np["nodeConfig"]
    assert nc["spot"] is (capacity == "spot")
    assert nc["guestAccelerators"] == [{"type": "nvidia-l4", "count": 4,
                                        "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"}}]
    assert nc["taints"] == [{"key": GPU_TAINT_KEY, "value": "present", "effect": "NO_SCHEDULE"}]
    assert nc["labels"] == pool_labels("l4x4", "L4", capacity)
    assert np["autoscaling"] == {"totalMinNodeCount": 2, "totalMaxNodeCount": 3, "locationPolicy": policy}
    assert np["nodeLocations"] == ZONES[:2]
    assert nc["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    # GKE installs the driver and device plugin: no DaemonSet from Strait.
    assert not [r for r in monitor.registrations if r.type == "kubernetes:apps/v1:DaemonSet"]


def test_gpu_pool_refuses_unknown_gpu_and_bad_sizes():
    with pytest.raises(ValueError) as err:
        GpuNodePool("x", "x", None, GpuNodePoolArgs(machine_type="n2-standard-8", gpu_model="L40S", gpus_per_node=0,
                                                    zones=[], min_nodes=3, max_nodes=2, labels={}))
    msg = str(err.value)
    for part in ("gpu_model: 'L40S' has no GKE accelerator", "machine_type: 'n2-standard-8' is not a G2/A2/A3 type",
                 "gpus_per_node: 0", "zones: empty", "min_nodes/max_nodes: 3/2"):
        assert part in msg


def test_accelerators_cover_every_gcp_gpu_in_the_catalog():
    from strait.catalog import load_catalog

    cat = load_catalog()
    gpus = {it.gpu for it in cat.instance_types.values() if it.cloud == "gcp" and it.gpu}
    assert gpus <= set(ACCELERATOR_TYPES), gpus - set(ACCELERATOR_TYPES)


def test_spot_first_compute_class_and_pool_membership(monitor):
    doc = render_compute_class("strait-l4", ["gpu-l4-spot"], ["gpu-l4-od"])
    assert doc["spec"]["priorities"] == [{"nodepools": ["gpu-l4-spot"]}, {"nodepools": ["gpu-l4-od"]}]
    assert doc["spec"]["nodePoolAutoCreation"] == {"enabled": False}
    assert doc["spec"]["whenUnsatisfiable"] == "DoNotScaleUp"
    with pytest.raises(ValueError):
        render_compute_class("x", [], ["a"])
    assert location_policy("spot") == "ANY"

    def build(o):
        cluster = _cluster(o)
        return GpuNodePool("gpu-l4", "l4-spot", cluster, GpuNodePoolArgs(
            machine_type="g2-standard-48", gpu_model="L4", gpus_per_node=4, zones=ZONES, capacity="spot",
            compute_class="strait-l4", labels=LABELS), opts=o).urn
    _run(build)
    nc = by_name(monitor, "gpu-l4-np").inputs["nodeConfig"]
    assert nc["labels"][COMPUTE_CLASS_LABEL] == "strait-l4"
    assert {"key": COMPUTE_CLASS_LABEL, "value": "strait-l4", "effect": "NO_SCHEDULE"} in nc["taints"]


def _cache(o, **kw):
    return WeightCache("weights", WeightCacheArgs(
        project=GCP_PROJECT, region="asia-southeast1", bucket_name="strait-test-weights-1a2b3c4d",
        workload_pool=f"{GCP_PROJECT}.svc.id.goog", namespace="strait-serving", reader_service_accounts=["qwen32b"],
        models={"qwen32b": SeedSpec(hf_repo="Qwen/Qwen2.5-32B-Instruct-AWQ", revision="main", weights_gib=18.2)},
        labels=LABELS, seeder_image="python:3.12-slim", wait_image="gcloud:1", **kw), opts=o)


def test_weight_cache_bucket_is_private_versioned_and_read_only_to_readers(monitor):
    holder = {}

    def build(o):
        holder["cache"] = _cache(o)
        return holder["cache"].urn
    _run(build)
    _children_provided(monitor, "weights")
    b = one(monitor, "gcp:storage/bucket:Bucket").inputs
    assert b["uniformBucketLevelAccess"] is True
    assert b["publicAccessPrevention"] == "enforced"
    assert b["versioning"] == {"enabled": True}
    assert b["location"] == "ASIA-SOUTHEAST1"
    assert {r["action"]["type"]: r["condition"] for r in b["lifecycleRules"]} == {
        "Delete": {"daysSinceNoncurrentTime": 7, "withState": "ARCHIVED"},
        "AbortIncompleteMultipartUpload": {"age": 2}}
    grants = {g.name: g.inputs for g in of_type(monitor, "gcp:storage/bucketIAMMember:BucketIAMMember")}
    assert grants["weights-reader"]["role"] == "roles/storage.objectViewer"
    assert grants["weights-seeder"]["role"] == "roles/storage.objectUser"
    assert not any("allUsers" in g["member"] or "allAuthenticatedUsers" in g["member"] for g in grants.values())
    wi = {g.name: g.inputs for g in of_type(monitor, "gcp:serviceaccount/iAMMember:IAMMember")}
    assert wi["weights-reader-wi-qwen32b"]["role"] == "roles/iam.workloadIdentityUser"
    assert wi["weights-reader-wi-qwen32b"]["member"] == f"serviceAccount:{GCP_PROJECT}.svc.id.goog[strait-serving/qwen32b]"
    assert wi["weights-seeder-wi"]["member"] == f"serviceAccount:{GCP_PROJECT}.svc.id.goog[strait-serving/strait-weight-seeder]"
    netpol = one(monitor, "kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs["spec"]
    assert netpol["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in netpol or netpol["ingress"] == []
    seeder_sa = one(monitor, "kubernetes:core/v1:ServiceAccount").inputs["metadata"]
    assert seeder_sa["annotations"][WI_ANNOTATION].endswith(f"@{GCP_PROJECT}.iam.gserviceaccount.com")
    job = one(monitor, "kubernetes:batch/v1:Job").inputs
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["STORE"] == "gcs" and env["BUCKET"] == "strait-test-weights-1a2b3c4d"
    assert env["PREFIX"] == "models/Qwen/Qwen2.5-32B-Instruct-AWQ/main"


def test_weight_source_gives_the_pod_workload_identity_credentials_for_runai_streamer(monitor):
    """runai_streamer's GCS backend uses Application Default Credentials; on GKE those come from the
    metadata server for the Google service account named by the KSA annotation."""
    out = {}

    def build(o):
        cache = _cache(o)
        out["cache"] = cache
        ws = cache.weights["qwen32b"]
        out["ws"] = ws
        return pulumi.Output.from_input(ws.service_account_annotations[WI_ANNOTATION]).apply(
            lambda email: out.__setitem__("email", email))
    _run(build)
    ws = out["ws"]
    assert ws.uri == "gs://strait-test-weights-1a2b3c4d/models/Qwen/Qwen2.5-32B-Instruct-AWQ/main"
    assert ws.service_account == "qwen32b"
    reader = [r for r in of_type(monitor, "gcp:serviceaccount/account:Account") if r.name == "weights-reader"][0]
    assert out["email"] == f"{reader.inputs['accountId']}@{GCP_PROJECT}.iam.gserviceaccount.com"
    assert {"name": "GOOGLE_CLOUD_PROJECT", "value": GCP_PROJECT} in ws.env
    wait = ws.wait_container
    # Argv only: no shell ever sees the URI (which holds the revision from the stack file).
    assert wait["command"] == ["gcloud", "storage", "objects", "describe", f"{ws.uri}/{COMPLETE_MARKER}",
                               "--format=value(name)"]
    assert ws.egress == (GKE_METADATA, GCS_HTTPS)
    assert {"169.254.169.254/32", "169.254.169.252/32"} == {p["ipBlock"]["cidr"] for p in GKE_METADATA.peers}
    # With seeding on, a reader waits for the seed Job, which itself waits for the readers' grants.
    job = one(monitor, "kubernetes:batch/v1:Job")
    assert ws.ready == (out["cache"].seed_jobs["qwen32b"],)
    wi = [r for r in of_type(monitor, "gcp:serviceaccount/iAMMember:IAMMember") if r.name == "weights-reader-wi-qwen32b"][0]
    assert wi.urn in job.dependencies
    assert workload_identity_member("p.svc.id.goog", "ns", "sa") == "serviceAccount:p.svc.id.goog[ns/sa]"


def test_expiring_prefixes_and_bad_expiry():
    rules = lifecycle_rules({"events/": 30})
    assert len(rules) == 3
    assert rules[-1].action.type == "Delete"
    assert (rules[-1].condition.age, rules[-1].condition.matches_prefixes) == (30, ["events/"])
    with pytest.raises(ValueError, match="expire_days needs non-empty prefixes"):
        lifecycle_rules({"": 3})


def test_google_service_account_ids_are_valid_and_distinct():
    import re

    from components.gcp.storage import gsa_account_id
    from strait.naming import s3_bucket_name

    ids = {gsa_account_id(s3_bucket_name("strait", stack, "asia-southeast1", purpose), role)
           for stack in ("phase1-sg-gke", "phase1-sg-gke-a", "phase1-sg-gke-b", "x" * 60)
           for purpose, role in (("weights", "reader"), ("weights", "seeder"), ("langfuse", "rw"))}
    assert len(ids) == 12
    assert all(re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", i) for i in ids), ids


def test_platform_builder_with_spot_first_compute_class(monitor):
    from components.context import StackContext
    from components.gcp.platform import GcpPlatformArgs, GcpPoolSpec, build_gcp_platform
    from strait.catalog import load_catalog

    got = {}

    @pulumi.runtime.test
    def run():
        ctx = StackContext(project="strait", stack="test", blueprint="phase1_mvp", cost_center="ml")
        platform = build_gcp_platform(GcpPlatformArgs(
            project=GCP_PROJECT, region="asia-southeast1", cluster_name="strait-test", kubernetes_version="1.35",
            serving_namespace="strait-serving", seeder_image="python:3.12-slim", wait_image="gcloud:1",
            pools={"l4-spot": GcpPoolSpec(machine_type="g2-standard-48", capacity="spot", max_nodes=2),
                   "l4-od": GcpPoolSpec(machine_type="g2-standard-48", capacity="on_demand", max_nodes=2)},
            models={"qwen32b": SeedSpec(hf_repo="Qwen/Qwen2.5-32B-Instruct-AWQ", revision="main", weights_gib=18.2)},
            spot_fallback=True), ctx, load_catalog())
        got["platform"] = platform
        return platform.cluster_name

    run()
    p = got["platform"]
    assert p.cloud == "gcp" and p.storage_class == "premium-rwo" and set(p.namespaces) == {"strait-serving"}
    assert set(p.allows) == {"api_server_egress", "node_metrics_egress", "webhook_ingress"}
    assert {k: (g.gpu_model, g.gpus_per_node, g.needs_device_plugin) for k, g in p.gpu_pools.items()} == {
        "l4-spot": ("L4", 4, False), "l4-od": ("L4", 4, False)}
    [cc] = of_type(monitor, "kubernetes:cloud.google.com/v1:ComputeClass")
    assert cc.inputs["spec"]["priorities"] == [{"nodepools": ["gpu-l4-spot"]}, {"nodepools": ["gpu-l4-od"]}]
    pools = {r.inputs["name"]: r.inputs for r in of_type(monitor, "gcp:container/nodePool:NodePool")}
    assert pools["gpu-l4-spot"]["autoscaling"]["locationPolicy"] == "ANY"
    assert pools["gpu-l4-od"]["autoscaling"]["locationPolicy"] == "BALANCED"
    for name in ("gpu-l4-spot", "gpu-l4-od"):
        assert pools[name]["nodeConfig"]["labels"][COMPUTE_CLASS_LABEL] == cc.inputs["metadata"]["name"]
    # Every GCP resource names its provider; no device plugin and no Cluster Autoscaler release on GKE.
    assert all("::gcp::" in r.provider for r in monitor.registrations if r.custom and r.type.startswith("gcp:"))
    assert not of_type(monitor, "kubernetes:apps/v1:DaemonSet")
    assert not [r for r in of_type(monitor, "kubernetes:helm.sh/v3:Release") if "autoscaler" in r.name]
