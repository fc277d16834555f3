"""A private, encrypted RDS for PostgreSQL instance for one workload (the gateway's teams, keys and spend).

Hardened once, here: private subnets only (``publicly_accessible=False``), storage and Performance Insights
encrypted with a key of its own (rotated), TLS forced by a parameter group (``rds.force_ssl``), automated
backups, deletion protection and a final snapshot, Postgres logs to CloudWatch, and a security group that
admits the Postgres port from the EKS cluster's security group alone (every node of a managed node group
carries it; with the VPC CNI a pod's traffic leaves from its node's ENI). The master password comes from the
random provider: a Pulumi secret, encrypted in state, handed on only inside the secret URL.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.platform import DATABASE_PASSWORD_LENGTH, POSTGRES_PORT, Database, postgres_url
from strait.naming import child, dns_label
from strait.render.netpol import Allow, cidr_peer, tcp

#: Major version only: RDS picks the newest minor and ``auto_minor_version_upgrade`` keeps it patched.
ENGINE_VERSION = "16"
PARAMETER_FAMILY = "postgres16"


def rds_identifier(cluster_name: str, purpose: str) -> str:
    """RDS identifiers: at most 63 letters, digits and single hyphens, starting with a letter."""
    label = dns_label(f"{cluster_name}-{purpose}", 63)
    while "--" in label:
        label = label.replace("--", "-")
    return label if label[0].isalpha() else f"db-{label}"[:63].rstrip("-")


@dataclass(frozen=True, kw_only=True)
class RdsPostgresArgs:
    identifier: str
    """Physical instance name (``rds_identifier``)."""
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    """Clients' NetworkPolicy egress allows the Postgres port to this range (the instance's address moves on
    failover, within the private subnets)."""
    private_subnet_ids: Sequence[pulumi.Input[str]]
    client_security_group_id: pulumi.Input[str]
    """The only source admitted on the Postgres port (the EKS cluster security group)."""
    db_name: str = "litellm"
    user: str = "litellm"
    instance_class: str = "db.t4g.medium"
    storage_gib: int = 20
    max_storage_gib: int = 100
    """Storage autoscaling ceiling. Default: 100 GiB."""
    high_availability: bool = False
    """Multi-AZ standby. Default: one instance (a failure costs a restore from backup)."""
    backup_retention_days: int = 7
    deletion_protection: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)


class RdsPostgres(pulumi.ComponentResource):
    database: Database

    def __init__(self, name: str, args: RdsPostgresArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:aws:RdsPostgres", name, None, opts)
        if not 1 <= args.backup_retention_days <= 35:
            raise ValueError(f"backup_retention_days={args.backup_retention_days}: RDS keeps 1-35 days of backups "
                             "(0 would turn backups off)")
        if not 20 <= args.storage_gib <= args.max_storage_gib:
            raise ValueError(f"storage_gib={args.storage_gib} must be at least 20 (gp3's minimum) and at most "
                             f"max_storage_gib={args.max_storage_gib}")
        o = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        key = aws.kms.Key(child(name, "kms"), description=f"Encryption of the {args.identifier} database",
                          enable_key_rotation=True, deletion_window_in_days=30, tags=tags, opts=o)
        subnets = aws.rds.SubnetGroup(child(name, "subnets"), name=args.identifier,
                                      subnet_ids=list(args.private_subnet_ids), tags=tags, opts=o)
        sg = aws.ec2.SecurityGroup(child(name, "sg"), vpc_id=args.vpc_id, name=args.identifier,
                                   description=f"Postgres ({args.identifier}) from the cluster only", tags=tags, opts=o)
        aws.vpc.SecurityGroupIngressRule(child(name, "from-cluster"), security_group_id=sg.id, ip_protocol="tcp",
                                         from_port=POSTGRES_PORT, to_port=POSTGRES_PORT,
                                         referenced_security_group_id=args.client_security_group_id,
                                         description="Postgres from the EKS cluster security group", tags=tags, opts=o)
        params = aws.rds.ParameterGroup(child(name, "params"), name=args.identifier, family=PARAMETER_FAMILY,
                                        description=f"TLS only for {args.identifier}",
                                        parameters=[{"name": "rds.force_ssl", "value": "1"},
                                                    {"name": "log_connections", "value": "1"},
                                                    {"name": "log_disconnections", "value": "1"}],
                                        tags=tags, opts=o)
        password = random.RandomPassword(child(name, "password"), length=DATABASE_PASSWORD_LENGTH, special=False,
                                         min_upper=4, min_lower=4, min_numeric=4, opts=o)
        instance = aws.rds.Instance(
            child(name, "db"),
            identifier=args.identifier,
            engine="postgres",
            engine_version=ENGINE_VERSION,
            auto_minor_version_upgrade=True,
            instance_class=args.instance_class,
            allocated_storage=args.storage_gib,
            max_allocated_storage=args.max_storage_gib,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=key.arn,
            db_name=args.db_name,
            username=args.user,
            password=password.result,
            port=POSTGRES_PORT,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[sg.id],
            parameter_group_name=params.name,
            publicly_accessible=False,
            multi_az=args.high_availability,
            backup_retention_period=args.backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{args.identifier}-final"[:255],
            delete_automated_backups=False,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            performance_insights_enabled=True,
            performance_insights_kms_key_id=key.arn,
            performance_insights_retention_period=7,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["password"]))
        self.database = Database(
            host=instance.address, port=POSTGRES_PORT, name=args.db_name, user=args.user,
            password=pulumi.Output.secret(password.result),
            url=postgres_url(args.user, password.result, instance.address, POSTGRES_PORT, args.db_name),
            egress=(Allow((cidr_peer(args.vpc_cidr),), tcp(POSTGRES_PORT), f"Postgres ({args.identifier}, RDS)"),),
            ready=(instance,))
        self.register_outputs({"host": instance.address, "identifier": args.identifier})
