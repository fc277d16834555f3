"""Phase 2 (scale): phase 1's platform, and servers that follow their traffic. KEDA scales each model server on
its engine's queue depth with a business-hours cron floor and a warm standby; GPU nodes follow the pods (Cluster
Autoscaler on EKS, node-pool autoscaling on GKE); a model may run spot-first with an on-demand pool of the same
GPU behind it; a LiteLLM gateway overflows to a commercial tier.

The cloud is picked once (``PLATFORMS[cfg.cloud]``, the wiring shared with phase 1 in blueprints/shared/);
everything after that sees only the :class:`components.platform.Platform`. README.md beside this file says what
it builds and what it costs.
"""
from __future__ import annotations

import dataclasses

import pulumi
import pulumi_random as random

from blueprints.loader import StackSecrets
from blueprints.phase2_scale.config import Phase2Config
from blueprints.phase2_scale.serving import model_servers, routed_tiers, router_scrape_targets
from blueprints.shared import observability as obs
from blueprints.shared.platforms import PLATFORMS
from components.context import StackContext
from components.k8s.keda import Keda, KedaArgs, scrape_targets
from components.k8s.litellm_gateway import LiteLLMGateway, LiteLLMGatewayArgs
from components.k8s.namespace import namespace
from components.platform import Database, Platform
from strait.catalog import load_catalog
from strait.catalog.charts import load_charts
from strait.config import PROVIDER_SECRET
from strait.gateway.capacity import gateway_scaling
from strait.gateway.overflow import metrics_url_for
from strait.gateway.spec import gateway_spec
from strait.render.dashboards import DashboardSpec
from strait.render.litellm import PROVIDER_KEY_ENV, key_env_for
from strait.gateway.teams import TeamSpec
from strait.render.netpol import Allow, public_https
from strait.sizing import resolve_max_num_seqs

BLUEPRINT = "phase2_scale"
SERVING_NS = "strait-serving"
GATEWAY_NS = obs.GATEWAY_NS  # Langfuse admits traces from it


def gateway_egress(cfg: Phase2Config, servers: list[Allow], tracing: obs.Tracing | None,
                   db: Database | None) -> tuple[Allow, ...]:
    """Where the gateway may connect: its model servers, commercial APIs on HTTPS, traces, its database."""
    out = list(servers)
    if any(p for t in cfg.gateway.tiers.values() for p in t.providers):
        out.append(public_https("commercial APIs"))
    if tracing is not None:
        out.extend(tracing.egress)
    return (*out, *(db.egress if db is not None else ()))


def gateway_database(cfg: Phase2Config, platform: Platform, random_opts: pulumi.ResourceOptions) -> Database | None:
    """The cloud's private managed Postgres (RDS, Cloud SQL) for LiteLLM's teams, keys and spend."""
    if not cfg.gateway.spend_tracking:
        return None
    if platform.database is None:
        raise ValueError(f"gateway.spend_tracking needs a managed Postgres, which the {platform.cloud} platform "
                         "does not offer; set gateway.spend_tracking: false")
    return platform.database("litellm", opts=pulumi.ResourceOptions(providers={"random": random_opts.provider}))


def build(cfg: Phase2Config, secrets: StackSecrets) -> dict[str, pulumi.Input]:
    cat = load_catalog()
    # Unset max_num_seqs -> the KV planner's value, read by the engine's argv and the gateway's overflow sizing.
    cfg = cfg.model_copy(update={"models": {key: m.model_copy(update={"max_num_seqs": resolve_max_num_seqs(
        m, cat, cat.instance_types[cfg.gpu_pools[m.pool].instance_types[0]].gpu)}) for key, m in cfg.models.items()}})
    ctx = StackContext(project=pulumi.get_project(), stack=pulumi.get_stack(), blueprint=BLUEPRINT,
                       cost_center=cfg.cost_center, user_tags=cfg.tags)
    platform = PLATFORMS[cfg.cloud](cfg, ctx, cat, secrets, serving_namespace=SERVING_NS)

    random_opts = pulumi.ResourceOptions(provider=random.Provider("random"))
    k8s_opts = pulumi.ResourceOptions(providers={"kubernetes": platform.k8s_provider})
    gateway_ns = namespace(GATEWAY_NS, "ns-gateway", k8s_opts)
    # KEDA reads the engines' queues from the in-cluster Prometheus; one QueueAutoscaler per scaled server.
    keda = Keda("keda", KedaArgs(chart=load_charts()["keda"], monitoring_namespace=obs.MONITORING_NS,
                                 api_server_egress=platform.allows["api_server_egress"],
                                 webhook_ingress=platform.allows["webhook_ingress"]), opts=k8s_opts)
    servers, api_keys, autoscaled, routers = model_servers(cfg, cat, platform, keda, serving_ns=SERVING_NS, client_namespaces=(GATEWAY_NS,),
                                      random_opts=random_opts, k8s_opts=k8s_opts)

    # A routed model's api_base is its router; queue-aware overflow still reads the engines' own /metrics.
    gw_spec = gateway_spec(cfg.gateway, cfg.models, {mk: (routers.get(mk) or servers[mk]).url for mk in cfg.models},
                           metrics_urls={mk: metrics_url_for(servers[mk].url) for mk in routers})
    gw_spec = dataclasses.replace(gw_spec, forward_client_headers_tiers=routed_tiers(gw_spec, routers))
    used_models = sorted({mk for t in cfg.gateway.tiers.values() for mk in t.models})
    used_providers = sorted({p.provider for t in cfg.gateway.tiers.values() for p in t.providers})
    secret_env = {key_env_for(mk): api_keys[mk] for mk in used_models}
    secret_env.update({PROVIDER_KEY_ENV[p]: secrets.get(PROVIDER_SECRET[p]) for p in used_providers})
    obs_opts = pulumi.ResourceOptions(providers={"kubernetes": platform.k8s_provider, "random": random_opts.provider})
    tracing = obs.build_tracing(cfg, secrets, platform, obs_opts)
    if tracing is not None:
        gw_spec = dataclasses.replace(gw_spec, callbacks=(*gw_spec.callbacks, tracing.callback))
        secret_env.update(tracing.env)
    master_key = secrets.get("litellm_master_key")
    if master_key is None:
        master_key = pulumi.Output.concat("sk-", random.RandomPassword("litellm-master-key", length=48, special=False,
                                                                     opts=random_opts).result)
    db = gateway_database(cfg, platform, random_opts)  # teams, virtual keys and spend per key, team and model
    redis_password = None
    if cfg.gateway.replicas > 1:  # shared router state: cooldowns must hold across replicas
        redis_password = pulumi.Output.secret(random.RandomPassword("litellm-redis-password", length=40, special=False,
                                                                    opts=random_opts).result)
    gateway = LiteLLMGateway("litellm", LiteLLMGatewayArgs(
        namespace=GATEWAY_NS, spec=gw_spec, image=cat.image("litellm"), version=cat.images["litellm"].version,
        master_key=master_key, secret_env=secret_env, replicas=cfg.gateway.replicas, scaling=gateway_scaling(cfg.gateway),
        cpu_request=cfg.gateway.cpu_request, memory_request=cfg.gateway.memory_request,
        memory_limit=cfg.gateway.memory_limit, redis_image=cat.image("valkey") if redis_password is not None else None,
        redis_password=redis_password,
        database_url=db.url if db is not None else None, client_namespaces=tuple(cfg.gateway.client_namespaces),
        teams={n: TeamSpec(monthly_budget_usd=t.monthly_budget_usd, models=tuple(t.models), rpm_limit=t.rpm_limit,
                           tpm_limit=t.tpm_limit) for n, t in sorted(cfg.gateway.teams.items())},
        egress=gateway_egress(cfg, [s.client_egress for _, s in sorted({**servers, **{
            f"{k}-router": r for k, r in routers.items()}}.items())], tracing, db)),
        opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(
            depends_on=[gateway_ns, *(db.ready if db is not None else ())])))
    monitoring = obs.build_monitoring(
        cfg, cat, serving_ns=SERVING_NS, gateway_ns=GATEWAY_NS, gateway_name="litellm", platform=platform,
        opts=obs_opts, extra_targets=[*scrape_targets(keda.namespace), *router_scrape_targets(SERVING_NS, routers)],
        rules=dataclasses.replace(obs.rules_spec(cfg, cat, SERVING_NS, GATEWAY_NS), autoscaled=autoscaled,
                                  overflow_tiers=tuple(sorted(t for t in cfg.gateway.tiers if cfg.gateway.overflow_target(t)))),
        dashboards=DashboardSpec(self_hosted_tiers=obs.self_hosted_tiers(cfg), monthly_budget_usd=cfg.monthly_budget_usd,
                                 scaling=True, serving_namespace=SERVING_NS, routers=bool(routers)))

    return {
        **platform.outputs,
        "gateway_url": gateway.url,
        "litellm_master_key": pulumi.Output.secret(master_key),
        "model_urls": {k: s.url for k, s in servers.items()},
        "router_urls": {k: r.url for k, r in sorted(routers.items())},
        "autoscaled_models": sorted(cfg.queue_autoscaling.models),
        **({"grafana": f"kubectl -n {monitoring.namespace} port-forward svc/{monitoring.grafana_service} 3000:80"}
           if monitoring else {}),
    }
