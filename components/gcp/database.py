"""A private Cloud SQL for PostgreSQL instance for one workload (the gateway's teams, keys and spend).

Hardened once, here: no public IP (``ipv4_enabled=False``), a private IP in a range reserved for Google's
service networking and peered into the cluster's VPC, TLS required (``ssl_mode=ENCRYPTED_ONLY``), automated
backups with point-in-time recovery, deletion protection both in Pulumi and in the Cloud SQL API, connection
logging. The password comes from the random provider: a Pulumi secret, encrypted in state, handed on only
inside the secret URL. The project needs the Service Networking and Cloud SQL Admin APIs enabled.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Mapping

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from components.platform import DATABASE_PASSWORD_LENGTH, POSTGRES_PORT, Database, postgres_url
from strait.naming import child, dns_label
from strait.render.netpol import Allow, cidr_peer, tcp

DATABASE_VERSION = "POSTGRES_16"
#: Google's service producer for private services access (Cloud SQL's private IP lives behind it).
SERVICE_NETWORKING = "servicenetworking.googleapis.com"


def cloudsql_instance_name(cluster_name: str, purpose: str) -> str:
    """Cloud SQL instance names: lower-case letters, digits and hyphens, starting with a letter (kept to 63)."""
    label = dns_label(f"{cluster_name}-{purpose}", 63)
    return label if label[0].isalpha() else f"db-{label}"[:63].rstrip("-")


@dataclass(frozen=True, kw_only=True)
class CloudSqlPostgresArgs:
    project: str
    region: str
    instance_name: str
    network_id: pulumi.Input[str]
    """The cluster's VPC: the reserved range is peered into it."""
    reserved_cidr: str = "10.56.0.0/16"
    """Range reserved for Google's managed services (Cloud SQL's private IP comes from it). Clients'
    NetworkPolicy egress allows the Postgres port to it. Must not overlap the nodes', pods' and services'
    ranges. Default: 10.56.0.0/16."""
    db_name: str = "litellm"
    user: str = "litellm"
    tier: str = "db-custom-2-7680"
    """Machine tier. Default: 2 vCPU, 7.5 GiB."""
    storage_gib: int = 20
    high_availability: bool = False
    """REGIONAL availability (a standby in another zone). Default: ZONAL."""
    backup_retention_days: int = 7
    deletion_protection: bool = True
    labels: Mapping[str, str] = field(default_factory=dict)


class CloudSqlPostgres(pulumi.ComponentResource):
    database: Database

    def __init__(self, name: str, args: CloudSqlPostgresArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:gcp:CloudSqlPostgres", name, None, opts)
        net = ipaddress.ip_network(args.reserved_cidr)  # raises on a malformed range, before any resource
        if net.prefixlen > 24:
            raise ValueError(f"reserved_cidr={args.reserved_cidr}: service networking needs a /24 or larger range")
        if not 1 <= args.backup_retention_days <= 365:
            raise ValueError(f"backup_retention_days={args.backup_retention_days}: Cloud SQL keeps 1-365 backups")
        if args.storage_gib < 10:
            raise ValueError(f"storage_gib={args.storage_gib}: Cloud SQL's minimum is 10 GiB")
        o = pulumi.ResourceOptions(parent=self)
        reserved = gcp.compute.GlobalAddress(
            child(name, "range"), project=args.project, name=f"{args.instance_name}-psa"[:63], purpose="VPC_PEERING",
            address_type="INTERNAL", address=str(net.network_address), prefix_length=net.prefixlen,
            network=args.network_id, opts=o)
        peering = gcp.servicenetworking.Connection(child(name, "peering"), network=args.network_id,
                                                   service=SERVICE_NETWORKING,
                                                   reserved_peering_ranges=[reserved.name], opts=o)
        instance = gcp.sql.DatabaseInstance(
            child(name, "db"),
            project=args.project,
            region=args.region,
            name=args.instance_name,
            database_version=DATABASE_VERSION,
            deletion_protection=args.deletion_protection,
            settings={
                "tier": args.tier,
                "availability_type": "REGIONAL" if args.high_availability else "ZONAL",
                "disk_type": "PD_SSD",
                "disk_size": args.storage_gib,
                "disk_autoresize": True,
                "deletion_protection_enabled": args.deletion_protection,
                "ip_configuration": {"ipv4_enabled": False, "private_network": args.network_id,
                                     "ssl_mode": "ENCRYPTED_ONLY"},
                "backup_configuration": {"enabled": True, "point_in_time_recovery_enabled": True,
                                         "backup_retention_settings": {"retained_backups": args.backup_retention_days,
                                                                       "retention_unit": "COUNT"}},
                "database_flags": [{"name": "log_connections", "value": "on"},
                                   {"name": "log_disconnections", "value": "on"},
                                   {"name": "log_lock_waits", "value": "on"},
                                   {"name": "log_checkpoints", "value": "on"}],
                "user_labels": dict(args.labels),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[peering]))
        db = gcp.sql.Database(child(name, "database"), project=args.project, instance=instance.name,
                              name=args.db_name, opts=o)
        password = random.RandomPassword(child(name, "password"), length=DATABASE_PASSWORD_LENGTH, special=False,
                                         min_upper=4, min_lower=4, min_numeric=4, opts=o)
        user = gcp.sql.User(child(name, "user"), project=args.project, instance=instance.name, name=args.user,
                            password=password.result,
                            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["password"]))
        host = instance.private_ip_address
        self.database = Database(
            host=host, port=POSTGRES_PORT, name=args.db_name, user=args.user,
            password=pulumi.Output.secret(password.result),
            url=postgres_url(args.user, password.result, host, POSTGRES_PORT, args.db_name),
            egress=(Allow((cidr_peer(str(net)),), tcp(POSTGRES_PORT), f"Postgres ({args.instance_name}, Cloud SQL)"),),
            ready=(instance, db, user))
        self.register_outputs({"host": host, "instance": args.instance_name})
