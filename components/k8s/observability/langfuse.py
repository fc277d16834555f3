"""Self-hosted Langfuse (LLM tracing): the official chart and its prerequisites, on the cloud's object store.

Why chart 2.0.0 (Langfuse v4) and not 1.x: chart 1.x bundles Bitnami sub-charts whose ClickHouse cannot
reach a v4-compatible version (langfuse-docs#3566), so it is a dead end; 2.0.0 replaces them with
OSS-licensed charts (groundhog2k Postgres, Valkey) and the official ClickHouse operator. The price is
two prerequisites, cert-manager and the ClickHouse operator, installed here first as pinned charts.
Blob storage is the cloud's private bucket (SeaweedFS off), an :class:`components.platform.ObjectStore`
the platform creates (components/aws/storage.py on AWS) and binds to Langfuse's ServiceAccount through the
cloud's workload identity, with access to that bucket only: no access keys exist anywhere.

Every credential (salt, encryption key, NextAuth secret, database and cache passwords, the project's
API keys, the admin password) is a pulumi_random value kept in Pulumi state as a secret, so it never
regenerates; the chart reads them from Kubernetes Secrets created here (its own `lookup`-based
generation would rotate them under a renderer that cannot read the cluster).
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.k8s.helm import NONROOT_UID, container_security, helm_release, pod_security, release_record, resources
from components.k8s.namespace import namespace
from components.platform import ObjectStore
from strait.catalog.charts import ChartPin
from strait.naming import child
from strait.render.netpol import Allow, namespace_peer, tcp, within_namespace, workload_policy
from strait.tags import k8s_labels

RELEASE = "langfuse"  # also the chart's fullname: the sub-charts' default Secret names assume "langfuse"
WEB_SERVICE = f"{RELEASE}-web"
WEB_PORT = 3000
#: Local port of the documented `kubectl port-forward` (3000 is Grafana's); NextAuth redirects to it.
LOCAL_PORT = 3001
SERVICE_ACCOUNT = "langfuse"
CREDENTIALS = "langfuse-credentials"
POSTGRES_SECRET = "langfuse-postgres"
REDIS_SECRET = "langfuse-redis"
CLICKHOUSE_SECRET = "langfuse-clickhouse"
INIT_ORG = "strait"
INIT_PROJECT = "gateway"
ADMIN_EMAIL = "admin@strait.local"
CLICKHOUSE_OPERATOR_NS = "clickhouse-operator-system"


@dataclass(frozen=True, kw_only=True)
class LangfuseArgs:
    namespace: str
    storage: ObjectStore
    """The bucket for events, exports and media (``platform.object_store``); Langfuse runs as its
    ServiceAccount. The store expires raw events after ``trace_retention_days``."""
    langfuse: ChartPin
    cert_manager: ChartPin
    clickhouse_operator: ChartPin
    clickhouse_storage_gib: int = 50
    postgres_storage_gib: int = 20
    trace_retention_days: int = 30
    """Raw event uploads expire after this many days (the object store's lifecycle rule)."""
    storage_class: str = "gp3"
    client_namespaces: tuple[str, ...] = ()
    """Namespaces that send traces to the web service (the gateway's). Default: none."""
    egress: tuple[Allow, ...] = ()
    """Where Langfuse may connect outside its namespace besides the object store (whose ``egress`` is always
    allowed). Default: nowhere else."""


def _password(name: str, length: int, o: pulumi.ResourceOptions) -> pulumi.Output[str]:
    return pulumi.Output.secret(random.RandomPassword(name, length=length, special=False, opts=o).result)


def cert_manager_values() -> dict:
    """cert-manager (a Langfuse 2.0 prerequisite): CRDs, and every component non-root with requests and limits.

    The chart already drops capabilities and runs read-only with seccomp; its images are static binaries, so
    the distroless nonroot UID works for all four. tests/helm judges what Helm renders from these values."""
    sec = pod_security(NONROOT_UID)
    return {
        "crds": {"enabled": True},
        "securityContext": sec, "resources": resources("50m", "128Mi", "512Mi"),
        "webhook": {"securityContext": sec, "resources": resources("20m", "64Mi", "128Mi")},
        "cainjector": {"securityContext": sec, "resources": resources("20m", "128Mi", "512Mi")},
        "startupapicheck": {"securityContext": sec, "resources": resources("10m", "32Mi", "64Mi")},
    }


def clickhouse_operator_values() -> dict:
    """The ClickHouse operator (a Langfuse 2.0 prerequisite): cert-manager comes from its own release above."""
    return {"certManager": {"install": False},
            "manager": {"podSecurityContext": pod_security(NONROOT_UID)}}


def langfuse_values(args: LangfuseArgs) -> dict:
    """Chart values. Only Secret *references* appear here, so the values stay readable in the plan."""
    ref = lambda name, key: {"secretKeyRef": {"name": name, "key": key}}  # noqa: E731
    env_ref = lambda env, name, key: {"name": env, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}  # noqa: E731
    return {
        "fullnameOverride": RELEASE,
        "langfuse": {
            "salt": ref(CREDENTIALS, "salt"),
            "encryptionKey": ref(CREDENTIALS, "encryption-key"),
            "nextauth": {"url": f"http://localhost:{LOCAL_PORT}", "secret": ref(CREDENTIALS, "nextauth-secret")},
            "features": {"telemetryEnabled": False, "signUpDisabled": True},
            # Web and worker: the image's own user (nextjs, 1001; runAsNonRoot needs it numeric), nothing else.
            "podSecurityContext": pod_security(1001),
            "securityContext": container_security(read_only_root=False),
            "resources": resources("250m", "1Gi", "2Gi"),
            "serviceAccount": {"create": True, "name": args.storage.service_account,
                               **({"annotations": dict(args.storage.service_account_annotations)}
                                  if args.storage.service_account_annotations else {}),
                               # Langfuse never calls the Kubernetes API; EKS Pod Identity and GKE Workload
                               # Identity reach the cloud without this token.
                               "automountServiceAccountToken": False},
            # Headless initialisation: the organisation, project, its API keys (the gateway's) and an admin.
            "additionalEnv": [
                {"name": "LANGFUSE_INIT_ORG_ID", "value": INIT_ORG},
                {"name": "LANGFUSE_INIT_PROJECT_ID", "value": INIT_PROJECT},
                env_ref("LANGFUSE_INIT_PROJECT_PUBLIC_KEY", CREDENTIALS, "public-key"),
                env_ref("LANGFUSE_INIT_PROJECT_SECRET_KEY", CREDENTIALS, "secret-key"),
                {"name": "LANGFUSE_INIT_USER_EMAIL", "value": ADMIN_EMAIL},
                {"name": "LANGFUSE_INIT_USER_NAME", "value": "admin"},
                env_ref("LANGFUSE_INIT_USER_PASSWORD", CREDENTIALS, "admin-password"),
                # Cloud Storage: Langfuse's own GCS client (Application Default Credentials, so Workload
                # Identity), reading the bucket from the s3 settings below; its S3 client would need HMAC keys.
                *([{"name": "LANGFUSE_USE_GOOGLE_CLOUD_STORAGE", "value": "true"}]
                  if args.storage.protocol == "gcs" else []),
            ],
        },
        "postgresql": {
            "deploy": True,
            "auth": {"username": "langfuse", "database": "langfuse", "existingSecret": POSTGRES_SECRET,
                     "secretKeys": {"userPasswordKey": "password", "adminPasswordKey": "postgres-password"}},
            "storage": {"requestedSize": f"{args.postgres_storage_gib}Gi", "className": args.storage_class},
            "resources": resources("250m", "512Mi", "1Gi"),
            "initResources": resources("10m", "32Mi", "64Mi"),
            # The postgres image's user (999) owns its data directory layout; fsGroup makes the volume its own.
            "podSecurityContext": pod_security(None, fs_group=999),
            "securityContext": {**container_security(), "runAsUser": 999, "runAsGroup": 999},
            # groundhog2k sub-chart: read the superuser and the Langfuse user from the same Secret.
            "settings": {"existingSecret": POSTGRES_SECRET},
            "userDatabase": {"existingSecret": POSTGRES_SECRET},
        },
        "redis": {
            "deploy": True,
            "auth": {"existingSecret": REDIS_SECRET, "existingSecretPasswordKey": "default",
                     "usersExistingSecret": REDIS_SECRET},
            "dataStorage": {"enabled": True, "requestedSize": "8Gi", "className": args.storage_class},
            "resources": resources("100m", "256Mi", "512Mi"),
            "initResources": resources("10m", "16Mi", "32Mi"),
            # Valkey reads its config from a ConfigMap and writes only to the volume (fsGroup): any UID works.
            "podSecurityContext": pod_security(NONROOT_UID, fs_group=NONROOT_UID),
            "securityContext": {**container_security(), "runAsUser": NONROOT_UID},
        },
        "clickhouse": {
            "deploy": True,
            "auth": {"existingSecret": CLICKHOUSE_SECRET, "existingSecretKey": "password"},
            "cluster": {"replicas": 1, "storage": {"size": f"{args.clickhouse_storage_gib}Gi", "className": args.storage_class}},
            # 1 keeper is enough for a single replica; raise both for HA.
            "keeper": {"replicas": 1, "storage": {"size": "10Gi", "className": args.storage_class}},
        },
        "s3": {
            "deploy": False,
            "bucket": args.storage.bucket,
            "region": args.storage.region,
            **({"endpoint": args.storage.endpoint} if args.storage.endpoint else {}),
            "forcePathStyle": False,
            # No keys: Langfuse's S3 client takes the workload identity's credentials for its ServiceAccount.
            "eventUpload": {"prefix": "events/"},
            "batchExport": {"enabled": True, "prefix": "exports/"},
            "mediaUpload": {"enabled": True, "prefix": "media/"},
        },
    }


def langfuse_policies(args: LangfuseArgs) -> dict[str, dict]:
    """NetworkPolicies beyond the namespace's default deny: name -> spec.

    Web, worker, Postgres, ClickHouse (and its keeper) and Valkey talk among themselves on the charts'
    ports, so the namespace is open inside; the ClickHouse operator manages ClickHouse from its own
    namespace; clients reach only the web port; only the object store is reachable outside.
    """
    out = {"allow-within-namespace": within_namespace(),
           "allow-clickhouse-operator": workload_policy(None, ingress=[
               Allow((namespace_peer(CLICKHOUSE_OPERATOR_NS),), (), "the ClickHouse operator manages the cluster")])}
    if args.client_namespaces:
        out["allow-trace-clients"] = workload_policy(None, ingress=[Allow(
            tuple(namespace_peer(n) for n in sorted(set(args.client_namespaces))), tcp(WEB_PORT), "traces from the gateway")])
    egress = [*args.storage.egress, *args.egress]
    if egress:
        out["allow-object-store"] = workload_policy(None, egress=egress)
    return out


class Langfuse(pulumi.ComponentResource):
    host: str
    """In-cluster base URL the gateway sends traces to."""
    public_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]
    admin_password: pulumi.Output[str]

    def __init__(self, name: str, args: LangfuseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:observability:Langfuse", name, None, opts)
        if args.trace_retention_days < 1:
            raise ValueError("trace_retention_days must be at least 1")
        o = pulumi.ResourceOptions(parent=self)
        ns = args.namespace
        labels = k8s_labels(name="langfuse", instance=name, component="tracing", version=args.langfuse.app_version.split()[-1])
        meta = lambda n, namespace=ns: {"name": n, "namespace": namespace, "labels": labels}  # noqa: E731

        # --- credentials, pinned in Pulumi state ------------------------------------------------------
        self.public_key = pulumi.Output.concat("pk-lf-", _password(child(name, "public-key"), 32, o))
        self.secret_key = pulumi.Output.secret(pulumi.Output.concat("sk-lf-", _password(child(name, "secret-key"), 40, o)))
        self.admin_password = _password(child(name, "admin-password"), 24, o)
        # 256-bit key as 64 hex characters, as Langfuse requires: digits plus a-f as the "special" set.
        encryption_key = pulumi.Output.secret(random.RandomPassword(
            child(name, "encryption-key"), length=64, upper=False, lower=False, numeric=True, special=True,
            override_special="abcdef", opts=o).result)
        pg_user, pg_admin = _password(child(name, "postgres"), 32, o), _password(child(name, "postgres-admin"), 32, o)
        redis_pw, ch_pw = _password(child(name, "redis"), 32, o), _password(child(name, "clickhouse"), 32, o)

        ns_res = namespace(ns, child(name, "ns"), o)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns_res])
        for pname, spec in langfuse_policies(args).items():
            k8s.networking.v1.NetworkPolicy(child(name, pname), metadata=meta(pname), spec=spec, opts=in_ns)
        secrets = [
            k8s.core.v1.Secret(child(name, "credentials"), metadata=meta(CREDENTIALS), type="Opaque", string_data={
                "salt": _password(child(name, "salt"), 32, o), "encryption-key": encryption_key,
                "nextauth-secret": _password(child(name, "nextauth"), 48, o), "public-key": self.public_key,
                "secret-key": self.secret_key, "admin-password": self.admin_password}, opts=in_ns),
            k8s.core.v1.Secret(child(name, "postgres-secret"), metadata=meta(POSTGRES_SECRET), type="Opaque", string_data={
                "password": pg_user, "postgres-password": pg_admin, "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": pg_admin,
                "USERDB_USER": "langfuse", "USERDB_PASSWORD": pg_user, "POSTGRES_DB": "langfuse"}, opts=in_ns),
            k8s.core.v1.Secret(child(name, "redis-secret"), metadata=meta(REDIS_SECRET), type="Opaque",
                               string_data={"default": redis_pw}, opts=in_ns),
            k8s.core.v1.Secret(child(name, "clickhouse-secret"), metadata=meta(CLICKHOUSE_SECRET), type="Opaque",
                               string_data={"password": ch_pw}, opts=in_ns),
        ]

        # --- prerequisites of chart 2.0, then Langfuse ------------------------------------------------
        # Cluster-wide operators in namespaces of their own (Helm creates them).
        cm = helm_release(child(name, "cert-manager"), "cert-manager", "cert-manager", args.cert_manager,
                          cert_manager_values(), pulumi.ResourceOptions(parent=self), create_namespace=True)
        chop = helm_release(child(name, "clickhouse-operator"), "clickhouse-operator", CLICKHOUSE_OPERATOR_NS,
                            args.clickhouse_operator, clickhouse_operator_values(),
                            pulumi.ResourceOptions(parent=self, depends_on=[cm]), create_namespace=True)
        helm_release(child(name, "langfuse"), RELEASE, ns, args.langfuse, langfuse_values(args),
                     pulumi.ResourceOptions(parent=self, depends_on=[ns_res, chop, *args.storage.ready, *secrets]),
                     timeout_seconds=1500)
        self.releases = {n: release_record(p) for n, p in (("cert-manager", args.cert_manager),
                                                            ("clickhouse-operator", args.clickhouse_operator),
                                                            (RELEASE, args.langfuse))}
        self.host = f"http://{WEB_SERVICE}.{ns}.svc.cluster.local:{WEB_PORT}"
        self.web_service = WEB_SERVICE
        #: What a trace client's egress policy must allow.
        self.client_egress = Allow((namespace_peer(ns),), tcp(WEB_PORT), "Langfuse web (traces)")
        self.register_outputs({"host": self.host, "bucket": args.storage.bucket, "releases": self.releases})
