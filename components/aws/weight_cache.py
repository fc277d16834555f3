"""The weight cache: a private S3 bucket of model checkpoints, seeded once from Hugging Face.

Model servers stream weights from it (vLLM ``--load-format runai_streamer``) and never touch the hub. The
cache hands the blueprint one :class:`components.platform.WeightSource` per model (``weights``): the URI,
an init container that waits for the completion marker (argv only, no shell), the ServiceAccount that may
read, and the seeding Job a reader must wait for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws.iam import pod_identity_role, s3_access_policy
from components.aws.storage import private_bucket
from components.k8s.common import CONTAINER_SECURITY, POD_SECURITY
from components.platform import PodPriority, WeightSource, pod_priority_fields
from strait import seeding
from strait.gpu_labels import MODEL_LABEL
from strait.config.sections import hf_revision_problem
from strait.naming import child, iam_role_name
from strait.render.netpol import Allow, cidr_peer, cidr_peers, public_https, tcp, workload_policy
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


def s3_egress(s3_cidrs) -> Allow:
    """HTTPS to the region's S3 prefix list only (an Output of the VPC gateway endpoint's CIDRs): a model
    server reaches S3 and nothing else on the internet."""
    return Allow((), tcp(443), "S3 (the region's prefix list, through the VPC's gateway endpoint)",
                 deferred_peers=s3_cidrs.apply(cidr_peers))
#: The seeder's source, shipped to the Job as a ConfigMap (strait/seeding.py imports nothing from Strait).
SEEDER_SOURCE = Path(seeding.__file__).read_text()


@dataclass(frozen=True, kw_only=True)
class SeedSpec:
    hf_repo: str
    revision: str
    weights_gib: float
    reader: str | None = None
    """The ServiceAccount that reads this checkpoint when it is not the key's own (a LoRA adapter or a draft
    model is read by its base model's server). Default: the key."""


@dataclass(frozen=True, kw_only=True)
class WeightCacheArgs:
    bucket_name: str
    cluster_name: pulumi.Input[str]
    namespace: str
    """Namespace of the seeding Jobs and of the readers' service accounts."""
    reader_service_accounts: list[str]
    """Service accounts that get read-only access through EKS Pod Identity. Each model's WeightSource names
    the account with the model's key, which must be among them."""
    models: dict[str, SeedSpec]
    """Checkpoints keyed by model name; each lives under models/<hf_repo>/<revision>/."""
    tags: dict[str, str]
    seeder_image: str
    region: str
    """The bucket's region (the readers' S3 client and the wait container use it)."""
    wait_image: str
    """AWS CLI image of the init container that waits for a model's completion marker."""
    seed: bool = True
    """Run one Job per model that copies it from the hub. Default: on."""
    hf_token: pulumi.Input[str] | None = None
    """Secret; needed for gated repos (Llama). Default: anonymous downloads."""
    force_destroy: bool = False
    """Let `pulumi destroy` delete a non-empty bucket. Default: off, the bucket must be emptied first."""
    labels: dict[str, str] = field(default_factory=dict)
    seed_priority: PodPriority | None = None
    """PriorityClass of the seeding pods (the platform's ``batch``: below the model servers, never preempting),
    with the resources creating it; the Jobs depend on them. Default: none (priority 0)."""
    object_store_egress: Allow | None = None
    """What readers may reach to stream weights (``s3_egress`` of the VPC's S3 endpoint). Default: HTTPS to any
    public address (S3_HTTPS)."""


def model_prefix(spec: SeedSpec) -> str:
    return f"models/{spec.hf_repo}/{spec.revision}"


def check_args(args: WeightCacheArgs) -> list[str]:
    """Every problem with the args, before any resource exists. A revision becomes an object key and an argv
    entry, so only safe Hugging Face refs pass (the same check the stack config makes)."""
    problems = []
    for model, spec in sorted(args.models.items()):
        problem = hf_revision_problem(spec.revision)
        if problem:
            problems.append(f"models.{model}.revision {spec.revision!r} {problem}")
        reader = spec.reader or model
        if reader not in args.reader_service_accounts:
            problems.append(f"models.{model}: no reader ServiceAccount named {reader!r} (reader_service_accounts)")
    return problems


def reader_accounts(args: WeightCacheArgs) -> list[str]:
    """The ServiceAccounts bound to the reader identity: ``reader_service_accounts`` less the keys of
    checkpoints another account reads (an adapter's key names no ServiceAccount, so it gets no binding)."""
    borrowed = {m for m, s in args.models.items() if s.reader and s.reader != m}
    return [sa for sa in args.reader_service_accounts if sa not in borrowed]


def wait_container(bucket: str, key: str, image: str, region: str) -> dict:
    """Init container that exits 0 once ``s3://bucket/key`` exists. Argv only: no shell ever sees the key.

    ``aws s3api wait object-exists`` polls HeadObject every 5 s and exits 255 after 20 tries (AWS CLI
    reference, s3api wait object-exists); Kubernetes then restarts the init container (the pod's
    restartPolicy is Always) with its back-off, so the pod keeps waiting for as long as seeding takes.
    """
    return {
        "name": "wait-for-weights",
        "image": image,
        "command": ["aws", "s3api", "wait", "object-exists", "--bucket", bucket, "--key", key],
        "env": [{"name": "HOME", "value": "/tmp"}, {"name": "AWS_REGION", "value": region}],
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    }


def sync_container(bucket: str, prefix: str, image: str, region: str, dest: str) -> dict:
    """Init container that copies ``s3://bucket/prefix/`` into ``dest`` (an emptyDir the pod mounts there).
    Argv only: no shell sees the prefix. Run after the wait container, so the checkpoint is complete.

    ``aws s3 sync`` copies every object under the prefix (recursively) and exits non-zero on any failure;
    Kubernetes then restarts the init container, and a rerun copies only what is missing."""
    return {
        "name": "sync-weights",
        "image": image,
        "command": ["aws", "s3", "sync", f"s3://{bucket}/{prefix}/", dest, "--no-progress", "--only-show-errors"],
        "env": [{"name": "HOME", "value": "/tmp"}, {"name": "AWS_REGION", "value": region}],
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    }


def seed_command() -> str:
    """Install the two libraries the seeder needs (pinned), then run strait/seeding.py from the ConfigMap."""
    return (f'pip install --no-cache-dir --quiet "huggingface_hub=={HF_HUB_VERSION}" "boto3=={BOTO3_VERSION}" '
            f'&& exec python {SEEDER_MOUNT}/seeding.py')


class WeightCache(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    reader_role_arn: pulumi.Output[str]
    seed_jobs: dict[str, k8s.batch.v1.Job]
    weights: dict[str, WeightSource]
    """One per model: what a model server needs to read it (components/platform.py)."""

    def __init__(self, name: str, args: WeightCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:aws:WeightCache", name, None, opts)
        problems = check_args(args)
        if problems:
            raise ValueError("weight cache: " + "; ".join(problems))
        o = pulumi.ResourceOptions(parent=self)
        bucket = private_bucket(name, bucket_name=args.bucket_name, tags=args.tags, opts=o,
                                force_destroy=args.force_destroy)
        reader = pod_identity_role(
            child(name, "reader"), role_name=iam_role_name(str(args.bucket_name), "reader"),
            policy=bucket.arn.apply(lambda arn: s3_access_policy(arn, ("s3:GetObject",), "models/")),
            cluster_name=args.cluster_name, namespace=args.namespace, service_accounts=reader_accounts(args),
            tags=args.tags, opts=o)

        self.seed_jobs = {}
        if args.seed and args.models:
            self._seeders(name, args, bucket, o)
        self.bucket_name = bucket.bucket
        self.reader_role_arn = reader.arn
        region_env = ({"name": "AWS_REGION", "value": args.region}, {"name": "AWS_DEFAULT_REGION", "value": args.region})
        #: Where a reader (a model server streaming weights) must be allowed to connect.
        self.reader_egress: tuple[Allow, ...] = (POD_IDENTITY_AGENT, args.object_store_egress or S3_HTTPS)
        self.weights = {}
        for model, spec in sorted(args.models.items()):
            prefix = model_prefix(spec)
            job = self.seed_jobs.get(model)
            self.weights[model] = WeightSource(
                uri=f"s3://{args.bucket_name}/{prefix}",
                wait_container=wait_container(args.bucket_name, f"{prefix}/{COMPLETE_MARKER}", args.wait_image,
                                              args.region),
                sync_container=partial(sync_container, args.bucket_name, prefix, args.wait_image, args.region),
                service_account=spec.reader or model, env=region_env,
                # The seeding Job when there is one (it runs after the reader can exist); else the binding.
                ready=(job,) if job is not None else (reader.associations[spec.reader or model],),
                egress=self.reader_egress)
        self.register_outputs({"bucket_name": self.bucket_name, "reader_role_arn": self.reader_role_arn})

    def _seeders(self, name: str, args: WeightCacheArgs, bucket: aws.s3.Bucket, o: pulumi.ResourceOptions) -> None:
        sa_name = "strait-weight-seeder"
        writer = pod_identity_role(
            child(name, "seeder"), role_name=iam_role_name(str(args.bucket_name), "seeder"),
            policy=bucket.arn.apply(lambda arn: s3_access_policy(
                arn, ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"), "models/")),
            cluster_name=args.cluster_name, namespace=args.namespace, service_accounts=[sa_name], tags=args.tags,
            opts=o, association_names={sa_name: child(name, "seeder")})
        assoc = writer.associations[sa_name]
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
        priority_ready = args.seed_priority.ready if args.seed_priority is not None else ()
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
                            **pod_priority_fields(args.seed_priority),
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
                opts=pulumi.ResourceOptions(parent=self, depends_on=[assoc, sa, code, *priority_ready]
                                            + ([token_secret] if token_secret else [])),
            )
