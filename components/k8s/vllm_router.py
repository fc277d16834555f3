"""The vLLM router (vllm-project/router) in front of one multi-replica model server: sticky, prefix-aware routing.

The gateway sends a model's traffic to this router instead of the model server's Service; the router keeps each
conversation on one replica (consistent_hash on the x-session-id header the gateway forwards, or cache_aware on
the prompt's prefix), so vLLM's prefix cache hits. It finds the replicas by watching their pods (Kubernetes
discovery, least privilege: get/list/watch pods in one namespace), so it follows autoscaling.

One call per model server; it returns the URL the gateway should use::

    router = VllmRouter(f"{name}-router", VllmRouterArgs(namespace=ns, image=cat.image("vllm-router"), ...,
                        model_selector=server.selector, model_port=8000, client_namespaces=(gateway_ns,),
                        api_server_egress=platform.allows["api_server_egress"]), opts=...)
    router.url             # http://<name>-router.<ns>.svc.cluster.local:8000/v1, for the gateway's api_base
    router.client_egress   # the Allow the gateway's egress policy needs
    router.upstream_ingress  # the Allow the model server's ingress policy needs (router pods -> replicas)

No cloud: the API server's address comes in as an Allow built by the cloud layer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.common import CONTAINER_SECURITY, POD_SECURITY, pdb_spec
from strait.naming import child
from strait.render.netpol import Allow, namespace_peer, pods_peer, prometheus_peer, tcp, workload_policy
from strait.render.router import (
    DEFAULT_METRICS_PORT,
    DEFAULT_PORT,
    PD_SERVER_KEY_ENV,
    Discovery,
    PdSpec,
    RouterPolicy,
    RouterSpec,
    render_router_args,
    spec_checksum,
)
from strait.tags import k8s_labels, selector_labels

MONITORING_API = "monitoring.coreos.com/v1"
#: kube-prometheus-stack selects monitors with this label (components/k8s/observability/monitoring.py).
DEFAULT_MONITOR_LABELS = {"release": "kube-prometheus-stack"}


@dataclass(frozen=True, kw_only=True)
class VllmRouterArgs:
    namespace: str
    """Where the router runs and whose pods it watches: the model server's namespace."""
    image: str
    """Pinned vllm/vllm-router image (strait/catalog/data/images.yaml); its version must match the flags rendered."""
    version: str
    model_selector: dict[str, str] | None = None
    """The model server's pod selector (its Deployment's matchLabels). Required unless ``pd`` names the servers."""
    model_port: int = 8000
    """The replicas' HTTP port."""
    policy: RouterPolicy = RouterPolicy.CONSISTENT_HASH
    """Default: consistent_hash on x-session-id (deterministic across router replicas; cache_aware keeps one
    prefix tree per router replica, so with several router replicas it is sticky per router replica only)."""
    pd: PdSpec | None = None
    """Prefill/decode disaggregation (phase 3, opt-in). Default: off; then ``model_selector`` finds the replicas."""
    pd_server_key_secret: str | None = None
    """P/D only: the Secret holding the prefill and decode servers' API key (key ``VLLM_API_KEY``, as VllmService
    writes it). In P/D mode the router sends its own key ($OPENAI_API_KEY), not the caller's, so servers started
    with ``--api-key`` need it. Default: none (servers without a key)."""
    replicas: int = 2
    """Default: two, spread over nodes and zones, so a drain or a node loss does not cut the model off."""
    client_namespaces: tuple[str, ...] = ()
    """Namespaces allowed to call the router (the gateway's). Default: none but metrics scrapers."""
    api_server_egress: Allow | None = None
    """Egress to the Kubernetes API server (the platform's ``allows["api_server_egress"]``): discovery watches
    pods through it. Required with discovery."""
    port: int = DEFAULT_PORT
    metrics_port: int = DEFAULT_METRICS_PORT
    cpu_request: str = "500m"
    memory_request: str = "512Mi"
    memory_limit: str = "1Gi"
    """The router is a Rust proxy: a few hundred MiB; cache_aware's prefix tree grows with ``max_tree_size``."""
    monitor_labels: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_MONITOR_LABELS))
    """Labels the Prometheus Operator selects ServiceMonitors by. Default: kube-prometheus-stack's release label."""
    monitor: bool = True
    """Create the ServiceMonitor (needs the Prometheus Operator's CRDs). Default: yes."""


def router_spec(args: VllmRouterArgs) -> RouterSpec:
    """The router's typed spec from the component's args (discovery in the model server's namespace)."""
    discovery = Discovery(namespace=args.namespace, selector=dict(args.model_selector), port=args.model_port) \
        if args.pd is None and args.model_selector else None
    return RouterSpec(policy=args.policy, discovery=discovery, pd=args.pd, port=args.port,
                      metrics_port=args.metrics_port)


def _problems(args: VllmRouterArgs) -> list[str]:
    out = []
    if args.pd is None and not args.model_selector:
        out.append("model_selector is required (the model server's pod labels) unless pd names the servers")
    if args.pd is not None and args.model_selector:
        out.append("give model_selector or pd, not both")
    discovers = args.pd is None or bool(args.pd.prefill_selector or args.pd.decode_selector)
    if discovers and args.api_server_egress is None:
        out.append("api_server_egress is required: discovery watches pods through the Kubernetes API server "
                   "(pass the platform's allows['api_server_egress'])")
    if args.pd is not None and args.pd.discovery_namespace not in (None, args.namespace):
        out.append(f"pd.discovery_namespace {args.pd.discovery_namespace!r} must be the router's namespace "
                   f"{args.namespace!r} (its Role is namespaced)")
    if args.pd_server_key_secret is not None and args.pd is None:
        out.append("pd_server_key_secret applies to P/D mode only (otherwise the router passes the caller's key)")
    if args.replicas < 1:
        out.append(f"replicas {args.replicas} must be at least 1")
    try:
        render_router_args(router_spec(args))
    except ValueError as e:
        out.append(str(e))
    return out


class VllmRouter(pulumi.ComponentResource):
    url: str
    """In-cluster OpenAI-compatible base URL, ending in /v1: the gateway's api_base for this model."""
    service_name: str
    selector: dict[str, str]
    client_egress: Allow
    upstream_ingress: Allow

    def __init__(self, name: str, args: VllmRouterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:serving:VllmRouter", name, None, opts)
        problems = _problems(args)
        if problems:
            raise ValueError(f"VllmRouter {name}: " + "; ".join(problems))
        o = pulumi.ResourceOptions(parent=self)
        spec = router_spec(args)
        argv = render_router_args(spec)
        discovers = spec.discovery is not None or bool(spec.pd and (spec.pd.prefill_selector or spec.pd.decode_selector))
        labels = k8s_labels(name="vllm-router", instance=name, component="router", version=args.version)
        sel = selector_labels(labels)
        meta = lambda n: {"name": n, "namespace": args.namespace, "labels": labels}  # noqa: E731

        k8s.core.v1.ServiceAccount(child(name, "sa"), metadata=meta(name),
                                   automount_service_account_token=False, opts=o)
        if discovers:
            # Least privilege: read pods in this one namespace (the router builds http://<pod IP>:<port> from
            # them and watches for changes). No ClusterRole: the router is always given its namespace.
            role = k8s.rbac.v1.Role(child(name, "role"), metadata=meta(name), rules=[
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}], opts=o)
            k8s.rbac.v1.RoleBinding(child(name, "rolebinding"), metadata=meta(name), role_ref={
                "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                subjects=[{"kind": "ServiceAccount", "name": name, "namespace": args.namespace}],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role]))

        probe = lambda path, period, failures: {  # noqa: E731
            "httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "failureThreshold": failures,
            "timeoutSeconds": 3}
        annotations = {"checksum/config": spec_checksum(spec, args.image)}
        # Checkov reads skips from the Deployment's own annotations.
        deploy_meta = {**meta(name), **({"annotations": {"checkov.io/skip1": (
            "CKV_K8S_38=the router watches its replicas' pods through the API server (in-cluster config), with a "
            "Role limited to get/list/watch pods in its namespace")}} if discovers else {})}
        k8s.apps.v1.Deployment(child(name, "deploy"), metadata=deploy_meta, spec={
            "replicas": args.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": sel},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "serviceAccountName": name,
                    # The token is mounted only when discovery needs it (in-cluster config); else nothing reads it.
                    "automountServiceAccountToken": discovers,
                    "securityContext": POD_SECURITY,
                    "terminationGracePeriodSeconds": 30,
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {"labelSelector": {"matchLabels": sel},
                                            "topologyKey": "kubernetes.io/hostname"}}]}},
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                                   "whenUnsatisfiable": "ScheduleAnyway",
                                                   "labelSelector": {"matchLabels": sel}}],
                    "containers": [{
                        "name": "router",
                        "image": args.image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["vllm-router"],
                        "args": argv,
                        "env": [{"name": PD_SERVER_KEY_ENV, "valueFrom": {"secretKeyRef": {
                            "name": args.pd_server_key_secret, "key": "VLLM_API_KEY"}}}]
                        if args.pd_server_key_secret else [],
                        "ports": [{"name": "http", "containerPort": args.port, "protocol": "TCP"},
                                  {"name": "metrics", "containerPort": args.metrics_port, "protocol": "TCP"}],
                        "resources": {"requests": {"cpu": args.cpu_request, "memory": args.memory_request},
                                      "limits": {"memory": args.memory_limit}},
                        # /liveness: the process answers. /readiness: 503 until a replica is healthy, so the
                        # gateway's Service has no endpoint (and fails over) while the model has none.
                        "startupProbe": probe("/liveness", 2, 30),
                        "livenessProbe": probe("/liveness", 10, 3),
                        "readinessProbe": probe("/readiness", 5, 2),
                        "securityContext": CONTAINER_SECURITY,
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
                },
            },
        }, opts=o)
        k8s.core.v1.Service(child(name, "svc"), metadata=meta(name), spec={
            "type": "ClusterIP", "selector": sel,
            "ports": [{"name": "http", "port": args.port, "targetPort": "http", "protocol": "TCP"},
                      {"name": "metrics", "port": args.metrics_port, "targetPort": "metrics", "protocol": "TCP"}],
        }, opts=o)
        k8s.policy.v1.PodDisruptionBudget(child(name, "pdb"), metadata=meta(name),
                                          spec=pdb_spec(args.replicas, sel), opts=o)

        upstream_ports = tcp(args.model_port)
        if spec.pd is not None and spec.pd.discovery_port:
            upstream_ports = tcp(spec.pd.discovery_port)
        if spec.pd is not None and not discovers:
            # Static P/D URLs name Services or hosts the router reaches; their pods are the blueprint's to allow.
            upstream = Allow((namespace_peer(args.namespace),), upstream_ports, "prefill and decode servers")
        else:
            upstream_selector = dict(args.model_selector or {})
            if spec.pd is not None:  # both pools share the labels common to their selectors
                common = set(spec.pd.prefill_selector.items()) & set(spec.pd.decode_selector.items())
                upstream_selector = dict(sorted(common))
            upstream = Allow((pods_peer(args.namespace, upstream_selector),), upstream_ports, "model server replicas")
        ingress = [Allow(tuple(namespace_peer(ns) for ns in sorted(set(args.client_namespaces))), tcp(args.port),
                         "clients (the gateway)")] if args.client_namespaces else []
        ingress.append(Allow((prometheus_peer(),), tcp(args.metrics_port), "Prometheus scrapes /metrics"))
        egress = [upstream, *([args.api_server_egress] if discovers and args.api_server_egress else [])]
        k8s.networking.v1.NetworkPolicy(child(name, "netpol"), metadata=meta(name),
                                        spec=workload_policy(sel, ingress=ingress, egress=egress), opts=o)
        if args.monitor:
            k8s.apiextensions.CustomResource(child(name, "monitor"), api_version=MONITORING_API, kind="ServiceMonitor",
                                             metadata={**meta(name), "labels": {**labels, **args.monitor_labels}},
                                             spec={"selector": {"matchLabels": sel},
                                                   "namespaceSelector": {"matchNames": [args.namespace]},
                                                   "endpoints": [{"port": "metrics", "path": "/metrics",
                                                                  "interval": "15s", "scheme": "http"}]}, opts=o)

        self.service_name = name
        self.selector = sel
        self.url = f"http://{name}.{args.namespace}.svc.cluster.local:{args.port}/v1"
        #: What the gateway's egress policy must allow to reach the router.
        self.client_egress = Allow((pods_peer(args.namespace, sel),), tcp(args.port), f"router {name}")
        #: What the model server's ingress policy must allow: the router's pods on the replicas' port.
        self.upstream_ingress = Allow((pods_peer(args.namespace, sel),), upstream_ports, f"router {name}")
        self.register_outputs({"url": self.url})
