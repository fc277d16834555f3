"""An EKS cluster: control plane, system node group, core add-ons, Pod Identity, and its Kubernetes provider."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws.iam import assume_role_policy, managed, pod_identity_trust
from strait.gpu_labels import POOL_LABEL, SYSTEM_POOL
from strait.naming import child, iam_role_name
from strait.render.netpol import Allow, cidr_peer, tcp


@dataclass(frozen=True, kw_only=True)
class EksClusterArgs:
    cluster_name: str
    """Physical EKS cluster name."""
    kubernetes_version: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    """Nodes and the control plane's ENIs live here."""
    tags: dict[str, str]
    system_instance_type: str = "m7i.large"
    system_nodes: int = 2
    """Desired and minimum size of the system node group; max is one more."""
    api_public_cidrs: list[str] = field(default_factory=list)
    """CIDRs that may reach the public API endpoint. Default: none; the endpoint is private only."""
    vpc_cidr: str = "10.40.0.0/16"
    """The VPC's CIDR: nodes and the control plane's ENIs live in it (NetworkPolicy peers for the API server
    and kubelets). Default: the network section's default."""


#: IMDSv2 only, hop limit 1: pods get AWS credentials from Pod Identity, never from the node's role.
IMDS_V2_HOP_1 = {"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1}
#: The vpc-cni add-on's network-policy agent enforces NetworkPolicies (off by default; without it every
#: policy Strait renders is ignored). Key from the add-on's configuration schema (amazon-vpc-cni-k8s
#: charts/aws-vpc-cni/values.yaml, `enableNetworkPolicy`; `aws eks describe-addon-configuration`).
VPC_CNI_CONFIGURATION = {"enableNetworkPolicy": "true"}
KUBELET_PORT = 10250
NODE_EXPORTER_PORT = 9100


def service_cidr_for(vpc_cidr: str) -> str:
    """The Service CIDR EKS picks when none is given: 172.20.0.0/16 for a VPC in 10.0.0.0/8, else
    10.100.0.0/16 (EKS API reference, KubernetesNetworkConfigRequest.serviceIpv4Cidr). Stated explicitly so
    NetworkPolicies can name the API server's ClusterIP."""
    import ipaddress

    return "172.20.0.0/16" if ipaddress.ip_network(vpc_cidr).subnet_of(ipaddress.ip_network("10.0.0.0/8")) \
        else "10.100.0.0/16"


def render_kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that gets short-lived tokens from `aws eks get-token` (no static credentials)."""
    import json

    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
        }}}],
    }, sort_keys=True)


class EksCluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    provider: k8s.Provider
    """Kubernetes provider for in-cluster components."""

    def __init__(self, name: str, args: EksClusterArgs, region: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:aws:EksCluster", name, None, opts)
        o = pulumi.ResourceOptions(parent=self)
        tags = args.tags

        cluster_role = aws.iam.Role(child(name, "control-plane"), name=iam_role_name(args.cluster_name, "control-plane"),
                                    assume_role_policy=assume_role_policy("eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")),
                                    tags=tags, opts=o)
        cp_attach = aws.iam.RolePolicyAttachment(child(name, "control-plane"), role=cluster_role.name,
                                                 policy_arn=managed("AmazonEKSClusterPolicy"), opts=o)
        secrets_key = aws.kms.Key(child(name, "secrets"), description=f"Envelope encryption of {args.cluster_name} Secrets",
                                  enable_key_rotation=True, deletion_window_in_days=30, tags=tags, opts=o)
        cluster = aws.eks.Cluster(
            child(name, "eks"),
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            vpc_config={
                "subnet_ids": list(args.private_subnet_ids),
                "endpoint_private_access": True,
                "endpoint_public_access": bool(args.api_public_cidrs),
                **({"public_access_cidrs": list(args.api_public_cidrs)} if args.api_public_cidrs else {}),
            },
            kubernetes_network_config={"service_ipv4_cidr": service_cidr_for(args.vpc_cidr)},
            encryption_config={"resources": ["secrets"], "provider": {"key_arn": secrets_key.arn}},
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cp_attach]),
        )

        node_role = aws.iam.Role(child(name, "node"), name=iam_role_name(args.cluster_name, "node"),
                                 assume_role_policy=assume_role_policy("ec2.amazonaws.com"), tags=tags, opts=o)
        node_attachments = [
            aws.iam.RolePolicyAttachment(child(name, f"node-{p}"), role=node_role.name, policy_arn=managed(p), opts=o)
            for p in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly",
                      "AmazonSSMManagedInstanceCore")
        ]
        # The gateway, Langfuse and Prometheus run here: same metadata hardening as the GPU pools.
        system_lt = aws.ec2.LaunchTemplate(
            child(name, "system-lt"),
            block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {
                "volume_size": 50, "volume_type": "gp3", "encrypted": "true", "delete_on_termination": "true"}}],
            metadata_options=IMDS_V2_HOP_1,
            tag_specifications=[{"resource_type": "instance", "tags": tags}, {"resource_type": "volume", "tags": tags}],
            tags=tags, opts=o)
        system = aws.eks.NodeGroup(
            child(name, "system"),
            cluster_name=cluster.name,
            node_group_name=child(args.cluster_name, "system")[:63],
            node_role_arn=node_role.arn,
            subnet_ids=list(args.private_subnet_ids),
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            instance_types=[args.system_instance_type],
            # The disk size lives in the launch template (EKS rejects disk_size with one).
            launch_template={"id": system_lt.id, "version": system_lt.latest_version.apply(str)},
            scaling_config={"min_size": args.system_nodes, "desired_size": args.system_nodes, "max_size": args.system_nodes + 1},
            update_config={"max_unavailable": 1},
            labels={POOL_LABEL: SYSTEM_POOL},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=node_attachments),
        )
        addon_opts = pulumi.ResourceOptions(parent=self, depends_on=[system])
        for addon in ("vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"):
            aws.eks.Addon(child(name, addon), cluster_name=cluster.name, addon_name=addon,
                          resolve_conflicts_on_update="OVERWRITE", tags=tags, opts=addon_opts,
                          **({"configuration_values": json.dumps(VPC_CNI_CONFIGURATION, sort_keys=True)}
                             if addon == "vpc-cni" else {}))
        # EBS CSI driver: the weight-seeding Job stages checkpoints on a gp3 ephemeral volume.
        ebs_role = aws.iam.Role(child(name, "ebs-csi"), name=iam_role_name(args.cluster_name, "ebs-csi"),
                                assume_role_policy=pod_identity_trust(), tags=tags, opts=o)
        aws.iam.RolePolicyAttachment(child(name, "ebs-csi"), role=ebs_role.name,
                                     policy_arn=managed("service-role/AmazonEBSCSIDriverPolicy"), opts=o)
        aws.eks.Addon(child(name, "aws-ebs-csi-driver"), cluster_name=cluster.name, addon_name="aws-ebs-csi-driver",
                      resolve_conflicts_on_update="OVERWRITE",
                      pod_identity_associations=[{"role_arn": ebs_role.arn, "service_account": "ebs-csi-controller-sa"}],
                      tags=tags, opts=addon_opts)
        # metrics-server, an EKS community add-on (https://docs.aws.amazon.com/eks/latest/userguide/community-addons.html):
        # the Metrics API (metrics.k8s.io) that resource-metric HorizontalPodAutoscalers read, the gateway's CPU HPA
        # among them. EKS does not install it; without it the HPA reports FailedGetResourceMetric and never scales.
        # It scrapes each kubelet's /metrics/resource (node port 10250) from kube-system, where Strait's
        # NetworkPolicies select nothing, and the API server reaches it through the aggregation layer.
        aws.eks.Addon(child(name, "metrics-server"), cluster_name=cluster.name, addon_name="metrics-server",
                      resolve_conflicts_on_update="OVERWRITE", tags=tags, opts=addon_opts)

        kubeconfig = pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(
            lambda a: render_kubeconfig(a[0], a[1], a[2], region))
        self.provider = k8s.Provider(child(name, "k8s"), kubeconfig=kubeconfig, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=[system]))
        k8s.storage.v1.StorageClass(child(name, "gp3"), metadata={"name": "gp3"}, provisioner="ebs.csi.aws.com",
                                    parameters={"type": "gp3", "encrypted": "true"}, volume_binding_mode="WaitForFirstConsumer",
                                    allow_volume_expansion=True, reclaim_policy="Delete",
                                    opts=pulumi.ResourceOptions(parent=self, provider=self.provider))
        self.cluster_name = cluster.name
        self.node_role_arn = node_role.arn
        self.endpoint = cluster.endpoint
        #: The security group EKS attaches to the control plane and every managed node group's nodes: a managed
        #: database admits its port from this group alone.
        self.security_group_id = cluster.vpc_config.cluster_security_group_id
        service_cidr = service_cidr_for(args.vpc_cidr)
        #: Egress to the API server: its ClusterIP (kubernetes.default, before kube-proxy's DNAT) and the
        #: control plane's ENIs in the VPC.
        self.api_server_egress = Allow((cidr_peer(args.vpc_cidr), cidr_peer(service_cidr)), tcp(443),
                                       "the Kubernetes API server")
        #: The API server calling admission webhooks served by pods (from the control plane's ENIs).
        self.webhook_ingress = Allow((cidr_peer(args.vpc_cidr),), tcp(10250), "API server -> admission webhook")
        #: Prometheus scraping the kubelets (cAdvisor) and node-exporter (hostNetwork) on the nodes.
        self.node_metrics_egress = Allow((cidr_peer(args.vpc_cidr),), tcp(KUBELET_PORT, NODE_EXPORTER_PORT),
                                         "kubelet and node-exporter metrics on the nodes")
        self.register_outputs({"cluster_name": self.cluster_name, "endpoint": cluster.endpoint,
                               "node_role_arn": self.node_role_arn})
