"""Model servers of the phase-3 blueprint: a model on one node is a Deployment (vLLM or SGLang) spread over zones;
a model across nodes is a LeaderWorkerSet (vLLM's multi-node mode, one group per replica, each group alone in its
zone). Every server runs at the strait-serving priority when the stack asks for it."""
from __future__ import annotations

import copy
import dataclasses

import pulumi
import pulumi_random as random

from blueprints.shared.artefacts import local_artefacts
from blueprints.phase3_prod.config import Phase3Config
from components.k8s.lws import Lws
from components.k8s.model_server import server_selector, size_for_pool
from components.k8s.sglang_service import SglangService, SglangServiceArgs
from components.k8s.vllm_multinode import LWS_KIND, VllmMultiNode, VllmMultiNodeArgs, group_sizing
from components.k8s.vllm_router import VllmRouter, VllmRouterArgs
from components.k8s.vllm_service import VllmService, VllmServiceArgs
from components.platform import Platform
from strait.catalog import Catalog
from strait.catalog.interconnect import load_interconnect
from strait.engines import sglang_spec, vllm_spec
from strait.render.netpol import Allow, Port, pods_peer
from strait.render.router import PdSpec, RouterPolicy
from strait.render.vllm import KvTransferSpec
from strait.render.vllm_multinode import MultiNodeSpec

Server = VllmService | SglangService | VllmMultiNode | VllmRouter
#: What NIXL needs between the pools: its handshake (VLLM_NIXL_SIDE_CHANNEL_PORT, 5600) and UCX's TCP transport,
#: whose listeners take ephemeral ports (RDMA traffic itself, EFA or GPUDirect, does not pass the pod network).
KV_PORTS = (Port(1024, end_port=65535),)


def disaggregated(key: str, m, spec, common: dict, platform: Platform, opts: pulumi.ResourceOptions,
                  local: dict) -> VllmRouter:
    """Prefill and decode VllmServices (one API key, the same weights) behind a vLLM router in P/D mode; the
    router is the model's endpoint. The pools admit the router on the HTTP port and each other on KV_PORTS."""
    d, rc, ns = m.disaggregation, m.router, common["namespace"]
    names = {"prefill": f"{key}-prefill", "decode": f"{key}-decode"}
    sel = {role: server_selector("vllm", n) for role, n in names.items()}
    router = VllmRouter(f"{key}-router", VllmRouterArgs(
        namespace=ns, image=common["router_image"], version=common["router_version"], monitor=False,
        pd=PdSpec(prefill_selector=sel["prefill"], decode_selector=sel["decode"], discovery_namespace=ns,
                  discovery_port=spec.port, kv_connector=d.connector),
        pd_server_key_secret=f"{names['prefill']}-api-key", policy=RouterPolicy(rc.policy if rc else "consistent_hash"),
        replicas=rc.replicas if rc else 2, client_namespaces=common["client_namespaces"],
        api_server_egress=platform.allows["api_server_egress"]), opts=opts)
    # The pools' only clients are the router and each other (extra_ingress), not the gateway.
    args = {k: v for k, v in common.items() if k not in ("router_image", "router_version")} | {"client_namespaces": ()}
    for role, other in (("prefill", "decode"), ("decode", "prefill")):
        n = getattr(d, f"{role}_replicas")
        kv = Allow((pods_peer(ns, sel[other]),), KV_PORTS, f"KV transfer with {names[other]} (NIXL)")
        VllmService(names[role], VllmServiceArgs(
            spec=dataclasses.replace(spec, kv_transfer=KvTransferSpec(role=role, connector=d.connector)),
            **{**args, "replicas": n}, extra_ingress=(router.upstream_ingress, kv), egress=(kv,), **local), opts=opts)
    return router


def pod_templates(type_: str, spec: dict) -> list[dict]:
    """The pod templates inside a Deployment's or a LeaderWorkerSet's spec (the objects are this blueprint's own)."""
    if type_ == "kubernetes:apps/v1:Deployment":
        return [spec["template"]]
    if type_.endswith(f":{LWS_KIND}"):
        lwt = spec["leaderWorkerTemplate"]
        return [lwt[k] for k in ("leaderTemplate", "workerTemplate") if k in lwt]
    return []


def with_priority(class_name: str):
    """A (client-side) Pulumi transformation: every model-server pod names ``class_name``, so the offline plan
    records the pod spec exactly as ``pulumi up`` sends it (as components/k8s/spot_fallback.py does)."""
    def transformation(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if "spec" not in args.props or not pod_templates(args.type_, args.props["spec"]):
            return None
        props = dict(args.props)
        props["spec"] = spec = copy.deepcopy(props["spec"])
        for template in pod_templates(args.type_, spec):
            template["spec"]["priorityClassName"] = class_name
        return pulumi.ResourceTransformationResult(props=props, opts=args.opts)
    return transformation


def model_servers(cfg: Phase3Config, cat: Catalog, platform: Platform, lws: Lws | None, *, serving_ns: str,
                  client_namespaces: tuple[str, ...], priority: tuple[str, list] | None,
                  random_opts: pulumi.ResourceOptions, k8s_opts: pulumi.ResourceOptions
                  ) -> tuple[dict[str, Server], dict[str, pulumi.Output[str]]]:
    """The servers and each one's API key. ``priority``: the PriorityClass name and the resources creating it."""
    servers: dict[str, Server] = {}
    api_keys: dict[str, pulumi.Output[str]] = {}
    opts = pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(
        depends_on=[platform.namespaces[serving_ns], *(priority[1] if priority else ())],
        transformations=[with_priority(priority[0])] if priority else []))
    for key, m in sorted(cfg.models.items()):
        pool, weights = platform.gpu_pools[m.pool], platform.weights[key]
        api_keys[key] = pulumi.Output.secret(random.RandomPassword(f"{key}-api-key", length=48, special=False,
                                                                   opts=random_opts).result)
        common = dict(namespace=serving_ns, image=cat.image(m.engine), engine_version=cat.images[m.engine].version,
                      api_key=api_keys[key], pool=m.pool, gpu_model=pool.gpu_model, weights=weights,
                      client_namespaces=client_namespaces)
        weights_gib = cat.variant(m.model, m.quantization).weights_gib
        if m.nodes > 1:  # one LeaderWorkerSet group of m.nodes pods per replica; TP in a node, PP across nodes
            instance_type = cfg.gpu_pools[m.pool].instance_types[0]
            servers[key] = VllmMultiNode(key, VllmMultiNodeArgs(
                spec=MultiNodeSpec(engine=vllm_spec(key, m, cat, weights.uri), nodes=m.nodes),
                gpus_per_node=pool.gpus_per_node, groups=m.replicas, lws=lws.helm if lws else None,
                sizing=group_sizing(pool, groups=m.replicas, nodes=m.nodes, weights_gib=weights_gib,
                                    startup_timeout_seconds=m.startup_timeout_seconds),
                interconnect=load_interconnect().get(instance_type), **common), opts=opts)
            continue
        sizing = size_for_pool(pool, replicas=m.replicas, startup_timeout_seconds=m.startup_timeout_seconds,
                               weights_gib_per_gpu=weights_gib / m.tensor_parallel_size)
        common.update(replicas=m.replicas, gpus_per_replica=m.tensor_parallel_size, sizing=sizing)
        if m.engine == "sglang":
            servers[key] = SglangService(key, SglangServiceArgs(spec=sglang_spec(key, m, cat, weights.uri),
                                                                shutdown_timeout_seconds=m.shutdown_timeout_seconds,
                                                                **common), opts=opts)
        else:
            local = local_artefacts(key, m, cat, platform)  # LoRA adapters synced into the pod, the draft streamed
            spec = vllm_spec(key, m, cat, weights.uri, local["draft"].uri if local["draft"] else None)
            if m.disaggregation is not None:  # opt-in: prefill and decode pools behind the router's P/D mode
                servers[key] = disaggregated(key, m, spec, {**common, "router_image": cat.image("vllm-router"),
                                             "router_version": cat.images["vllm-router"].version}, platform,
                                             opts, local)
                continue
            servers[key] = VllmService(key, VllmServiceArgs(spec=spec, **local, **common), opts=opts)
    return servers, api_keys
