"""A vLLM model server: ServiceAccount, API-key Secret, Deployment, Service and PodDisruptionBudget.

Everything but the command line comes from the shared model-server pod (components/k8s/model_server.py);
the weights, how to wait for them and the identity that reads them come from the cloud's
:class:`components.platform.WeightSource`. Nothing here knows which cloud it runs on.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.common import pdb_spec
from components.k8s.model_server import server_selector, LocalCopy, ServerPod, ServerSizing, deployment_spec
from components.platform import WeightSource
from strait.gpu_labels import POOL_LABEL
from strait.naming import child
from strait.render.netpol import Allow, namespace_peer, pods_peer, prometheus_peer, tcp, workload_policy
from strait.render.vllm import ADAPTER_DIR, API_KEY_ENV, VllmSpec, render_vllm_args, spec_checksum
from strait.tags import k8s_labels

HOME = "/home/vllm"


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
    sizing: ServerSizing
    """Requests, startup budget and surge (components.k8s.model_server.size_for_pool)."""
    replicas: int = 1
    """Default: one replica, no HA; the gateway falls back to commercial while it restarts."""
    weights: WeightSource | None = None
    """The cloud's weight source: the spec's model should be its ``uri``; its wait container runs first, its
    ServiceAccount (with its annotations) runs the pod. Default: no cache (tests, hub ids)."""
    service_account_name: str | None = None
    """Default: the weight source's ServiceAccount, else the service name."""
    client_namespaces: tuple[str, ...] = ()
    """Namespaces allowed to call the server (the gateway's). Default: none but metrics scrapers."""
    extra_ingress: tuple[Allow, ...] = ()
    """Further callers admitted on top of ``client_namespaces`` and Prometheus, e.g. a vLLM router's pods
    (``VllmRouter.upstream_ingress``). Default: none."""
    egress: tuple[Allow, ...] = ()
    """Where the server may connect besides DNS, on top of what the weight source needs (its ``egress``:
    the object store and the credentials endpoint). Default: nowhere else."""
    adapters: Mapping[str, tuple[WeightSource, float]] = field(default_factory=dict)
    """LoRA adapters by name: each one's weight source and size in GiB. Each is synced from the cache into an
    emptyDir at ``ADAPTER_DIR/<name>`` (the spec's ``lora_modules``) before vLLM starts. Default: none."""
    draft: WeightSource | None = None
    """The speculative draft model's weight source: vLLM streams it from ``uri`` (the spec's speculative
    ``model``) like the target; the pod waits for its marker. Default: none."""


def engine_env(key_secret: str) -> list[dict]:
    """vLLM's environment: the API key from its Secret, offline hub, caches under the writable home."""
    return [
        {"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": key_secret, "key": API_KEY_ENV}}},
        # Weights come from the cache only: a hub download at start is a bug, so make it impossible.
        {"name": "HF_HUB_OFFLINE", "value": "1"},
        # Non-root with a read-only root: caches go to the home emptyDir. USER spares torch's
        # getpass.getuser() a passwd lookup for a UID the image does not know.
        {"name": "USER", "value": "vllm"},
        {"name": "HOME", "value": HOME},
        {"name": "TRITON_CACHE_DIR", "value": f"{HOME}/.cache/triton"},
        {"name": "TORCHINDUCTOR_CACHE_DIR", "value": f"{HOME}/.cache/torchinductor"},
        {"name": "XDG_CACHE_HOME", "value": f"{HOME}/.cache"},
        {"name": "VLLM_CACHE_ROOT", "value": f"{HOME}/.cache/vllm"},
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        {"name": "RUNAI_STREAMER_CONCURRENCY", "value": "16"},
    ]


class VllmService(pulumi.ComponentResource):
    service_name: str
    selector: dict[str, str]
    url: str
    """In-cluster OpenAI-compatible base URL, ending in /v1."""

    def __init__(self, name: str, args: VllmServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:serving:VllmService", name, None, opts)
        problems = []
        if args.gpus_per_replica != args.spec.tensor_parallel_size:
            problems.append("gpus_per_replica must equal the spec's tensor_parallel_size")
        if args.weights is not None and args.spec.model != args.weights.uri:
            problems.append(f"spec.model {args.spec.model!r} is not the weight source's uri {args.weights.uri!r}")
        modules = dict(args.spec.lora_modules)
        want = {n: f"{ADAPTER_DIR}/{n}" for n in args.adapters}
        if modules != want:
            problems.append(f"spec.lora_modules {modules!r} are not the adapters synced to {want!r}")
        if args.draft is not None and json.loads(args.spec.speculative_config or "{}").get("model") != args.draft.uri:
            problems.append(f"the spec's speculative config does not name the draft's uri {args.draft.uri!r}")
        if problems:
            raise ValueError("; ".join(problems))
        o = pulumi.ResourceOptions(parent=self)
        svc_name = name  # the component's name is the Service's DNS name
        labels = k8s_labels(name="vllm", instance=svc_name, component="model-server", version=args.engine_version)
        labels[POOL_LABEL] = args.pool
        sel = server_selector("vllm", svc_name)
        w = args.weights
        sa_name = args.service_account_name or (w.service_account if w else svc_name)
        meta = lambda n: {"name": n, "namespace": args.namespace, "labels": labels}  # noqa: E731

        sa_meta = {**meta(sa_name), **({"annotations": dict(w.service_account_annotations)}
                                       if w and w.service_account_annotations else {})}
        k8s.core.v1.ServiceAccount(child(name, "sa"), metadata=sa_meta, automount_service_account_token=False, opts=o)
        key_secret = f"{svc_name}-api-key"
        k8s.core.v1.Secret(child(name, "api-key"), metadata=meta(key_secret), type="Opaque",
                           string_data={API_KEY_ENV: pulumi.Output.secret(args.api_key)}, opts=o)

        spec = args.spec
        pod = ServerPod(container="vllm", image=args.image, command=["vllm", "serve"], args=render_vllm_args(spec),
                        env=engine_env(key_secret), port=spec.port, pool=args.pool, gpu_model=args.gpu_model,
                        gpus=args.gpus_per_replica, tensor_parallel_size=spec.tensor_parallel_size, sizing=args.sizing,
                        shutdown_timeout_seconds=spec.shutdown_timeout_seconds, service_account=sa_name, selector=sel,
                        weights=w, home=HOME, streamed={"draft": args.draft} if args.draft else {},
                        local_copies=[LocalCopy(name=f"lora-{i}", source=src, volume="adapters", mount_path=ADAPTER_DIR,
                                                dest=f"{ADAPTER_DIR}/{n}", size_gib=gib)
                                      for i, (n, (src, gib)) in enumerate(sorted(args.adapters.items()))])
        checksum = spec_checksum(spec, args.image, w.uri if w else None)
        # Wait for exactly what the weights need (the seeding Job), never for the whole cache component.
        # The adapters' and the draft's seeding Jobs too: the pod's init containers wait for their markers.
        ready = [*(w.ready if w else ()), *(r for src, _ in args.adapters.values() for r in src.ready),
                 *(args.draft.ready if args.draft else ())]
        deploy_opts = pulumi.ResourceOptions(parent=self, depends_on=list(dict.fromkeys(ready)) or None)
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
        #: What a client's egress policy must allow to reach this server.
        self.client_egress = Allow((pods_peer(args.namespace, sel),), tcp(spec.port), f"model server {svc_name}")
        self.service_name = svc_name
        #: The pods' selector (the Deployment's matchLabels): what a router discovers replicas by.
        self.selector = sel
        self.url = f"http://{svc_name}.{args.namespace}.svc.cluster.local:{spec.port}/v1"
        self.register_outputs({"url": self.url})
