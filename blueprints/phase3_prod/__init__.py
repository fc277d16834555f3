"""Phase 3 (production): the largest model served across nodes (vLLM's multi-node mode on a LeaderWorkerSet,
one group per replica, each group alone in a zone), several endpoints per tier spread over zones with the LiteLLM
gateway balancing between them and failing over, GPU pools on reserved capacity (ODCR, Capacity Blocks, GKE
reservations) priced by the cost report and the spend policy, model servers above batch work (PriorityClasses),
and alerts that reach a person (Alertmanager receivers, SLO burn-rate alerts).

The cloud is picked once (``PLATFORMS[cfg.cloud]``, shared wiring in blueprints/shared/); everything after that
sees only the :class:`components.platform.Platform`. README.md beside this file says what it builds and costs.
"""
from __future__ import annotations

import dataclasses

import pulumi
import pulumi_random as random

from blueprints.loader import StackSecrets
from blueprints.phase3_prod.config import Phase3Config
from blueprints.phase3_prod.serving import model_servers
from blueprints.shared import observability as obs
from blueprints.shared.platforms import PLATFORMS
from components.context import StackContext
from components.k8s.litellm_gateway import LiteLLMGateway, LiteLLMGatewayArgs
from components.k8s.lws import Lws, LwsArgs
from components.k8s.namespace import namespace
from components.platform import Database, Platform
from strait.catalog import load_catalog
from strait.catalog.charts import load_charts
from strait.config import PROVIDER_SECRET
from strait.gateway.capacity import gateway_scaling
from strait.gateway.spec import gateway_spec
from strait.gateway.teams import TeamSpec
from strait.render.litellm import PROVIDER_KEY_ENV, key_env_for
from strait.render.netpol import Allow, public_https
from strait.sizing import resolve_max_num_seqs

BLUEPRINT = "phase3_prod"
SERVING_NS = "strait-serving"
GATEWAY_NS = obs.GATEWAY_NS  # Langfuse admits traces from it


def gateway_egress(cfg: Phase3Config, servers: list[Allow], tracing: obs.Tracing | None,
                   db: Database | None) -> tuple[Allow, ...]:
    """Where the gateway may connect: its model servers, commercial APIs on HTTPS, traces, its database."""
    out = list(servers)
    if any(p for t in cfg.gateway.tiers.values() for p in t.providers):
        out.append(public_https("commercial APIs"))
    out.extend(tracing.egress if tracing is not None else ())
    return (*out, *(db.egress if db is not None else ()))


def gateway_database(cfg: Phase3Config, platform: Platform, random_opts: pulumi.ResourceOptions) -> Database | None:
    """The cloud's private managed Postgres (RDS, Cloud SQL) for LiteLLM's teams, keys and spend."""
    if not cfg.gateway.spend_tracking:
        return None
    if platform.database is None:
        raise ValueError(f"gateway.spend_tracking needs a managed Postgres, which the {platform.cloud} platform "
                         "does not offer; set gateway.spend_tracking: false")
    return platform.database("litellm", opts=pulumi.ResourceOptions(providers={"random": random_opts.provider}))


def build(cfg: Phase3Config, secrets: StackSecrets) -> dict[str, pulumi.Input]:
    cat = load_catalog()
    # Unset max_num_seqs -> the KV planner's value (per pipeline stage for a model across nodes).
    cfg = cfg.model_copy(update={"models": {key: m.model_copy(update={"max_num_seqs": resolve_max_num_seqs(
        m, cat, cat.instance_types[cfg.gpu_pools[m.pool].instance_types[0]].gpu)}) for key, m in cfg.models.items()}})
    ctx = StackContext(project=pulumi.get_project(), stack=pulumi.get_stack(), blueprint=BLUEPRINT,
                       cost_center=cfg.cost_center, user_tags=cfg.tags)
    # The platform creates the PriorityClasses (serving above batch) before its seeding Jobs, which run at batch.
    platform = PLATFORMS[cfg.cloud](cfg, ctx, cat, secrets, serving_namespace=SERVING_NS,
                                    priority_classes=cfg.serving_priority)

    random_opts = pulumi.ResourceOptions(provider=random.Provider("random"))
    k8s_opts = pulumi.ResourceOptions(providers={"kubernetes": platform.k8s_provider})
    gateway_ns = namespace(GATEWAY_NS, "ns-gateway", k8s_opts)
    lws = None
    if any(m.nodes > 1 for m in cfg.models.values()):  # the controller behind LeaderWorkerSets (its pinned chart)
        lws = Lws("lws", LwsArgs(chart=load_charts()["lws"], api_server_egress=platform.allows["api_server_egress"],
                                 webhook_ingress=platform.allows["webhook_ingress"]), opts=k8s_opts)
    serving = platform.priority.get("serving")
    servers, api_keys = model_servers(cfg, cat, platform, lws, serving_ns=SERVING_NS, client_namespaces=(GATEWAY_NS,),
                                      priority=(serving.class_name, list(serving.ready)) if serving else None,
                                      random_opts=random_opts, k8s_opts=k8s_opts)

    # A tier listing several models gets one LiteLLM deployment per endpoint: the gateway balances between them
    # (weighted by replicas) and a failing endpoint cools down while the others take its traffic.
    gw_spec = gateway_spec(cfg.gateway, cfg.models, {mk: servers[mk].url for mk in cfg.models})
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
    db = gateway_database(cfg, platform, random_opts)
    redis_password = None
    if cfg.gateway.replicas > 1:  # shared router state: cooldowns must hold across replicas
        redis_password = pulumi.Output.secret(random.RandomPassword("litellm-redis-password", length=40, special=False,
                                                                    opts=random_opts).result)
    gateway = LiteLLMGateway("litellm", LiteLLMGatewayArgs(
        namespace=GATEWAY_NS, spec=gw_spec, image=cat.image("litellm"), version=cat.images["litellm"].version,
        master_key=master_key, secret_env=secret_env, replicas=cfg.gateway.replicas, scaling=gateway_scaling(cfg.gateway),
        cpu_request=cfg.gateway.cpu_request, memory_request=cfg.gateway.memory_request,
        memory_limit=cfg.gateway.memory_limit, redis_image=cat.image("valkey") if redis_password is not None else None,
        redis_password=redis_password, database_url=db.url if db is not None else None,
        client_namespaces=tuple(cfg.gateway.client_namespaces),
        teams={n: TeamSpec(monthly_budget_usd=t.monthly_budget_usd, models=tuple(t.models), rpm_limit=t.rpm_limit,
                           tpm_limit=t.tpm_limit) for n, t in sorted(cfg.gateway.teams.items())},
        egress=gateway_egress(cfg, [s.client_egress for _, s in sorted(servers.items())], tracing, db)),
        opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(
            depends_on=[gateway_ns, *(db.ready if db is not None else ())])))
    # Receivers (PagerDuty, Slack; credentials only in a Secret) and SLO burn-rate rules from observability.alerting.
    monitoring = obs.build_monitoring(cfg, cat, serving_ns=SERVING_NS, gateway_ns=GATEWAY_NS, gateway_name="litellm",
                                      platform=platform, opts=obs_opts, secrets=secrets)

    return {
        **platform.outputs,
        "gateway_url": gateway.url,
        "litellm_master_key": pulumi.Output.secret(master_key),
        "model_urls": {k: s.url for k, s in servers.items()},
        "multinode_models": sorted(k for k, m in cfg.models.items() if m.nodes > 1),
        **({"grafana": f"kubectl -n {monitoring.namespace} port-forward svc/{monitoring.grafana_service} 3000:80"}
           if monitoring else {}),
    }
