"""A GKE Standard cluster: regional control plane on a private endpoint, Workload Identity Federation,
Dataplane V2 (NetworkPolicies enforced), Shielded nodes, a release channel, a least-privilege node
service account, a system node pool, and the Kubernetes provider in-cluster components receive."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from strait.gpu_labels import POOL_LABEL, SYSTEM_POOL
from strait.naming import child, dns_label
from strait.render.netpol import Allow, cidr_peer, tcp

RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE", "EXTENDED")
#: Google's predefined role with exactly what a node needs (write logs and metrics, read its own metadata);
#: it replaces the default Compute Engine service account and its project-wide Editor role.
NODE_ROLES = ("roles/container.defaultNodeServiceAccount",)
#: Nodes get one OAuth scope; what they may do is decided by the IAM roles above, not by scopes.
NODE_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
KUBELET_PORT = 10250
NODE_EXPORTER_PORT = 9100
STORAGE_CLASS = "premium-rwo"
"""GKE's built-in StorageClass for pd-ssd through the Compute Engine PD CSI driver."""


@dataclass(frozen=True, kw_only=True)
class GkeClusterArgs:
    project: str
    region: str
    """The control plane is regional (three replicas across zones)."""
    cluster_name: str
    kubernetes_version: str
    """Minor version from the GKE catalog (``1.35``); GKE picks the channel's newest patch of it."""
    network_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    pods_range_name: str
    services_range_name: str
    labels: dict[str, str]
    """GCP resource labels (already lower-cased by strait.tags.gcp_labels)."""
    node_zones: Sequence[str]
    """Zones the system pool (and by default the GPU pools) span."""
    release_channel: str = "REGULAR"
    """GKE release channel. Default: REGULAR (patches arrive after RAPID has soaked them)."""
    master_cidr: str = "172.16.0.0/28"
    """The control plane's /28 for its private endpoint. Default: 172.16.0.0/28."""
    nodes_cidr: str = "10.40.0.0/20"
    """The subnet's primary range (node IPs), for NetworkPolicy rules to the nodes. Default: the Network's."""
    services_cidr: str = "10.52.0.0/20"
    """The Services range (kubernetes.default's ClusterIP), for NetworkPolicy rules. Default: the Network's."""
    api_public_cidrs: list[str] = field(default_factory=list)
    """CIDRs that may reach a public API endpoint. Default: none, the endpoint is private only."""
    system_machine_type: str = "e2-standard-4"
    system_nodes_per_zone: int = 1
    """System pool size per zone. Default: one node in each of ``node_zones``."""
    system_disk_size_gib: int = 100
    deletion_protection: bool = True
    """Refuse `pulumi destroy` of the cluster. Default: on; turn off deliberately before tearing down."""
    webhook_ports: tuple[int, ...] = ()
    """Admission webhooks served by pods on ports other than 443/10250 (the LeaderWorkerSet controller's 9443). A
    private cluster's own firewall rules let the control plane reach nodes on 443 and 10250 only, so a rule opens
    these TCP ports from ``master_cidr`` to the nodes' service account. Default: none, no rule."""


def render_kubeconfig(cluster_name: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that gets short-lived tokens from gke-gcloud-auth-plugin (no static credentials)."""
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": f"https://{endpoint}",
                                                         "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "gke-gcloud-auth-plugin",
            "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
            "provideClusterInfo": True,
            "interactiveMode": "IfAvailable",
        }}}],
    }, sort_keys=True)


def check_args(args: GkeClusterArgs) -> list[str]:
    errors = []
    if args.release_channel not in RELEASE_CHANNELS:
        errors.append(f"release_channel: {args.release_channel!r} is not one of {', '.join(RELEASE_CHANNELS)}")
    if not args.node_zones:
        errors.append("node_zones: empty; fix: list at least one zone of the region")
    for z in args.node_zones:
        if not z.startswith(f"{args.region}-"):
            errors.append(f"node_zones: {z!r} is not a zone of {args.region}; fix: use {args.region}-a/-b/-c")
    if args.system_nodes_per_zone < 1:
        errors.append(f"system_nodes_per_zone: {args.system_nodes_per_zone} must be at least 1")
    return errors


class GkeCluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    cluster_id: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    node_service_account: pulumi.Output[str]
    """E-mail of the nodes' own service account (GPU pools run as it too)."""
    provider: k8s.Provider
    project: str
    region: str
    node_zones: tuple[str, ...]
    workload_pool: str
    """``PROJECT.svc.id.goog``: the Workload Identity pool Kubernetes ServiceAccounts map into."""
    labels: dict[str, str]

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:gcp:GkeCluster", name, None, opts)
        errors = check_args(args)
        if errors:
            raise ValueError("invalid GKE cluster arguments:\n  " + "\n  ".join(errors))
        o = pulumi.ResourceOptions(parent=self)
        self.project, self.region, self.labels = args.project, args.region, dict(args.labels)
        self.node_zones = tuple(args.node_zones)
        self.workload_pool = f"{args.project}.svc.id.goog"

        # Service account ids are 6-30 characters.
        node_sa = gcp.serviceaccount.Account(
            child(name, "nodes"), account_id=dns_label(f"{args.cluster_name}-nodes", 30).rstrip("-"),
            display_name=f"GKE nodes of {args.cluster_name}", project=args.project, opts=o)
        role_grants = [gcp.projects.IAMMember(child(name, f"nodes-{role.split('/')[-1]}"), project=args.project,
                                              role=role, member=node_sa.member, opts=o) for role in NODE_ROLES]
        public = bool(args.api_public_cidrs)
        shielded = gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(enable_secure_boot=True,
                                                                            enable_integrity_monitoring=True)
        cluster = gcp.container.Cluster(
            child(name, "gke"),
            name=args.cluster_name,
            project=args.project,
            location=args.region,
            node_locations=list(args.node_zones),
            min_master_version=args.kubernetes_version,
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=args.release_channel),
            network=args.network_id,
            subnetwork=args.subnet_id,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=args.pods_range_name,
                services_secondary_range_name=args.services_range_name),
            # Dataplane V2 (Cilium/eBPF) enforces NetworkPolicy itself; the Calico add-on must stay off.
            datapath_provider="ADVANCED_DATAPATH",
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(workload_pool=self.workload_pool),
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            enable_intranode_visibility=False,
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True, enable_private_endpoint=not public, master_ipv4_cidr_block=args.master_cidr),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                    cidr_block=c, display_name=f"api-{i}") for i, c in enumerate(args.api_public_cidrs)],
                gcp_public_cidrs_access_enabled=False),
            addons_config=gcp.container.ClusterAddonsConfigArgs(
                gce_persistent_disk_csi_driver_config=gcp.container.ClusterAddonsConfigGcePersistentDiskCsiDriverConfigArgs(
                    enabled=True),
                http_load_balancing=gcp.container.ClusterAddonsConfigHttpLoadBalancingArgs(disabled=False),
                horizontal_pod_autoscaling=gcp.container.ClusterAddonsConfigHorizontalPodAutoscalingArgs(disabled=False)),
            # GKE's managed cluster autoscaler scales every pool with `autoscaling`; "optimize-utilization"
            # removes idle GPU nodes sooner than the balanced profile.
            cluster_autoscaling=gcp.container.ClusterClusterAutoscalingArgs(autoscaling_profile="OPTIMIZE_UTILIZATION"),
            # The default pool is created and deleted at once; it still runs as the least-privilege account.
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=node_sa.email, oauth_scopes=NODE_SCOPES, shielded_instance_config=shielded,
                workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA")),
            resource_labels=args.labels,
            deletion_protection=args.deletion_protection,
            opts=pulumi.ResourceOptions(parent=self, depends_on=role_grants,
                                        # `initial_node_count` and `node_config` describe the deleted default pool.
                                        ignore_changes=["nodeConfig", "initialNodeCount"]),
        )
        system = gcp.container.NodePool(
            child(name, "system"),
            name=SYSTEM_POOL,
            project=args.project,
            location=args.region,
            cluster=cluster.name,
            node_locations=list(args.node_zones),
            node_count=args.system_nodes_per_zone,
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(max_surge=1, max_unavailable=0),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=args.system_machine_type,
                image_type="COS_CONTAINERD",
                disk_type="pd-balanced",
                disk_size_gb=args.system_disk_size_gib,
                service_account=node_sa.email,
                oauth_scopes=NODE_SCOPES,
                labels={POOL_LABEL: SYSTEM_POOL},
                resource_labels=args.labels,
                metadata={"disable-legacy-endpoints": "true"},
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True),
                # Pods see only the GKE metadata server: their Workload Identity, never the node's account.
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
            ),
            opts=o,
        )
        kubeconfig = pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth.cluster_ca_certificate).apply(
            lambda a: render_kubeconfig(a[0], a[1], a[2]))
        if args.webhook_ports:
            # Only the control plane's /28, only to this cluster's nodes (their service account), only these ports.
            gcp.compute.Firewall(
                child(name, "webhooks"), name=dns_label(f"{args.cluster_name}-webhooks", 63).rstrip("-"),
                project=args.project, network=args.network_id, direction="INGRESS",
                description="GKE control plane -> admission webhooks served by pods (LeaderWorkerSet: 9443)",
                source_ranges=[args.master_cidr], target_service_accounts=[node_sa.email],
                allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(p) for p in sorted(set(args.webhook_ports))])],
                opts=o)
        self.provider = k8s.Provider(child(name, "k8s"), kubeconfig=kubeconfig, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=[system]))
        self.cluster_name = cluster.name
        self.cluster_id = cluster.id
        self.endpoint = cluster.endpoint
        self.node_service_account = node_sa.email
        self.system_pool = system
        #: Egress to the API server: its ClusterIP (before the datapath translates it) and the control
        #: plane's private endpoint in the master range.
        self.api_server_egress = Allow((cidr_peer(args.master_cidr), cidr_peer(args.services_cidr)), tcp(443),
                                       "the Kubernetes API server")
        #: The control plane calling admission webhooks served by pods (GKE's firewall opens 443 and 10250
        #: from the master range to the nodes).
        self.webhook_ingress = Allow((cidr_peer(args.master_cidr),), tcp(KUBELET_PORT), "API server -> admission webhook")
        #: Prometheus scraping the kubelets (cAdvisor) and node-exporter (hostNetwork) on the nodes.
        self.node_metrics_egress = Allow((cidr_peer(args.nodes_cidr),), tcp(KUBELET_PORT, NODE_EXPORTER_PORT),
                                         "kubelet and node-exporter metrics on the nodes")
        self.register_outputs({"cluster_name": self.cluster_name, "endpoint": self.endpoint,
                               "node_service_account": self.node_service_account})
