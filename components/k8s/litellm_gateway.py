"""The LiteLLM gateway: config and routing hook (ConfigMap), keys (Secret), Deployment with its HPA
(autoscaling/v2), Service, PDB,
and, with more than one replica, a Valkey (Redis protocol) instance for shared router state."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.common import CONTAINER_SECURITY, POD_SECURITY, pdb_spec
from strait.gateway.capacity import GatewayScaling
from strait.gateway.teams import TeamSpec, render_teams
from strait.naming import child
from strait.render.netpol import Allow, namespace_peer, prometheus_peer, same_namespace_peer, tcp, workload_policy
from strait.render.litellm import (
    CONFIG_FILE,
    DATABASE_URL_ENV,
    MASTER_KEY_ENV,
    REDIS_PASSWORD_ENV,
    REDIS_URL_ENV,
    GatewaySpec,
    RedisSpec,
    render_gateway_files,
)
from strait.tags import k8s_labels, selector_labels

GATEWAY_PORT = 4000
#: LiteLLM's separate metrics server (`--prometheus_metrics_port`, litellm/proxy/prometheus_metrics_server.py):
#: /metrics without a key, for Prometheus only (NetworkPolicy). /metrics on GATEWAY_PORT keeps needing a
#: key, so no LiteLLM key is ever handed to the monitoring stack.
METRICS_PORT = 4001
REDIS_PORT = 6379
CONFIG_DIR = "/etc/litellm"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_FILE}"
TEAMS_DIR = "/etc/strait-teams"
TEAMS_SCRIPT = "strait_teams.py"
TEAMS_FILE = "teams.json"


def self_url(name: str, namespace: str) -> str:
    return f"http://{name}.{namespace}.svc.cluster.local:{GATEWAY_PORT}"


@dataclass(frozen=True, kw_only=True)
class LiteLLMGatewayArgs:
    namespace: str
    spec: GatewaySpec
    image: str
    version: str
    master_key: pulumi.Input[str]
    """Secret. Clients and admins authenticate with it (or with keys it issues)."""
    secret_env: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Env var -> secret value (provider keys, model-server keys). Stored in one Kubernetes Secret."""
    replicas: int = 2
    """Replicas, and the HPA's minimum."""
    scaling: GatewayScaling | None = None
    """The HPA's maximum, its CPU target and the LiteLLM workers per pod, sized from the measured
    req/s per worker (strait/gateway/capacity.py). Default: one worker, and an HPA that holds the
    Deployment at ``replicas``."""
    cpu_request: str = "500m"
    memory_request: str = "1Gi"
    memory_limit: str = "2Gi"
    redis_image: str | None = None
    """Image for the router-state store. Required when replicas > 1 (router state must be shared, or
    each replica would rediscover a dead tier on its own); unused with one replica."""
    redis_password: pulumi.Input[str] | None = None
    """Secret. Required with redis_image."""
    database_url: pulumi.Input[str] | None = None
    """Secret Postgres URL for spend tracking. Default: no database, no spend logs."""
    client_namespaces: tuple[str, ...] = ()
    """Namespaces whose pods may call the gateway on its API port. Default: none; only
    `kubectl port-forward` (which NetworkPolicies do not see) reaches it until clients are named."""
    egress: tuple[Allow, ...] = ()
    """Where the gateway may connect besides DNS and its own Valkey: model servers, commercial APIs,
    the trace collector, its database. Default: nowhere."""
    teams: Mapping[str, TeamSpec] = field(default_factory=dict)
    """Teams, by name, that a Job creates or updates in LiteLLM after each rollout (budget, limits, models;
    docs/teams.md). Needs ``database_url``. Keys are never created here. Default: none."""


def hpa_spec(deployment: str, min_replicas: int, max_replicas: int, target_cpu_utilization_percent: int) -> dict:
    """autoscaling/v2 on CPU: a LiteLLM worker is CPU-bound (one core serves the measured req/s,
    strait/catalog/data/gateway_capacity.yaml). Scale up at once; scale down one pod a minute after
    five quiet minutes, so a burst does not flap pods that take ~20 s to start."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "metrics": [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": target_cpu_utilization_percent}}}],
        "behavior": {
            "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15},
                                     {"type": "Pods", "value": 2, "periodSeconds": 15}]},
            "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Min",
                          "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]},
        },
    }


class LiteLLMGateway(pulumi.ComponentResource):
    url: str
    config_yaml: str
    """The rendered proxy config (no secrets: keys are os.environ/ references)."""
    files: dict[str, str]
    """Every file of the config directory: config.yaml, the routing hook and its rules."""

    def __init__(self, name: str, args: LiteLLMGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:gateway:LiteLLMGateway", name, None, opts)
        reserved = {MASTER_KEY_ENV, REDIS_PASSWORD_ENV, REDIS_URL_ENV, DATABASE_URL_ENV} & set(args.secret_env)
        if reserved:
            raise ValueError(f"{sorted(reserved)} are set from their own arguments; do not pass them in secret_env")
        use_redis = args.replicas > 1
        if args.teams and args.database_url is None:
            raise ValueError(f"teams {sorted(args.teams)} need database_url: LiteLLM keeps teams, keys and spend in "
                             "Postgres (platform.database)")
        if use_redis and (args.redis_image is None or args.redis_password is None):
            raise ValueError(f"{args.replicas} gateway replicas need redis_image and redis_password for shared router "
                             "state (cooldowns); pass them, or use replicas=1")
        scaling = args.scaling or GatewayScaling(min_replicas=args.replicas, max_replicas=args.replicas,
                                                 workers_per_replica=1, target_cpu_utilization_percent=70,
                                                 requests_per_second_per_replica=0)
        if scaling.max_replicas < args.replicas or scaling.workers_per_replica < 1:
            raise ValueError(f"scaling.max_replicas={scaling.max_replicas} must be >= replicas={args.replicas}, and "
                             f"workers_per_replica={scaling.workers_per_replica} >= 1")
        o = pulumi.ResourceOptions(parent=self)
        labels = k8s_labels(name="litellm", instance=name, component="gateway", version=args.version)
        sel = selector_labels(labels)
        self._gateway_selector = sel

        def meta(n: str, lab: dict = labels) -> dict:
            return {"name": n, "namespace": args.namespace, "labels": lab}

        spec = args.spec
        redis_name = f"{name}-redis"
        if use_redis:
            spec = replace(spec, redis=RedisSpec())
        if args.database_url is not None:
            spec = replace(spec, database_url_env=DATABASE_URL_ENV)
        self.files = render_gateway_files(spec)
        self.config_yaml = self.files[CONFIG_FILE]

        secret_env: dict[str, pulumi.Input[str]] = {MASTER_KEY_ENV: args.master_key, **args.secret_env}
        if args.database_url is not None:
            secret_env[DATABASE_URL_ENV] = args.database_url
        if use_redis:
            self._redis(redis_name, args, meta, o, gateway_selector=sel)
            # The proxy gets one secret URL, never host and password apart (see REDIS_URL_ENV).
            secret_env[REDIS_URL_ENV] = pulumi.Output.concat(
                "redis://:", pulumi.Output.from_input(args.redis_password).apply(lambda p: quote(p, safe="")), "@",
                f"{redis_name}.{args.namespace}.svc.cluster.local:{REDIS_PORT}")

        k8s.core.v1.ServiceAccount(child(name, "sa"), metadata=meta(name), automount_service_account_token=False, opts=o)
        k8s.core.v1.ConfigMap(child(name, "config"), metadata=meta(f"{name}-config"), data=dict(sorted(self.files.items())),
                              opts=o)
        secret_name = f"{name}-keys"
        k8s.core.v1.Secret(child(name, "keys"), metadata=meta(secret_name), type="Opaque", string_data={
            k: pulumi.Output.secret(v) for k, v in sorted(secret_env.items())}, opts=o)
        env = [{"name": k, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": k}}} for k in sorted(secret_env)]
        env += [{"name": "LITELLM_LOG", "value": "INFO"},
                # The pod must not depend on GitHub at boot: use the cost map shipped in the image.
                {"name": "LITELLM_LOCAL_MODEL_COST_MAP", "value": "True"},
                {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}]
        probe = lambda path, period, failures: {  # noqa: E731
            "httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "failureThreshold": failures,
            "timeoutSeconds": 5}
        checksum = hashlib.sha256("".join(f"{k}\0{v}" for k, v in sorted(self.files.items())).encode()).hexdigest()
        deployment = k8s.apps.v1.Deployment(child(name, "deploy"), metadata=meta(name), spec={
            "replicas": args.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": sel},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels, "annotations": {"checksum/config": checksum}},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "securityContext": POD_SECURITY,
                    "terminationGracePeriodSeconds": 60,
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {"labelSelector": {"matchLabels": sel}, "topologyKey": "kubernetes.io/hostname"},
                    }]}},
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                                   "whenUnsatisfiable": "ScheduleAnyway",
                                                   "labelSelector": {"matchLabels": sel}}],
                    "containers": [{
                        "name": "litellm",
                        "image": args.image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": ["--config", CONFIG_PATH, "--port", str(GATEWAY_PORT), "--num_workers", str(scaling.workers_per_replica),
                                 *(["--prometheus_metrics_port", str(METRICS_PORT)] if spec.metrics else [])],
                        "env": env,
                        "ports": [{"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"},
                                  *([{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}]
                                    if spec.metrics else [])],
                        "resources": {"requests": {"cpu": args.cpu_request, "memory": args.memory_request},
                                      "limits": {"memory": args.memory_limit}},
                        # /health itself calls every model upstream: never a probe.
                        "startupProbe": probe("/health/liveliness", 5, 24),
                        "livenessProbe": probe("/health/liveliness", 15, 4),
                        "readinessProbe": probe("/health/readiness", 10, 3),
                        "securityContext": CONTAINER_SECURITY,
                        # The hook (strait_hook.py) is loaded by the proxy from the config's directory.
                        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                                         {"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}},
                                {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
                },
            },
        # The HPA owns the replica count once it runs: a later `pulumi up` must not reset it to the minimum.
        }, opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(ignore_changes=["spec.replicas"])))
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            child(name, "hpa"), metadata=meta(name),
            spec=hpa_spec(name, args.replicas, scaling.max_replicas, scaling.target_cpu_utilization_percent),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]))
        k8s.core.v1.Service(child(name, "svc"), metadata=meta(name), spec={
            "type": "ClusterIP", "selector": sel,
            "ports": [{"name": "http", "port": GATEWAY_PORT, "targetPort": "http", "protocol": "TCP"},
                      *([{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}]
                        if spec.metrics else [])],
        }, opts=o)
        k8s.policy.v1.PodDisruptionBudget(child(name, "pdb"), metadata=meta(name), spec=pdb_spec(args.replicas, sel), opts=o)
        ingress = []
        if args.teams:
            job_sel = self._teams_job(name, args, labels, meta, secret_name, deployment)
            ingress.append(Allow((same_namespace_peer(job_sel),), tcp(GATEWAY_PORT), "the teams-sync Job"))
        if args.client_namespaces:
            ingress.append(Allow(tuple(namespace_peer(ns) for ns in sorted(set(args.client_namespaces))),
                                 tcp(GATEWAY_PORT), "clients the stack names (gateway.client_namespaces)"))
        if spec.metrics:
            ingress.append(Allow((prometheus_peer(),), tcp(METRICS_PORT), "Prometheus, metrics port only"))
        egress = list(args.egress)
        if use_redis:
            egress.append(Allow((same_namespace_peer(self._redis_selector),), tcp(REDIS_PORT), "router state (Valkey)"))
        k8s.networking.v1.NetworkPolicy(child(name, "netpol"), metadata=meta(name),
                                        spec=workload_policy(sel, ingress=ingress, egress=egress), opts=o)
        self.url = f"http://{name}.{args.namespace}.svc.cluster.local:{GATEWAY_PORT}"
        self.register_outputs({"url": self.url})

    def _teams_job(self, name: str, args: LiteLLMGatewayArgs, labels: dict, meta, secret_name: str,
                   deployment: pulumi.Resource) -> dict[str, str]:
        """A Job that creates or updates the stack's teams through LiteLLM's management API once the gateway has
        rolled out, with the master key from the gateway's Secret (env, never argv). It issues no key. A change
        of the teams file replaces the Job (its spec is immutable), so each change runs once."""
        jname = f"{name}-teams-sync"
        jlabels = {**k8s_labels(name="litellm", instance=jname, component="teams-sync", version=args.version)}
        sel = selector_labels(jlabels)
        files = {TEAMS_SCRIPT: (Path(__file__).resolve().parents[2] / "strait" / "gateway" / "teams.py").read_text(),
                 TEAMS_FILE: render_teams(args.teams)}
        code = k8s.core.v1.ConfigMap(child(jname, "config"), metadata=meta(jname, jlabels), data=files,
                                     opts=pulumi.ResourceOptions(parent=self))
        digest = hashlib.sha256("".join(f"{k}\0{v}" for k, v in sorted(files.items())).encode()).hexdigest()
        k8s.batch.v1.Job(child(jname, "job"), metadata={
            **meta(jname, jlabels), "annotations": {
                "checksum/teams": digest,
                "checkov.io/skip1": "CKV_K8S_8=a run-once Job serves nothing to probe",
                "checkov.io/skip2": "CKV_K8S_9=a run-once Job serves nothing to probe"}}, spec={
            "backoffLimit": 4,
            "activeDeadlineSeconds": 900,
            "template": {
                "metadata": {"labels": jlabels, "annotations": {"checksum/teams": digest}},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "restartPolicy": "Never",
                    "securityContext": POD_SECURITY,
                    "containers": [{
                        "name": "sync",
                        "image": args.image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python", f"{TEAMS_DIR}/{TEAMS_SCRIPT}", "sync", "--gateway", self_url(name, args.namespace),
                                    "--teams", f"{TEAMS_DIR}/{TEAMS_FILE}"],
                        "env": [{"name": MASTER_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": MASTER_KEY_ENV}}},
                                {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                        "securityContext": CONTAINER_SECURITY,
                        "volumeMounts": [{"name": "teams", "mountPath": TEAMS_DIR, "readOnly": True}],
                    }],
                    "volumes": [{"name": "teams", "configMap": {"name": jname}}],
                },
            },
        # A named Job cannot exist twice: a changed teams file deletes the old one before creating the new one.
        }, opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment, code], delete_before_replace=True))
        k8s.networking.v1.NetworkPolicy(child(jname, "netpol"), metadata=meta(jname, jlabels), spec=workload_policy(
            sel, egress=[Allow((same_namespace_peer(self._gateway_selector),), tcp(GATEWAY_PORT), "the gateway's API")]),
            opts=pulumi.ResourceOptions(parent=self))
        return sel

    def _redis(self, rname: str, args: LiteLLMGatewayArgs, meta, o: pulumi.ResourceOptions,
               gateway_selector: dict[str, str]) -> None:
        """One Valkey pod, no persistence: it holds only cooldowns and usage counters, which LiteLLM
        keeps in memory as well, so losing it costs each replica one failure per dead tier."""
        labels = k8s_labels(name="valkey", instance=rname, component="gateway-state", version=args.redis_image.rsplit(":", 1)[-1])
        sel = selector_labels(labels)
        self._redis_selector = sel
        # The password reaches valkey-server through a config file in a Secret, never its argv.
        k8s.core.v1.Secret(child(rname, "conf"), metadata=meta(f"{rname}-conf", labels), type="Opaque", string_data={
            "valkey.conf": pulumi.Output.secret(pulumi.Output.concat(
                "requirepass ", args.redis_password, "\nsave \"\"\nappendonly no\nprotected-mode no\n")),
        }, opts=o)
        k8s.apps.v1.Deployment(child(rname, "deploy"), metadata=meta(rname, labels), spec={
            "replicas": 1,
            "selector": {"matchLabels": sel},
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": POD_SECURITY,
                    "containers": [{
                        "name": "valkey",
                        "image": args.redis_image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["valkey-server", "/etc/valkey/valkey.conf", "--dir", "/data"],
                        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                        "readinessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 5},
                        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 15, "failureThreshold": 4},
                        "securityContext": CONTAINER_SECURITY,
                        "volumeMounts": [{"name": "conf", "mountPath": "/etc/valkey", "readOnly": True},
                                         {"name": "data", "mountPath": "/data"}],
                    }],
                    "volumes": [{"name": "conf", "secret": {"secretName": f"{rname}-conf"}},
                                {"name": "data", "emptyDir": {"sizeLimit": "256Mi"}}],
                },
            },
        }, opts=o)
        k8s.core.v1.Service(child(rname, "svc"), metadata=meta(rname, labels), spec={
            "type": "ClusterIP", "selector": sel,
            "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}],
        }, opts=o)
        # Only the gateway may connect; Valkey itself connects nowhere.
        k8s.networking.v1.NetworkPolicy(child(rname, "netpol"), metadata=meta(rname, labels), spec=workload_policy(
            sel, ingress=[Allow((same_namespace_peer(gateway_selector),), tcp(REDIS_PORT), "the gateway")]), opts=o)
