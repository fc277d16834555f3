"""The LiteLLM gateway: config (ConfigMap), keys (Secret), Deployment, Service and PDB."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.common import CONTAINER_SECURITY, POD_SECURITY, pdb_spec
from strait.naming import child
from strait.render.litellm import GatewaySpec, MASTER_KEY_ENV, dump, render_litellm_config
from strait.tags import k8s_labels, selector_labels

GATEWAY_PORT = 4000
CONFIG_PATH = "/etc/litellm/config.yaml"


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
    cpu_request: str = "500m"
    memory_request: str = "1Gi"
    memory_limit: str = "2Gi"


class LiteLLMGateway(pulumi.ComponentResource):
    url: str
    config_yaml: str
    """The rendered proxy config (no secrets: keys are os.environ/ references)."""

    def __init__(self, name: str, args: LiteLLMGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:gateway:LiteLLMGateway", name, None, opts)
        if MASTER_KEY_ENV in args.secret_env:
            raise ValueError(f"{MASTER_KEY_ENV} is set from master_key; do not pass it in secret_env")
        o = pulumi.ResourceOptions(parent=self)
        labels = k8s_labels(name="litellm", instance=name, component="gateway", version=args.version)
        sel = selector_labels(labels)
        meta = lambda n: {"name": n, "namespace": args.namespace, "labels": labels}  # noqa: E731
        self.config_yaml = dump(render_litellm_config(args.spec))

        k8s.core.v1.ServiceAccount(child(name, "sa"), metadata=meta(name), automount_service_account_token=False, opts=o)
        k8s.core.v1.ConfigMap(child(name, "config"), metadata=meta(f"{name}-config"),
                              data={"config.yaml": self.config_yaml}, opts=o)
        secret_name = f"{name}-keys"
        k8s.core.v1.Secret(child(name, "keys"), metadata=meta(secret_name), type="Opaque", string_data={
            MASTER_KEY_ENV: pulumi.Output.secret(args.master_key),
            **{k: pulumi.Output.secret(v) for k, v in sorted(args.secret_env.items())},
        }, opts=o)
        env = [{"name": k, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": k}}}
               for k in sorted([MASTER_KEY_ENV, *args.secret_env])]
        env.append({"name": "LITELLM_LOG", "value": "INFO"})
        probe = lambda path, period, failures: {  # noqa: E731
            "httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "failureThreshold": failures,
            "timeoutSeconds": 5}
        checksum = hashlib.sha256(self.config_yaml.encode()).hexdigest()
        k8s.apps.v1.Deployment(child(name, "deploy"), metadata=meta(name), spec={
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
                    "containers": [{
                        "name": "litellm",
                        "image": args.image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": ["--config", CONFIG_PATH, "--port", str(GATEWAY_PORT), "--num_workers", "1"],
                        "env": env,
                        "ports": [{"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"}],
                        "resources": {"requests": {"cpu": args.cpu_request, "memory": args.memory_request},
                                      "limits": {"memory": args.memory_limit}},
                        # /health itself calls every model upstream: never a probe.
                        "startupProbe": probe("/health/liveliness", 5, 24),
                        "livenessProbe": probe("/health/liveliness", 15, 4),
                        "readinessProbe": probe("/health/readiness", 10, 3),
                        "securityContext": CONTAINER_SECURITY,
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/litellm", "readOnly": True},
                                         {"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}},
                                {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
                },
            },
        }, opts=o)
        k8s.core.v1.Service(child(name, "svc"), metadata=meta(name), spec={
            "type": "ClusterIP", "selector": sel,
            "ports": [{"name": "http", "port": GATEWAY_PORT, "targetPort": "http", "protocol": "TCP"}],
        }, opts=o)
        k8s.policy.v1.PodDisruptionBudget(child(name, "pdb"), metadata=meta(name), spec=pdb_spec(args.replicas, sel), opts=o)
        # Clients anywhere in the cluster may call the gateway, on its port only.
        k8s.networking.v1.NetworkPolicy(child(name, "netpol"), metadata=meta(name), spec={
            "podSelector": {"matchLabels": sel}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {}}], "ports": [{"port": GATEWAY_PORT, "protocol": "TCP"}]}]},
            opts=o)
        self.url = f"http://{name}.{args.namespace}.svc.cluster.local:{GATEWAY_PORT}"
        self.register_outputs({"url": self.url})
