"""The LeaderWorkerSet controller (kubernetes-sigs/lws), from its pinned chart, in its own hardened namespace.

``Lws`` installs ``oci://registry.k8s.io/lws/charts/lws`` (strait/catalog/data/charts.yaml) into a namespace that
enforces the restricted Pod Security profile, with default-deny NetworkPolicies and the two flows the
controller needs: the control plane calling its admission webhooks (LeaderWorkerSet defaulting/validation and
the pod webhook that injects ``LWS_*`` env and the exclusive-topology affinities), and the controller reaching
the API server. Pass ``Lws.helm`` to ``components.k8s.vllm_multinode.VllmMultiNodeArgs.lws`` so a
LeaderWorkerSet waits for the CRD and the webhook.

The webhook listens on 9443, fixed by the chart (templates/webhook/service.yaml ``targetPort: 9443``). On
EKS the cluster security group lets the control plane reach pods on it; a GKE private cluster's firewall lets
the control plane reach nodes on 443 and 10250 only, so the GKE platform must open 9443 from the control plane
(docs/multinode.md). The webhook's ``failurePolicy`` is Fail: without that rule no LWS pod is admitted.
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.helm import NONROOT_UID, container_security, helm_release, pod_security, release_record, resources
from components.k8s.namespace import namespace
from strait.catalog.charts import ChartPin
from strait.naming import child
from strait.render.netpol import Allow, tcp, workload_policy
from strait.tags import k8s_labels

RELEASE = "lws"
NAMESPACE = "lws-system"
IMAGE = "registry.k8s.io/lws/lws"
#: The controller's webhook server port (the chart's service.port; its webhook Service targets 9443).
WEBHOOK_PORT = 9443


def controller_labels(release: str = RELEASE) -> dict[str, str]:
    """Pod labels the chart puts on the controller (templates/manager/deployment.yaml, lws.selectorLabels)."""
    return {"app.kubernetes.io/instance": release, "app.kubernetes.io/name": "lws", "control-plane": "controller-manager"}


@dataclass(frozen=True, kw_only=True)
class LwsArgs:
    chart: ChartPin
    """The pinned chart (``load_charts()["lws"]``)."""
    api_server_egress: Allow
    """How pods reach the Kubernetes API (``Platform.allows["api_server_egress"]``)."""
    webhook_ingress: Allow
    """Who the control plane is, as seen by pods (``Platform.allows["webhook_ingress"]``); its peers, on
    WEBHOOK_PORT, admit the API server to the webhooks."""
    namespace: str = NAMESPACE
    """Default: lws-system (upstream's)."""


def image_tag(pin: ChartPin) -> str:
    """The controller image the chart's release pins (hack/push-chart.sh sets image.manager.tag to the tag)."""
    return "v" + pin.version.removeprefix("v")


def chart_values(args: LwsArgs) -> dict:
    """Hardened values: the released image tag (not the chart source's `main` with pullPolicy Always), the image's
    distroless non-root UID, RuntimeDefault seccomp, no capabilities, read-only root, requests with a memory
    limit, the internal certificate manager (no cert-manager dependency), metrics off."""
    return {
        "image": {"manager": {"repository": IMAGE, "tag": image_tag(args.chart), "pullPolicy": "IfNotPresent"}},
        "podSecurityContext": pod_security(NONROOT_UID),  # the image's USER 65532:65532 (distroless nonroot)
        "securityContext": container_security(),
        "resources": resources("100m", "256Mi", "1Gi"),
        "enableCertManager": False,
        "enablePrometheus": False,
        "service": {"type": "ClusterIP", "port": WEBHOOK_PORT},
    }


def lws_policies(args: LwsArgs) -> dict[str, dict]:
    """The controller's NetworkPolicy beyond the namespace's default deny and DNS: name -> spec."""
    control_plane = Allow(args.webhook_ingress.peers, tcp(WEBHOOK_PORT), "the control plane calls the webhooks")
    return {"lws-controller": workload_policy(controller_labels(), ingress=[control_plane],
                                              egress=[args.api_server_egress])}


class Lws(pulumi.ComponentResource):
    """The LWS controller's namespace, policies and pinned Helm release."""

    namespace: str
    release: dict

    def __init__(self, name: str, args: LwsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:k8s:Lws", name, None, opts)
        if args.chart.chart.rsplit("/", 1)[-1] != "lws":
            raise ValueError(f"chart {args.chart.chart!r} is not LeaderWorkerSet's: pin kubernetes-sigs' `lws` chart "
                             "in strait/catalog/data/charts.yaml")
        labels = k8s_labels(name=RELEASE, instance=name, component="controller")
        o = pulumi.ResourceOptions(parent=self)
        ns = namespace(args.namespace, child(name, "ns"), o, enforce="restricted", warn="restricted")
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        netpols = [k8s.networking.v1.NetworkPolicy(child(name, pname), metadata={
            "name": pname, "namespace": args.namespace, "labels": labels}, spec=spec, opts=in_ns)
            for pname, spec in sorted(lws_policies(args).items())]
        self.helm = helm_release(child(name, "release"), RELEASE, args.namespace, args.chart, chart_values(args),
                                 pulumi.ResourceOptions(parent=self, depends_on=[ns, *netpols]), timeout_seconds=600)
        self.namespace = args.namespace
        self.release = release_record(args.chart)
        self.register_outputs({"namespace": args.namespace, "release": self.release})
