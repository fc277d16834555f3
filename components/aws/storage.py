"""Private S3 buckets, hardened once: the weight cache and Langfuse's trace store both use them.

``private_bucket`` creates a bucket and the settings every Strait bucket gets: owner-enforced objects (no
ACLs), every public-access block on, default encryption with KMS (AWS-managed key, bucket key on),
versioning with old versions expired, incomplete multipart uploads aborted, and a policy that refuses
plain-HTTP requests. ``ObjectStore`` adds what a workload needs to use one: a Pod Identity role limited to
that bucket, bound to one ServiceAccount, and hands back :class:`components.platform.ObjectStore`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.aws.iam import pod_identity_role, s3_access_policy
from components.platform import ObjectStore
from strait.naming import child, iam_role_name

#: Old versions of an overwritten or deleted object are kept this long (a re-seed of a 20-140 GiB
#: checkpoint must not keep every previous copy forever).
NONCURRENT_DAYS = 7
ABORT_MULTIPART_DAYS = 2


def tls_only_policy(bucket_arn: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    }, sort_keys=True)


def lifecycle_rules(expire_days: Mapping[str, int]) -> list[dict]:
    """The base rule (old versions, stale multipart uploads), then one expiry rule per prefix."""
    bad = {p: d for p, d in expire_days.items() if d < 1 or not p}
    if bad:
        raise ValueError(f"expire_days needs non-empty prefixes and at least 1 day each, got {bad}")
    rules = [{"id": "expire-noncurrent", "status": "Enabled", "filter": {"prefix": ""},
              "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_DAYS},
              "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_MULTIPART_DAYS}}]
    for prefix, days in sorted(expire_days.items()):
        rules.append({"id": f"expire-{prefix.strip('/').replace('/', '-')}", "status": "Enabled",
                      "filter": {"prefix": prefix}, "expiration": {"days": days}})
    return rules


def private_bucket(name: str, *, bucket_name: str, tags: Mapping[str, str], opts: pulumi.ResourceOptions,
                   force_destroy: bool = False, expire_days: Mapping[str, int] | None = None) -> aws.s3.Bucket:
    """A hardened private bucket; its child resources are named ``{name}-<setting>``.

    ``expire_days``: prefix -> days after which current objects under it expire. Default: nothing expires
    (only old versions do). ``force_destroy``: let `pulumi destroy` delete a non-empty bucket. Default: off.
    """
    rules = lifecycle_rules(expire_days or {})  # raises before any resource exists
    bucket = aws.s3.Bucket(child(name, "bucket"), bucket=bucket_name, force_destroy=force_destroy, tags=dict(tags),
                           opts=opts)
    aws.s3.BucketOwnershipControls(child(name, "ownership"), bucket=bucket.id,
                                   rule={"object_ownership": "BucketOwnerEnforced"}, opts=opts)
    aws.s3.BucketPublicAccessBlock(child(name, "public-access"), bucket=bucket.id, block_public_acls=True,
                                   block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                                   opts=opts)
    aws.s3.BucketServerSideEncryptionConfiguration(
        child(name, "sse"), bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}, "bucket_key_enabled": True}],
        opts=opts)
    aws.s3.BucketVersioning(child(name, "versioning"), bucket=bucket.id,
                            versioning_configuration={"status": "Enabled"}, opts=opts)
    aws.s3.BucketLifecycleConfiguration(child(name, "lifecycle"), bucket=bucket.id, rules=rules, opts=opts)
    aws.s3.BucketPolicy(child(name, "tls-only"), bucket=bucket.id, policy=bucket.arn.apply(tls_only_policy), opts=opts)
    return bucket


@dataclass(frozen=True, kw_only=True)
class ObjectStoreArgs:
    bucket_name: str
    region: str
    cluster_name: pulumi.Input[str]
    namespace: str
    service_account: str
    """The one ServiceAccount (in ``namespace``) that may read, write and delete objects."""
    tags: Mapping[str, str]
    expire_days: Mapping[str, int] = field(default_factory=dict)
    """Prefix -> days after which objects under it expire. Default: nothing expires."""
    force_destroy: bool = False
    """Default: `pulumi destroy` refuses to delete a bucket that still holds objects."""
    egress: Sequence[object] = ()
    """NetworkPolicy rules a client needs to reach S3 and its credentials (strait.render.netpol.Allow)."""


class AwsObjectStore(pulumi.ComponentResource):
    """A private bucket for one workload, reached through EKS Pod Identity (no access keys anywhere)."""

    store: ObjectStore

    def __init__(self, name: str, args: ObjectStoreArgs, opts: pulumi.ResourceOptions | None = None,
                 child_aliases: Sequence[pulumi.Alias] = ()):
        super().__init__("strait:aws:ObjectStore", name, None, opts)
        o = pulumi.ResourceOptions(parent=self, aliases=list(child_aliases) or None)
        bucket = private_bucket(name, bucket_name=args.bucket_name, tags=args.tags, opts=o,
                                force_destroy=args.force_destroy, expire_days=args.expire_days)
        role = pod_identity_role(
            child(name, "role"), role_name=iam_role_name(args.bucket_name, name), cluster_name=args.cluster_name,
            policy=bucket.arn.apply(lambda arn: s3_access_policy(arn, ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"))),
            namespace=args.namespace, service_accounts=[args.service_account], tags=args.tags, opts=o,
            policy_resource_name=child(name, "s3"), association_names={args.service_account: child(name, "pod-identity")})
        self.store = ObjectStore(bucket=bucket.bucket, region=args.region, service_account=args.service_account,
                                 egress=tuple(args.egress), ready=tuple(role.associations.values()))
        self.register_outputs({"bucket": bucket.bucket, "role_arn": role.arn})
