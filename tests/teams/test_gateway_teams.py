"""The gateway with a database and teams, under Pulumi's mocks: DATABASE_URL from the Secret, the coordination
Redis rendered, the teams-sync Job (master key from the Secret, no key anywhere), NetworkPolicies both ways and
to the database, every object valid for Kubernetes (kubernetes-validate, strict)."""
from __future__ import annotations

import json

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components.k8s.litellm_gateway import LiteLLMGateway, LiteLLMGatewayArgs
from strait.gateway.teams import TeamSpec
from strait.plan.mocks import SECRET_MASK
from strait.render.litellm import GatewaySpec, ProviderModel, Tier
from strait.render.netpol import Allow, cidr_peer, tcp

MASTER = "sk-plain-text-master-key-that-must-not-leak-0123456789"
DB_URL = "postgresql://litellm:plain-text-db-password@db.internal:5432/litellm?sslmode=require"
SPEC = GatewaySpec(tiers={"commercial": Tier(providers=(ProviderModel(provider="openai", model="gpt-5-mini"),))})
TEAMS = {"search": TeamSpec(monthly_budget_usd=500, models=("commercial",), rpm_limit=600)}
DB_EGRESS = Allow((cidr_peer("10.40.0.0/16"),), tcp(5432), "Postgres")


def _build(monitor, **over):
    args = dict(namespace="strait-gateway", spec=SPEC, image="ghcr.io/berriai/litellm:v1.109.1", version="1.109.1",
                master_key=MASTER, secret_env={"OPENAI_API_KEY": "plain-openai-key"}, replicas=2,
                redis_image="valkey/valkey:8.1.9-alpine", redis_password="plain-redis-pw", database_url=DB_URL,
                teams=TEAMS, egress=(DB_EGRESS,))
    args.update(over)

    @pulumi.runtime.test
    def build():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        return LiteLLMGateway("litellm", LiteLLMGatewayArgs(**args),
                              opts=pulumi.ResourceOptions(providers={"kubernetes": provider})).urn
    build()
    return {f"{r.type.split(':')[-1]}:{r.inputs['metadata']['name']}": r for r in monitor.registrations
            if r.type.startswith("kubernetes:") and r.custom and "metadata" in r.inputs}


def _manifest(rec) -> dict:
    group = rec.type.split(":")[1]
    version = rec.type.split(":")[2]
    api = version if group == "core" else f"{group}.k8s.io/{version}" if group == "networking" else f"{group}/{version}"
    return {"apiVersion": api, "kind": rec.type.split(":")[-1], **rec.inputs}


def test_database_url_and_teams_job(monitor):
    objs = _build(monitor)
    config = yaml.safe_load(objs["ConfigMap:litellm-config"].inputs["data"]["config.yaml"])
    general = config["general_settings"]
    assert general["database_url"] == "os.environ/DATABASE_URL"
    assert general["coordination_redis"]["url"] == "os.environ/REDIS_URL"  # team RPM/TPM across replicas
    keys = objs["Secret:litellm-keys"].inputs["stringData"]
    assert keys["DATABASE_URL"] == SECRET_MASK and keys["LITELLM_MASTER_KEY"] == SECRET_MASK
    env = objs["Deployment:litellm"].inputs["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "litellm-keys", "key": "DATABASE_URL"}}} in env

    job = objs["Job:litellm-teams-sync"]
    pod = job.inputs["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert c["command"] == ["python", "/etc/strait-teams/strait_teams.py", "sync", "--gateway",
                            "http://litellm.strait-gateway.svc.cluster.local:4000", "--teams",
                            "/etc/strait-teams/teams.json"]
    assert c["env"][0] == {"name": "LITELLM_MASTER_KEY",
                           "valueFrom": {"secretKeyRef": {"name": "litellm-keys", "key": "LITELLM_MASTER_KEY"}}}
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    deploy = objs["Deployment:litellm"]
    assert deploy.urn in job.dependencies  # runs after the gateway rolled out
    teams = json.loads(objs["ConfigMap:litellm-teams-sync"].inputs["data"]["teams.json"])
    assert teams["search"]["max_budget"] == 500 and teams["search"]["budget_duration"] == "1mo"

    # the Job may reach the gateway's API port and nothing else; the gateway admits it; the gateway reaches the DB
    jpol = objs["NetworkPolicy:litellm-teams-sync"].inputs["spec"]
    assert "ingress" not in jpol and [p["port"] for r in jpol["egress"] for p in r["ports"]] == [4000]
    gpol = objs["NetworkPolicy:litellm"].inputs["spec"]
    job_sel = jpol["podSelector"]["matchLabels"]
    assert any(peer.get("podSelector", {}).get("matchLabels") == job_sel and r["ports"] == [{"port": 4000, "protocol": "TCP"}]
               for r in gpol["ingress"] for peer in r["from"])
    assert {"to": [{"ipBlock": {"cidr": "10.40.0.0/16"}}], "ports": [{"port": 5432, "protocol": "TCP"}]} in gpol["egress"]

    # no secret in any object but the Secrets (masked), and every object valid for Kubernetes
    text = json.dumps({k: r.inputs for k, r in objs.items()})
    for secret in (MASTER, "plain-text-db-password", "plain-openai-key", "plain-redis-pw"):
        assert secret not in text
    for rec in objs.values():
        kubernetes_validate.validate(_manifest(rec), "1.35.0", strict=True)


def test_no_teams_no_job(monitor):
    objs = _build(monitor, teams={})
    assert not [k for k in objs if "teams-sync" in k]


def test_teams_without_a_database_are_refused(monitor):
    with pytest.raises(ValueError, match=r"teams \['search'\] need database_url"):
        _build(monitor, database_url=None)
