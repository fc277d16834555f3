"""platform.database on both clouds, under Pulumi's mocks: the hardening fields of RDS and Cloud SQL, the
cloud-neutral Database value (host, port, secret URL, egress), and no password anywhere in plain text."""
from __future__ import annotations

import pulumi
import pytest

from components.aws.database import rds_identifier
from components.aws.platform import AwsPlatformArgs, AwsPoolSpec, build_aws_platform
from components.aws.weight_cache import SeedSpec as AwsSeed
from components.context import StackContext
from components.gcp.database import CloudSqlPostgres, CloudSqlPostgresArgs, cloudsql_instance_name
from components.gcp.platform import GcpPlatformArgs, GcpPoolSpec, build_gcp_platform
from components.gcp.weight_cache import SeedSpec as GcpSeed
from components.platform import Database
from strait.catalog import load_catalog
from strait.plan.mocks import GCP_PROJECT, SECRET_MASK
from tests.helpers import of_type, one

CTX = StackContext(project="strait", stack="test", blueprint="phase2_scale", cost_center="ml")
CAT = load_catalog()


def _aws() -> AwsPlatformArgs:
    return AwsPlatformArgs(
        region="ap-southeast-1", cluster_name="strait-test", kubernetes_version="1.35", vpc_cidr="10.40.0.0/16",
        availability_zones=("ap-southeast-1a", "ap-southeast-1b"), nat_gateways="single",
        system_instance_type="m7i.xlarge", system_nodes=2,
        pools={"t4x4": AwsPoolSpec(instance_types=("g4dn.12xlarge",), min_size=1, max_size=2, desired_size=1)},
        serving_namespace="strait-serving",
        models={"qwen7b": AwsSeed(hf_repo="Qwen/Qwen2.5-7B-Instruct", revision="main", weights_gib=15)},
        seeder_image="python:3.12-slim", wait_image="aws-cli:2", device_plugin_image="nvidia:1",
        device_plugin_version="0.17.4")


def _gcp() -> GcpPlatformArgs:
    return GcpPlatformArgs(
        project=GCP_PROJECT, region="asia-southeast1", cluster_name="strait-test", kubernetes_version="1.35",
        serving_namespace="strait-serving", seeder_image="python:3.12-slim", wait_image="gcloud:1",
        pools={"l4": GcpPoolSpec(machine_type="g2-standard-48", max_nodes=2)},
        models={"qwen7b": GcpSeed(hf_repo="Qwen/Qwen2.5-7B-Instruct", revision="main", weights_gib=15)})


def _database(build, args, **kw) -> dict:
    out: dict = {}

    @pulumi.runtime.test
    def run():
        db = build(args, CTX, CAT).database("litellm", **kw)
        out["db"] = db
        return pulumi.Output.all(db.host, db.url, db.password).apply(lambda v: out.update(host=v[0], url=v[1], pw=v[2]))

    run()
    return out


def _no_plain_password(monitor, password: str) -> None:
    for r in monitor.registrations:
        assert password not in repr(r.inputs), f"{r.type} {r.name} carries the database password in plain text"


def test_rds_is_private_encrypted_backed_up_and_protected(monitor):
    got = _database(build_aws_platform, _aws())
    db: Database = got["db"]
    inst = one(monitor, "aws:rds/instance:Instance").inputs
    assert inst["identifier"] == "strait-test-litellm" and inst["engine"] == "postgres"
    assert inst["publiclyAccessible"] is False and inst["storageEncrypted"] is True
    db_keys = [k for k in of_type(monitor, "aws:kms/key:Key") if k.name == "db-litellm-kms"]
    assert db_keys and db_keys[0].inputs["enableKeyRotation"] is True  # its own key, not the cluster's
    assert inst["kmsKeyId"].startswith("arn:aws:kms:") and inst["performanceInsightsKmsKeyId"] == inst["kmsKeyId"]
    assert inst["deletionProtection"] is True and inst["skipFinalSnapshot"] is False
    assert inst["finalSnapshotIdentifier"] == "strait-test-litellm-final"
    assert inst["backupRetentionPeriod"] == 7 and inst["copyTagsToSnapshot"] is True
    assert inst["password"] == SECRET_MASK  # a secret input, masked by the recording monitor
    params = {p["name"]: p["value"] for p in one(monitor, "aws:rds/parameterGroup:ParameterGroup").inputs["parameters"]}
    assert params["rds.force_ssl"] == "1"
    subnets = one(monitor, "aws:rds/subnetGroup:SubnetGroup").inputs["subnetIds"]
    private = [r for r in of_type(monitor, "aws:ec2/subnet:Subnet") if r.name.startswith("net-private-")]
    assert len(subnets) == len(private) == 2
    # the only way in: the Postgres port from the EKS cluster security group
    [rule] = of_type(monitor, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert (rule.inputs["fromPort"], rule.inputs["toPort"], rule.inputs["ipProtocol"]) == (5432, 5432, "tcp")
    assert rule.inputs["referencedSecurityGroupId"].startswith("sg-") and "cidrIpv4" not in rule.inputs
    assert not of_type(monitor, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    # the value the blueprint gets
    assert got["host"].startswith("strait-test-litellm.") and got["host"].endswith(".rds.amazonaws.com")
    assert (db.port, db.name, db.user) == (5432, "litellm", "litellm")
    assert got["url"] == f"postgresql://litellm:{got['pw']}@{got['host']}:5432/litellm?sslmode=require"
    [pw] = [r for r in of_type(monitor, "random:index/randomPassword:RandomPassword") if r.name == "db-litellm-password"]
    assert (pw.inputs["length"], pw.inputs["special"]) == (40, False)  # URL-safe, none of the characters RDS refuses
    [allow] = db.egress
    assert allow.peers == ({"ipBlock": {"cidr": "10.40.0.0/16"}},) and [p.port for p in allow.ports] == [5432]
    assert [r._name for r in db.ready] == ["db-litellm-db"]
    _no_plain_password(monitor, got["pw"])


def test_rds_high_availability_is_multi_az(monitor):
    _database(build_aws_platform, _aws(), high_availability=True, backup_retention_days=14)
    inst = one(monitor, "aws:rds/instance:Instance").inputs
    assert inst["multiAz"] is True and inst["backupRetentionPeriod"] == 14


def test_cloud_sql_has_a_private_ip_only_and_requires_tls(monitor):
    got = _database(build_gcp_platform, _gcp())
    db: Database = got["db"]
    inst = one(monitor, "gcp:sql/databaseInstance:DatabaseInstance").inputs
    s = inst["settings"]
    assert inst["name"] == "strait-test-litellm" and inst["databaseVersion"] == "POSTGRES_16"
    assert inst["deletionProtection"] is True and s["deletionProtectionEnabled"] is True
    ip = s["ipConfiguration"]
    assert ip["ipv4Enabled"] is False and ip["sslMode"] == "ENCRYPTED_ONLY" and ip["privateNetwork"]
    backups = s["backupConfiguration"]
    assert backups["enabled"] is True and backups["pointInTimeRecoveryEnabled"] is True
    assert backups["backupRetentionSettings"]["retainedBackups"] == 7
    rng = one(monitor, "gcp:compute/globalAddress:GlobalAddress").inputs
    assert (rng["purpose"], rng["addressType"], rng["address"], rng["prefixLength"]) == ("VPC_PEERING", "INTERNAL", "10.56.0.0", 16)
    peering = one(monitor, "gcp:servicenetworking/connection:Connection")
    assert peering.inputs["service"] == "servicenetworking.googleapis.com"
    inst_rec = one(monitor, "gcp:sql/databaseInstance:DatabaseInstance")
    assert peering.urn in inst_rec.dependencies  # the private IP needs the peering first
    assert one(monitor, "gcp:sql/user:User").inputs["password"] == SECRET_MASK
    assert got["url"] == f"postgresql://litellm:{got['pw']}@10.56.0.3:5432/litellm?sslmode=require"
    [allow] = db.egress
    assert allow.peers == ({"ipBlock": {"cidr": "10.56.0.0/16"}},) and [p.port for p in allow.ports] == [5432]
    _no_plain_password(monitor, got["pw"])


@pytest.mark.parametrize("over, message", [
    ({"reserved_cidr": "10.56.0.0/28"}, "service networking needs a /24 or larger range"),
    ({"backup_retention_days": 0}, "Cloud SQL keeps 1-365 backups"),
    ({"storage_gib": 5}, "Cloud SQL's minimum is 10 GiB"),
])
def test_cloud_sql_refuses_bad_arguments_before_any_resource(monitor, over, message):
    args = dict(project=GCP_PROJECT, region="asia-southeast1", instance_name="x-litellm", network_id="net") | over
    with pytest.raises(ValueError, match=message):
        CloudSqlPostgres("db", CloudSqlPostgresArgs(**args))
    assert not of_type(monitor, "gcp:sql/databaseInstance:DatabaseInstance")


def test_physical_names_respect_each_clouds_limits():
    long = "strait-" + "x" * 70
    for name in (rds_identifier(long, "litellm"), cloudsql_instance_name(long, "litellm"),
                 rds_identifier("9lives--stack", "litellm")):
        assert len(name) <= 63 and name[0].isalpha() and not name.endswith("-"), name
    assert "--" not in rds_identifier("9lives--stack", "litellm")


def test_cloud_sql_range_must_not_overlap_the_clusters_ranges(monitor):
    import dataclasses

    args = dataclasses.replace(_gcp(), database_reserved_cidr="10.48.0.0/16")  # inside the default pods range

    @pulumi.runtime.test
    def run():
        platform = build_gcp_platform(args, CTX, CAT)
        with pytest.raises(ValueError, match=r"database_reserved_cidr 10.48.0.0/16 overlaps pods_cidr 10.48.0.0/14"):
            platform.database("litellm")
        return platform.cluster_name
    run()
    assert not of_type(monitor, "gcp:sql/databaseInstance:DatabaseInstance")
