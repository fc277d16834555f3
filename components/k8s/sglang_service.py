"""An SGLang model server: ServiceAccount, API-key Secret, Deployment, Service, PodDisruptionBudget, NetworkPolicy.

The pod is the shared model-server pod (components/k8s/model_server.py: probes, GPU scheduling, /dev/shm,
non-root with a read-only root, graceful drain, one replica per node, the weight cache's wait container
and identity); only the command line (strait/render/sglang.py) and its environment are SGLang's. Weights
stream from the cloud's weight cache with runai_streamer, as for vLLM. Nothing here knows the cloud.
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.common import pdb_spec
from components.k8s.model_server import server_selector, ServerPod, ServerSizing, deployment_spec
from components.platform import WeightSource
from strait.gpu_labels import POOL_LABEL
from strait.naming import child
from strait.render.netpol import Allow, namespace_peer, pods_peer, prometheus_peer, tcp, workload_policy
from strait.render.sglang import SECRET_DIR, SECRET_FILE, SglangSpec, render_sglang_args, secret_config, spec_checksum
from strait.tags import k8s_labels

HOME = "/home/sglang"


@dataclass(frozen=True, kw_only=True)
class SglangServiceArgs:
    namespace: str
    spec: SglangSpec
    image: str
    """Pinned lmsysorg/sglang image; its version must match the flags we render."""
    engine_version: str
    api_key: pulumi.Input[str]
    """Secret, alphanumeric. Reaches SGLang in a mounted Secret file read through ``--config``, never the argv."""
    pool: str
    gpu_model: str
    gpus_per_replica: int
    sizing: ServerSizing
    """Requests, startup budget and surge (components.k8s.model_server.size_for_pool)."""
    replicas: int = 1
    """Default: one replica, no HA; the gateway falls back to commercial while it restarts."""
    shutdown_timeout_seconds: int = 60
    """SGLang drains running requests on SIGTERM with no deadline of its own; the pod's grace period
    (this + preStop + margin) bounds it. Default: 60 s."""
    weights: WeightSource | None = None
    """The cloud's weight source: the spec's model_path must be its ``uri``. Default: no cache (tests only)."""
    client_namespaces: tuple[str, ...] = ()
    """Namespaces allowed to call the server (the gateway's). Default: none but metrics scrapers."""
    extra_ingress: tuple[Allow, ...] = ()
    """Further callers admitted on top of ``client_namespaces`` and Prometheus, e.g. a vLLM router's pods
    (``VllmRouter.upstream_ingress``). Default: none."""
    egress: tuple[Allow, ...] = ()
    """Where the server may connect besides DNS and the weight source's needs. Default: nowhere else."""


def engine_env() -> list[dict]:
    """SGLang's environment: offline hub, caches under the writable home."""
    return [
        # Weights come from the cache only: a hub download at start is a bug, so make it impossible.
        {"name": "HF_HUB_OFFLINE", "value": "1"},
        {"name": "USER", "value": "sglang"},
        {"name": "HOME", "value": HOME},
        {"name": "TRITON_CACHE_DIR", "value": f"{HOME}/.cache/triton"},
        {"name": "TORCHINDUCTOR_CACHE_DIR", "value": f"{HOME}/.cache/torchinductor"},
        {"name": "XDG_CACHE_HOME", "value": f"{HOME}/.cache"},
        {"name": "RUNAI_STREAMER_CONCURRENCY", "value": "16"},
    ]


class SglangService(pulumi.ComponentResource):
    service_name: str
    selector: dict[str, str]
    url: str
    """In-cluster OpenAI-compatible base URL, ending in /v1."""

    def __init__(self, name: str, args: SglangServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:serving:SglangService", name, None, opts)
        problems = []
        if args.gpus_per_replica != args.spec.tp_size:
            problems.append("gpus_per_replica must equal the spec's tp_size")
        if args.weights is not None and args.spec.model_path != args.weights.uri:
            problems.append(f"spec.model_path {args.spec.model_path!r} is not the weight source's uri "
                            f"{args.weights.uri!r}")
        if args.spec.secret_config_path != f"{SECRET_DIR}/{SECRET_FILE}":
            problems.append(f"spec.secret_config_path must be {SECRET_DIR}/{SECRET_FILE}, where the API key's Secret "
                            "is mounted: the server would run without an API key")
        if problems:
            raise ValueError("; ".join(problems))
        o = pulumi.ResourceOptions(parent=self)
        svc_name = name
        labels = k8s_labels(name="sglang", instance=svc_name, component="model-server", version=args.engine_version)
        labels[POOL_LABEL] = args.pool
        sel = server_selector("sglang", svc_name)
        w = args.weights
        sa_name = w.service_account if w else svc_name
        meta = lambda n: {"name": n, "namespace": args.namespace, "labels": labels}  # noqa: E731

        sa_meta = {**meta(sa_name), **({"annotations": dict(w.service_account_annotations)}
                                       if w and w.service_account_annotations else {})}
        k8s.core.v1.ServiceAccount(child(name, "sa"), metadata=sa_meta, automount_service_account_token=False, opts=o)
        key_secret = f"{svc_name}-api-key"
        k8s.core.v1.Secret(child(name, "api-key"), metadata=meta(key_secret), type="Opaque", string_data={
            SECRET_FILE: pulumi.Output.secret(pulumi.Output.from_input(args.api_key).apply(secret_config))}, opts=o)

        spec = args.spec
        pod = ServerPod(container="sglang", image=args.image, command=["sglang", "serve"],
                        args=render_sglang_args(spec), env=engine_env(), port=spec.port, pool=args.pool,
                        gpu_model=args.gpu_model, gpus=args.gpus_per_replica, tensor_parallel_size=spec.tp_size,
                        sizing=args.sizing, shutdown_timeout_seconds=args.shutdown_timeout_seconds,
                        service_account=sa_name, selector=sel, weights=w, home=HOME,
                        # 0440 with the pod's fsGroup: the non-root engine reads it, nothing else is granted.
                        extra_volumes=[{"name": "api-key", "secret": {"secretName": key_secret, "defaultMode": 0o440}}],
                        extra_mounts=[{"name": "api-key", "mountPath": SECRET_DIR, "readOnly": True}])
        checksum = spec_checksum(spec, args.image, w.uri if w else None)
        deploy_opts = pulumi.ResourceOptions(parent=self, depends_on=list(w.ready) if w else None)
        k8s.apps.v1.Deployment(child(name, "deploy"), metadata=meta(svc_name), spec=deployment_spec(
            pod, replicas=args.replicas, labels=labels, annotations={"checksum/config": checksum}), opts=deploy_opts)
        k8s.core.v1.Service(child(name, "svc"), metadata=meta(svc_name), spec={
            "type": "ClusterIP", "selector": sel,
            "ports": [{"name": "http", "port": spec.port, "targetPort": "http", "protocol": "TCP"}],
        }, opts=o)
        k8s.policy.v1.PodDisruptionBudget(child(name, "pdb"), metadata=meta(svc_name),
                                          spec=pdb_spec(args.replicas, sel), opts=o)
        ingress = [Allow(tuple(namespace_peer(ns) for ns in sorted(set(args.client_namespaces))), tcp(spec.port),
                         "clients (the gateway)")] if args.client_namespaces else []
        ingress.append(Allow((prometheus_peer(),), tcp(spec.port), "Prometheus scrapes /metrics"))
        ingress.extend(args.extra_ingress)
        egress = [*(w.egress if w else ()), *args.egress]
        k8s.networking.v1.NetworkPolicy(child(name, "netpol"), metadata=meta(svc_name),
                                        spec=workload_policy(sel, ingress=ingress, egress=egress), opts=o)
        self.client_egress = Allow((pods_peer(args.namespace, sel),), tcp(spec.port), f"model server {svc_name}")
        self.service_name = svc_name
        #: The pods' selector (the Deployment's matchLabels): what a router discovers replicas by.
        self.selector = sel
        self.url = f"http://{svc_name}.{args.namespace}.svc.cluster.local:{spec.port}/v1"
        self.register_outputs({"url": self.url})
