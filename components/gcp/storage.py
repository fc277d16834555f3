"""Private GCS buckets, hardened once: the weight cache and Langfuse's trace store both use them.

``private_bucket`` creates a bucket with the settings every Strait bucket gets: uniform bucket-level
access (IAM only, so no object ACLs and no public ACLs), public access prevention enforced, versioning
with old versions deleted after a week, stale multipart uploads aborted, no soft-delete surcharge, and
per-prefix expiry. ``GcsObjectStore`` adds what one workload needs: a Google service account with
``roles/storage.objectUser`` on that bucket only, bound through Workload Identity to one Kubernetes
ServiceAccount, handed back as :class:`components.platform.ObjectStore`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_gcp as gcp

from components.platform import ObjectStore
from strait.naming import child, dns_label
from strait.render.netpol import Allow, cidr_peer, public_https, tcp

#: Old versions of an overwritten or deleted object are kept this long.
NONCURRENT_DAYS = 7
ABORT_MULTIPART_DAYS = 2
WI_ANNOTATION = "iam.gke.io/gcp-service-account"
#: GKE's metadata server answers Workload Identity token requests on 169.254.169.254:80; on the iptables
#: datapath the node DNATs that to 169.254.169.252:988 before policy applies, so both are allowed.
GKE_METADATA = Allow((cidr_peer("169.254.169.254/32"), cidr_peer("169.254.169.252/32")), tcp(80, 988),
                     "GKE metadata server (Workload Identity tokens)")
#: storage.googleapis.com: public addresses, reached from private nodes via Private Google Access.
GCS_HTTPS = public_https("Cloud Storage (Google APIs, HTTPS only)")


def lifecycle_rules(expire_days: Mapping[str, int]) -> list[gcp.storage.BucketLifecycleRuleArgs]:
    """Old versions and stale multipart uploads first, then one expiry rule per prefix."""
    bad = {p: d for p, d in expire_days.items() if d < 1 or not p}
    if bad:
        raise ValueError(f"expire_days needs non-empty prefixes and at least 1 day each, got {bad}")
    rule, act, cond = (gcp.storage.BucketLifecycleRuleArgs, gcp.storage.BucketLifecycleRuleActionArgs,
                       gcp.storage.BucketLifecycleRuleConditionArgs)
    rules = [rule(action=act(type="Delete"), condition=cond(days_since_noncurrent_time=NONCURRENT_DAYS,
                                                              with_state="ARCHIVED")),
             rule(action=act(type="AbortIncompleteMultipartUpload"), condition=cond(age=ABORT_MULTIPART_DAYS))]
    for prefix, days in sorted(expire_days.items()):
        rules.append(rule(action=act(type="Delete"), condition=cond(age=days, matches_prefixes=[prefix],
                                                                      with_state="LIVE")))
    return rules


def private_bucket(name: str, *, bucket_name: str, project: str, region: str, labels: Mapping[str, str],
                   opts: pulumi.ResourceOptions, force_destroy: bool = False,
                   expire_days: Mapping[str, int] | None = None) -> gcp.storage.Bucket:
    """A hardened private bucket named ``{name}-bucket``, regional (in the cluster's region: no
    inter-region egress). ``expire_days``: prefix -> days after which live objects under it are deleted.
    Default: only old versions expire."""
    rules = lifecycle_rules(expire_days or {})  # raises before any resource exists
    return gcp.storage.Bucket(
        child(name, "bucket"), name=bucket_name, project=project, location=region.upper(), storage_class="STANDARD",
        uniform_bucket_level_access=True, public_access_prevention="enforced",
        versioning=gcp.storage.BucketVersioningArgs(enabled=True), lifecycle_rules=rules,
        # Versioning already keeps overwritten objects for NONCURRENT_DAYS; soft delete would bill deleted
        # checkpoints (20-140 GiB each) for another 7 days on top.
        soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(retention_duration_seconds=0),
        force_destroy=force_destroy, labels=dict(labels), opts=opts)


def workload_identity_member(workload_pool: str, namespace: str, service_account: str) -> str:
    """The IAM principal of a Kubernetes ServiceAccount under Workload Identity Federation for GKE."""
    return f"serviceAccount:{workload_pool}[{namespace}/{service_account}]"


def gsa_account_id(bucket_name: str, purpose: str) -> str:
    """Google service account ids are 6-30 characters of lower-case letters, digits and '-', starting with a
    letter. A short hash of the (globally unique) bucket name keeps two stacks with a long common prefix apart."""
    h = hashlib.sha256(bucket_name.encode()).hexdigest()[:6]
    room = 30 - len(h) - len(purpose) - 2
    base = dns_label(bucket_name, 63)[:room].rstrip("-") or "s"
    return f"{base}-{h}-{purpose}"


def workload_gsa(name: str, *, account_id: str, display_name: str, project: str, workload_pool: str,
                 namespace: str, service_accounts: Sequence[str], opts: pulumi.ResourceOptions,
                 binding_names: Mapping[str, str] | None = None) -> tuple[gcp.serviceaccount.Account, dict]:
    """A Google service account that the given Kubernetes ServiceAccounts may act as (Workload Identity).
    Returns the account and the IAM bindings keyed by Kubernetes ServiceAccount."""
    gsa = gcp.serviceaccount.Account(name, account_id=account_id, display_name=display_name, project=project,
                                     opts=opts)
    names = binding_names or {}
    bindings = {sa: gcp.serviceaccount.IAMMember(
        names.get(sa, child(name, f"wi-{sa}")), service_account_id=gsa.name, role="roles/iam.workloadIdentityUser",
        member=workload_identity_member(workload_pool, namespace, sa), opts=opts)
        for sa in sorted(set(service_accounts))}
    return gsa, bindings


@dataclass(frozen=True, kw_only=True)
class ObjectStoreArgs:
    bucket_name: str
    project: str
    region: str
    workload_pool: str
    namespace: str
    service_account: str
    """The one Kubernetes ServiceAccount (in ``namespace``) that may read, write and delete objects."""
    labels: Mapping[str, str]
    expire_days: Mapping[str, int] = field(default_factory=dict)
    force_destroy: bool = False


class GcsObjectStore(pulumi.ComponentResource):
    """A private bucket for one workload, reached through Workload Identity (no keys anywhere)."""

    store: ObjectStore

    def __init__(self, name: str, args: ObjectStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:gcp:ObjectStore", name, None, opts)
        o = pulumi.ResourceOptions(parent=self)
        bucket = private_bucket(name, bucket_name=args.bucket_name, project=args.project, region=args.region,
                                labels=args.labels, opts=o, force_destroy=args.force_destroy,
                                expire_days=args.expire_days)
        gsa, bindings = workload_gsa(child(name, "gsa"), account_id=gsa_account_id(args.bucket_name, "rw"),
                                     display_name=f"Strait {name} object store", project=args.project,
                                     workload_pool=args.workload_pool, namespace=args.namespace,
                                     service_accounts=[args.service_account], opts=o)
        grant = gcp.storage.BucketIAMMember(child(name, "object-user"), bucket=bucket.name,
                                            role="roles/storage.objectUser", member=gsa.member, opts=o)
        self.store = ObjectStore(bucket=bucket.name, region=args.region, service_account=args.service_account,
                                 service_account_annotations={WI_ANNOTATION: gsa.email}, protocol="gcs",
                                 egress=(GKE_METADATA, GCS_HTTPS), ready=(grant, *bindings.values()))
        self.register_outputs({"bucket": bucket.name, "service_account_email": gsa.email})
