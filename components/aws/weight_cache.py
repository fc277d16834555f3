"""The weight cache: a private S3 bucket of model checkpoints, seeded once from Hugging Face.

Model servers stream weights from it (vLLM ``--load-format runai_streamer``) and never touch the hub.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws.iam import pod_identity_trust
from components.k8s.common import CONTAINER_SECURITY, POD_SECURITY
from strait import seeding
from strait.gpu_labels import MODEL_LABEL
from strait.naming import child, iam_role_name
from strait.render.netpol import Allow, cidr_peer, public_https, tcp, workload_policy
from strait.tags import k8s_labels

#: Written after a complete upload; model servers wait for it, the seeder skips when it exists.
COMPLETE_MARKER = seeding.COMPLETE_MARKER
HF_TOKEN_ENV = "HF_TOKEN"
HF_HUB_VERSION = "1.1.2"
BOTO3_VERSION = "1.40.76"
SEEDER_MOUNT = "/opt/strait"
#: The EKS Pod Identity agent (a hostNetwork DaemonSet) serves credentials on this link-local address
#: (AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials): readers and the seeder need it.
POD_IDENTITY_AGENT = Allow((cidr_peer("169.254.170.23/32"),), tcp(80), "EKS Pod Identity agent (credentials)")
#: S3's regional endpoints have public addresses that AWS changes, so a NetworkPolicy cannot name them:
#: HTTPS to public addresses is the narrowest rule that still reaches S3 (private ranges and the instance
#: metadata endpoint stay closed). See docs/network-policies.md.
S3_HTTPS = public_https("S3 (public addresses, HTTPS only)")
#: The seeder's source, shipped to the Job as a ConfigMap (strait/seeding.py imports nothing from Strait).
SEEDER_SOURCE = Path(seeding.__file__).read_text()


@dataclass(frozen=True, kw_only=True)
class SeedSpec:
    hf_repo: str
    revision: str
    weights_gib: float


@dataclass(frozen=True, kw_only=True)
class WeightCacheArgs:
    bucket_name: str
    cluster_name: pulumi.Input[str]
    namespace: str
    """Namespace of the seeding Jobs and of the readers' service accounts."""
    reader_service_accounts: list[str]
    """Service accounts that get read-only access through EKS Pod Identity."""
    models: dict[str, SeedSpec]
    """Checkpoints keyed by model name; each lives under models/<hf_repo>/<revision>/."""
    tags: dict[str, str]
    seeder_image: str
    seed: bool = True
    """Run one Job per model that copies it from the hub. Default: on."""
    hf_token: pulumi.Input[str] | None = None
    """Secret; needed for gated repos (Llama). Default: anonymous downloads."""
    force_destroy: bool = False
    """Let `pulumi destroy` delete a non-empty bucket. Default: off, the bucket must be emptied first."""
    labels: dict[str, str] = field(default_factory=dict)


def model_prefix(spec: SeedSpec) -> str:
    return f"models/{spec.hf_repo}/{spec.revision}"


def seed_command() -> str:
    """Install the two libraries the seeder needs (pinned), then run strait/seeding.py from the ConfigMap."""
    return (f'pip install --no-cache-dir --quiet "huggingface_hub=={HF_HUB_VERSION}" "boto3=={BOTO3_VERSION}" '
            f'&& exec python {SEEDER_MOUNT}/seeding.py')


class WeightCache(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    reader_role_arn: pulumi.Output[str]
    seed_jobs: dict[str, k8s.batch.v1.Job]

    def __init__(self, name: str, args: WeightCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:aws:WeightCache", name, None, opts)
        o = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(child(name, "bucket"), bucket=args.bucket_name, force_destroy=args.force_destroy,
                               tags=args.tags, opts=o)
        aws.s3.BucketOwnershipControls(child(name, "ownership"), bucket=bucket.id,
                                       rule={"object_ownership": "BucketOwnerEnforced"}, opts=o)
        aws.s3.BucketPublicAccessBlock(child(name, "public-access"), bucket=bucket.id, block_public_acls=True,
                                       block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True, opts=o)
        aws.s3.BucketServerSideEncryptionConfiguration(
            child(name, "sse"), bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}, "bucket_key_enabled": True}],
            opts=o)
        aws.s3.BucketVersioning(child(name, "versioning"), bucket=bucket.id,
                                versioning_configuration={"status": "Enabled"}, opts=o)
        # Re-seeding a revision would otherwise keep every old copy of 20-140 GiB checkpoints forever.
        aws.s3.BucketLifecycleConfiguration(child(name, "lifecycle"), bucket=bucket.id, rules=[{
            "id": "expire-noncurrent", "status": "Enabled", "filter": {"prefix": ""},
            "noncurrent_version_expiration": {"noncurrent_days": 7},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 2},
        }], opts=o)
        aws.s3.BucketPolicy(child(name, "tls-only"), bucket=bucket.id, policy=bucket.arn.apply(lambda arn: json.dumps({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }],
        }, sort_keys=True)), opts=o)

        reader = aws.iam.Role(child(name, "reader"), name=iam_role_name(str(args.bucket_name), "reader"),
                              assume_role_policy=pod_identity_trust(), tags=args.tags, opts=o)
        aws.iam.RolePolicy(child(name, "reader"), role=reader.id, policy=bucket.arn.apply(lambda arn: json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{arn}/models/*"},
                {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": arn},
            ],
        }, sort_keys=True)), opts=o)
        for sa in sorted(set(args.reader_service_accounts)):
            aws.eks.PodIdentityAssociation(child(name, f"reader-{sa}"), cluster_name=args.cluster_name,
                                           namespace=args.namespace, service_account=sa, role_arn=reader.arn,
                                           tags=args.tags, opts=o)

        self.seed_jobs = {}
        if args.seed and args.models:
            self._seeders(name, args, bucket, o)
        self.bucket_name = bucket.bucket
        self.reader_role_arn = reader.arn
        #: Where a reader (a model server streaming weights) must be allowed to connect.
        self.reader_egress: tuple[Allow, ...] = (POD_IDENTITY_AGENT, S3_HTTPS)
        self.register_outputs({"bucket_name": self.bucket_name, "reader_role_arn": self.reader_role_arn})

    def _seeders(self, name: str, args: WeightCacheArgs, bucket: aws.s3.Bucket, o: pulumi.ResourceOptions) -> None:
        writer = aws.iam.Role(child(name, "seeder"), name=iam_role_name(str(args.bucket_name), "seeder"),
                              assume_role_policy=pod_identity_trust(), tags=args.tags, opts=o)
        aws.iam.RolePolicy(child(name, "seeder"), role=writer.id, policy=bucket.arn.apply(lambda arn: json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                 "Resource": f"{arn}/models/*"},
                {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": arn},
            ],
        }, sort_keys=True)), opts=o)
        sa_name = "strait-weight-seeder"
        assoc = aws.eks.PodIdentityAssociation(child(name, "seeder"), cluster_name=args.cluster_name,
                                               namespace=args.namespace, service_account=sa_name, role_arn=writer.arn,
                                               tags=args.tags, opts=o)
        labels = {**k8s_labels(name="weight-seeder", instance=name, component="weight-cache"), **args.labels}
        sa = k8s.core.v1.ServiceAccount(child(name, "seeder"), metadata={"name": sa_name, "namespace": args.namespace,
                                                                          "labels": labels},
                                        automount_service_account_token=False, opts=o)
        token_secret = None
        if args.hf_token is not None:
            token_secret = k8s.core.v1.Secret(child(name, "hf-token"), metadata={
                "name": "strait-hf-token", "namespace": args.namespace, "labels": labels},
                type="Opaque", string_data={HF_TOKEN_ENV: pulumi.Output.secret(args.hf_token)}, opts=o)
        # The seeder only talks out (PyPI for its two libraries, the hub, S3); nothing may connect to it.
        k8s.networking.v1.NetworkPolicy(child(name, "seeder-netpol"), metadata={
            "name": "weight-seeder", "namespace": args.namespace, "labels": labels},
            spec=workload_policy({"app.kubernetes.io/name": "weight-seeder"}, egress=[
                POD_IDENTITY_AGENT, public_https("Hugging Face, PyPI and S3 (public addresses, HTTPS only)")]),
            opts=o)
        code = k8s.core.v1.ConfigMap(child(name, "seeder-code"), metadata={
            "name": "weight-seeder", "namespace": args.namespace, "labels": labels},
            data={"seeding.py": SEEDER_SOURCE}, opts=o)
        for model, spec in sorted(args.models.items()):
            env = [
                {"name": "BUCKET", "value": args.bucket_name},
                {"name": "PREFIX", "value": model_prefix(spec)},
                {"name": "HF_REPO", "value": spec.hf_repo},
                {"name": "REVISION", "value": spec.revision},
                {"name": "SCRATCH", "value": "/scratch"},
                {"name": "HF_HOME", "value": "/scratch/hf-home"},
                {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
                {"name": "PIP_CACHE_DIR", "value": "/scratch/pip"},
                {"name": "HOME", "value": "/scratch/home"},
                {"name": "PYTHONUSERBASE", "value": "/scratch/pyuser"},
                {"name": "PATH", "value": "/scratch/pyuser/bin:/usr/local/bin:/usr/bin:/bin"},
                {"name": "PIP_USER", "value": "1"},
            ]
            if token_secret is not None:
                env.append({"name": HF_TOKEN_ENV, "valueFrom": {"secretKeyRef": {"name": "strait-hf-token", "key": HF_TOKEN_ENV}}})
            scratch_gib = int(spec.weights_gib * 1.3) + 10
            job_labels = {**labels, MODEL_LABEL: model}
            self.seed_jobs[model] = k8s.batch.v1.Job(
                child(name, f"seed-{model}"),
                metadata={"name": f"seed-{model}", "namespace": args.namespace, "labels": job_labels,
                          "annotations": {"checkov.io/skip1": "CKV_K8S_8=a run-once Job serves nothing to probe",
                                          "checkov.io/skip2": "CKV_K8S_9=a run-once Job serves nothing to probe"}},
                spec={
                    "backoffLimit": 3,
                    "ttlSecondsAfterFinished": 86400,
                    "activeDeadlineSeconds": 4 * 3600,
                    "template": {
                        "metadata": {"labels": job_labels},
                        "spec": {
                            "serviceAccountName": sa_name,
                            # Pod Identity mounts its own projected token; the Kubernetes API token is not needed.
                            "automountServiceAccountToken": False,
                            "restartPolicy": "OnFailure",
                            "securityContext": POD_SECURITY,
                            "containers": [{
                                "name": "seed",
                                "image": args.seeder_image,
                                "imagePullPolicy": "IfNotPresent",
                                "command": ["/bin/sh", "-c", seed_command()],
                                "env": env,
                                "resources": {"requests": {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "1Gi"},
                                              "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "2Gi"}},
                                "securityContext": CONTAINER_SECURITY,
                                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"},
                                                 {"name": "code", "mountPath": SEEDER_MOUNT, "readOnly": True}],
                            }],
                            "volumes": [{"name": "code", "configMap": {"name": "weight-seeder"}},
                                        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {
                                "metadata": {"labels": job_labels},
                                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3",
                                         "resources": {"requests": {"storage": f"{scratch_gib}Gi"}}},
                            }}}],
                        },
                    },
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[assoc, sa, code] + ([token_secret] if token_secret else [])),
            )
