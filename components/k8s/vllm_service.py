"""A vLLM model server: ServiceAccount, API-key Secret, Deployment, Service and PodDisruptionBudget."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.common import CONTAINER_SECURITY, POD_SECURITY, pdb_spec
from strait.gpu_labels import GPU_LABEL, GPU_RESOURCE, GPU_TOLERATION, POOL_LABEL
from strait.naming import child
from strait.render.netpol import Allow, namespace_peer, pods_peer, prometheus_peer, tcp, workload_policy
from strait.render.vllm import API_KEY_ENV, VllmSpec, render_vllm_args, spec_checksum
from strait.tags import k8s_labels, selector_labels

PROBE_PERIOD_SECONDS = 10
PRE_STOP_SECONDS = 10


@dataclass(frozen=True, kw_only=True)
class VllmServiceArgs:
    namespace: str
    spec: VllmSpec
    image: str
    """Pinned vllm/vllm-openai image; its version must match the flags we render."""
    engine_version: str
    api_key: pulumi.Input[str]
    """Secret. Guards /v1; /health and /metrics stay open for probes and scraping."""
    pool: str
    gpu_model: str
    gpus_per_replica: int
    cpu_request: float
    memory_request_gib: int
    startup_timeout_seconds: int
    """Budget for the first /health to answer: weights streamed, CUDA graphs captured."""
    replicas: int = 1
    """Default: one replica, no HA; the gateway falls back to commercial while it restarts."""
    service_account_name: str | None = None
    """Default: the service name. Pod Identity maps it to the weight-cache reader role."""
    weights_ready_uri: str | None = None
    """s3:// URI of the cache's completion marker; an init container waits for it. Default: no wait."""
    wait_image: str | None = None
    aws_region: str | None = None
    max_surge: int = 0
    """0 when the pool has no spare GPU node, so a rollout replaces pods one at a time."""
    client_namespaces: tuple[str, ...] = ()
    """Namespaces allowed to call the server (the gateway's). Default: none but metrics scrapers."""
    egress: tuple[Allow, ...] = ()
    """Where the server may connect besides DNS: the weight cache's object store and credentials endpoint
    (the cloud's weight source says which). Default: nowhere."""


def shm_size_gib(tp: int) -> int:
    """NCCL uses /dev/shm between tensor-parallel ranks; 1 GiB suffices without TP."""
    return 1 if tp == 1 else 4 * tp


class VllmService(pulumi.ComponentResource):
    service_name: str
    url: str
    """In-cluster OpenAI-compatible base URL, ending in /v1."""

    def __init__(self, name: str, args: VllmServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:serving:VllmService", name, None, opts)
        if args.gpus_per_replica != args.spec.tensor_parallel_size:
            raise ValueError("gpus_per_replica must equal the spec's tensor_parallel_size")
        if args.weights_ready_uri and not args.wait_image:
            raise ValueError("weights_ready_uri needs wait_image")
        o = pulumi.ResourceOptions(parent=self)
        svc_name = name  # the component's name is the Service's DNS name
        labels = k8s_labels(name="vllm", instance=svc_name, component="model-server", version=args.engine_version)
        labels[POOL_LABEL] = args.pool
        sel = selector_labels(labels)
        sa_name = args.service_account_name or svc_name
        meta = lambda n: {"name": n, "namespace": args.namespace, "labels": labels}  # noqa: E731

        k8s.core.v1.ServiceAccount(child(name, "sa"), metadata=meta(sa_name), automount_service_account_token=False, opts=o)
        key_secret = f"{svc_name}-api-key"
        k8s.core.v1.Secret(child(name, "api-key"), metadata=meta(key_secret), type="Opaque",
                           string_data={API_KEY_ENV: pulumi.Output.secret(args.api_key)}, opts=o)

        spec = args.spec
        vllm_args = render_vllm_args(spec)
        env = [
            {"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": key_secret, "key": API_KEY_ENV}}},
            # Weights come from the cache only: a hub download at start is a bug, so make it impossible.
            {"name": "HF_HUB_OFFLINE", "value": "1"},
            # Non-root with a read-only root: caches go to the home emptyDir. USER spares torch's
            # getpass.getuser() a passwd lookup for a UID the image does not know.
            {"name": "USER", "value": "vllm"},
            {"name": "HOME", "value": "/home/vllm"},
            {"name": "TRITON_CACHE_DIR", "value": "/home/vllm/.cache/triton"},
            {"name": "TORCHINDUCTOR_CACHE_DIR", "value": "/home/vllm/.cache/torchinductor"},
            {"name": "XDG_CACHE_HOME", "value": "/home/vllm/.cache"},
            {"name": "VLLM_CACHE_ROOT", "value": "/home/vllm/.cache/vllm"},
            {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
            {"name": "RUNAI_STREAMER_CONCURRENCY", "value": "16"},
        ]
        if args.aws_region:
            env += [{"name": "AWS_REGION", "value": args.aws_region}, {"name": "AWS_DEFAULT_REGION", "value": args.aws_region}]
        probe = lambda period, failures, timeout: {  # noqa: E731
            "httpGet": {"path": "/health", "port": "http"}, "periodSeconds": period,
            "failureThreshold": failures, "timeoutSeconds": timeout}
        startup_failures = math.ceil(args.startup_timeout_seconds / PROBE_PERIOD_SECONDS)
        container = {
            "name": "vllm",
            "image": args.image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["vllm", "serve"],
            "args": vllm_args,
            "env": env,
            "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
            "resources": {
                "requests": {"cpu": f"{args.cpu_request:g}", "memory": f"{args.memory_request_gib}Gi",
                             GPU_RESOURCE: str(args.gpus_per_replica)},
                "limits": {"memory": f"{args.memory_request_gib}Gi", GPU_RESOURCE: str(args.gpus_per_replica)},
            },
            "startupProbe": probe(PROBE_PERIOD_SECONDS, startup_failures, 5),
            "readinessProbe": probe(PROBE_PERIOD_SECONDS, 3, 5),
            "livenessProbe": probe(15, 4, 10),
            # Stop sending new work before SIGTERM; vLLM then drains for --shutdown-timeout.
            "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
            "securityContext": CONTAINER_SECURITY,
            "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}, {"name": "home", "mountPath": "/home/vllm"},
                             {"name": "tmp", "mountPath": "/tmp"}],
        }
        init = []
        if args.weights_ready_uri:
            init.append({
                "name": "wait-for-weights",
                "image": args.wait_image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/sh", "-c",
                            f'until aws s3 ls "{args.weights_ready_uri}" >/dev/null 2>&1; do '
                            'echo "waiting for the weight cache to be seeded"; sleep 20; done'],
                "env": [{"name": "HOME", "value": "/tmp"}] + (
                    [{"name": "AWS_REGION", "value": args.aws_region}] if args.aws_region else []),
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                "securityContext": CONTAINER_SECURITY,
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            })
        pod = {
            "serviceAccountName": sa_name,
            # Pod Identity mounts its own projected token; the Kubernetes API token is not needed.
            "automountServiceAccountToken": False,
            "securityContext": POD_SECURITY,
            "terminationGracePeriodSeconds": spec.shutdown_timeout_seconds + PRE_STOP_SECONDS + 20,
            "nodeSelector": {POOL_LABEL: args.pool, GPU_LABEL: args.gpu_model},
            "tolerations": [GPU_TOLERATION],
            # One replica per node: a node loss (spot reclaim) takes down one replica, not all.
            "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": sel}, "topologyKey": "kubernetes.io/hostname"}]}},
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                           "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": sel}}],
            "initContainers": init,
            "containers": [container],
            "volumes": [
                {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{shm_size_gib(spec.tensor_parallel_size)}Gi"}},
                {"name": "home", "emptyDir": {"sizeLimit": "20Gi"}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "10Gi"}},
            ],
        }
        checksum = spec_checksum(spec, args.image, args.weights_ready_uri)
        k8s.apps.v1.Deployment(child(name, "deploy"), metadata=meta(svc_name), spec={
            "replicas": args.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": sel},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": args.max_surge, "maxUnavailable": 0 if args.max_surge else 1}},
            # A rollout waits for model load; do not mark it failed before the startup budget runs out.
            "progressDeadlineSeconds": args.startup_timeout_seconds + 600,
            "template": {"metadata": {"labels": labels, "annotations": {"checksum/config": checksum}}, "spec": pod},
        }, opts=o)
        k8s.core.v1.Service(child(name, "svc"), metadata=meta(svc_name), spec={
            "type": "ClusterIP", "selector": sel,
            "ports": [{"name": "http", "port": spec.port, "targetPort": "http", "protocol": "TCP"}],
        }, opts=o)
        k8s.policy.v1.PodDisruptionBudget(child(name, "pdb"), metadata=meta(svc_name),
                                          spec=pdb_spec(args.replicas, sel), opts=o)
        ingress = [Allow(tuple(namespace_peer(ns) for ns in sorted(set(args.client_namespaces))), tcp(spec.port),
                         "clients (the gateway)")] if args.client_namespaces else []
        ingress.append(Allow((prometheus_peer(),), tcp(spec.port), "Prometheus scrapes /metrics"))
        k8s.networking.v1.NetworkPolicy(child(name, "netpol"), metadata=meta(svc_name),
                                        spec=workload_policy(sel, ingress=ingress, egress=args.egress), opts=o)
        #: What a client's egress policy must allow to reach this server.
        self.client_egress = Allow((pods_peer(args.namespace, sel),), tcp(spec.port), f"model server {svc_name}")
        self.service_name = svc_name
        self.url = f"http://{svc_name}.{args.namespace}.svc.cluster.local:{spec.port}/v1"
        self.register_outputs({"url": self.url})
