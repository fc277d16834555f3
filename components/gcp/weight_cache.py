"""The weight cache on GCS: a private bucket of model checkpoints, seeded once from Hugging Face, read by
the model servers through Workload Identity Federation for GKE (no keys anywhere).

Model servers stream ``gs://`` weights with vLLM's runai_streamer. Its GCS backend
(run-ai/runai-model-streamer, ``runai_model_streamer_gcs/credentials/credentials.py``) uses Google
Application Default Credentials (``google.auth.default()``) unless a key file or anonymous access is
configured. On GKE, ADC comes from the GKE metadata server, which hands a pod the token of the Google
service account its Kubernetes ServiceAccount is annotated with (``iam.gke.io/gcp-service-account``)
and bound to (``roles/iam.workloadIdentityUser``). So the pod needs: that annotation on its
ServiceAccount, nodes with ``workload_metadata_config.mode = GKE_METADATA``, and ``GOOGLE_CLOUD_PROJECT``
(set below, so the client never has to look the project up).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.k8s.common import CONTAINER_SECURITY, POD_SECURITY
from components.platform import WeightSource
from strait import seeding
from strait.naming import child, dns_label
from strait.tags import k8s_labels

COMPLETE_MARKER = seeding.COMPLETE_MARKER
WI_ANNOTATION = "iam.gke.io/gcp-service-account"
HF_TOKEN_ENV = "HF_TOKEN"
HF_HUB_VERSION = "1.1.2"
GCS_CLIENT_VERSION = "3.17.1"
SEEDER_MOUNT = "/opt/strait"
SEEDER_SA = "strait-weight-seeder"
SEEDER_SOURCE = open(seeding.__file__, encoding="utf-8").read()
#: A constant script: the marker URI arrives in the environment, never spliced into the string.
WAIT_SCRIPT = ('until gcloud storage objects describe "$STRAIT_MARKER_URI" --format="value(name)" >/dev/null 2>&1; '
               'do echo "waiting for the weight cache to be seeded"; sleep 20; done')
#: Reader's rights: get and list objects. Seeder's: also create and overwrite (a retried upload replaces
#: a partial object, which needs storage.objects.delete), never IAM or bucket settings.
READER_ROLE = "roles/storage.objectViewer"
SEEDER_ROLE = "roles/storage.objectUser"


@dataclass(frozen=True, kw_only=True)
class SeedSpec:
    hf_repo: str
    revision: str
    weights_gib: float


@dataclass(frozen=True, kw_only=True)
class WeightCacheArgs:
    project: str
    region: str
    """The bucket is regional, in the cluster's region: no inter-region egress when pods stream weights."""
    bucket_name: str
    workload_pool: str
    """``PROJECT.svc.id.goog`` of the cluster (GkeCluster.workload_pool)."""
    namespace: str
    """Namespace of the seeding Jobs and of the readers' ServiceAccounts."""
    reader_service_accounts: list[str]
    """Kubernetes ServiceAccounts (one per model server) bound to the read-only Google service account."""
    models: dict[str, SeedSpec]
    labels: dict[str, str]
    seeder_image: str
    wait_image: str
    """An image with gcloud (the init container that waits for the completion marker)."""
    storage_class: str = "premium-rwo"
    seed: bool = True
    """Run one Job per model that copies it from the hub. Default: on."""
    hf_token: pulumi.Input[str] | None = None
    """Secret; needed for gated repos (Llama). Default: anonymous downloads."""
    force_destroy: bool = False
    """Let `pulumi destroy` delete a non-empty bucket. Default: off."""
    noncurrent_days: int = 7
    """Days an overwritten or deleted object version is kept. Default: 7."""
    k8s_labels: dict[str, str] = field(default_factory=dict)


def model_prefix(spec: SeedSpec) -> str:
    return f"models/{spec.hf_repo}/{spec.revision}"


def workload_identity_member(workload_pool: str, namespace: str, service_account: str) -> str:
    """The IAM principal of a Kubernetes ServiceAccount under Workload Identity Federation for GKE."""
    return f"serviceAccount:{workload_pool}[{namespace}/{service_account}]"


def gsa_account_id(bucket: str, purpose: str) -> str:
    """Google service account ids: 6-30 characters, lower-case letters, digits and hyphens."""
    return dns_label(f"{bucket[:21]}-{purpose}", 30).rstrip("-")


def seed_command() -> str:
    """Install the two pinned libraries the seeder needs, then run strait/seeding.py from the ConfigMap."""
    return (f'pip install --no-cache-dir --quiet "huggingface_hub=={HF_HUB_VERSION}" '
            f'"google-cloud-storage=={GCS_CLIENT_VERSION}" && exec python {SEEDER_MOUNT}/seeding.py')


def wait_container(marker_uri: str, image: str, project: str) -> dict:
    return {
        "name": "wait-for-weights",
        "image": image,
        "command": ["/bin/sh", "-c", WAIT_SCRIPT],
        "env": [{"name": "STRAIT_MARKER_URI", "value": marker_uri},
                {"name": "CLOUDSDK_CORE_PROJECT", "value": project},
                {"name": "CLOUDSDK_CONFIG", "value": "/tmp/gcloud"}],
    }


class WeightCache(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    reader_email: pulumi.Output[str]
    seed_jobs: dict[str, k8s.batch.v1.Job]
    weights: dict[str, WeightSource]

    def __init__(self, name: str, args: WeightCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:gcp:WeightCache", name, None, opts)
        o = pulumi.ResourceOptions(parent=self)
        bucket = gcp.storage.Bucket(
            child(name, "bucket"), name=args.bucket_name, project=args.project, location=args.region.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,  # IAM only: object ACLs (and so public ACLs) are impossible
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            # Re-seeding a revision would otherwise keep every old copy of 20-140 GiB checkpoints.
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        days_since_noncurrent_time=args.noncurrent_days, with_state="ARCHIVED")),
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=2)),
            ],
            # Versioning already keeps overwritten objects for `noncurrent_days`; soft delete would bill
            # deleted checkpoints for another 7 days on top.
            soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(retention_duration_seconds=0),
            force_destroy=args.force_destroy,
            labels=args.labels,
            opts=o)

        reader = gcp.serviceaccount.Account(child(name, "reader"), account_id=gsa_account_id(args.bucket_name, "reader"),
                                            display_name="Strait weight cache reader (read-only)",
                                            project=args.project, opts=o)
        ready: list[pulumi.Resource] = [gcp.storage.BucketIAMMember(
            child(name, "reader"), bucket=bucket.name, role=READER_ROLE, member=reader.member, opts=o)]
        for sa in sorted(set(args.reader_service_accounts)):
            ready.append(gcp.serviceaccount.IAMMember(
                child(name, f"reader-wi-{sa}"), service_account_id=reader.name, role="roles/iam.workloadIdentityUser",
                member=workload_identity_member(args.workload_pool, args.namespace, sa), opts=o))

        self.seed_jobs = {}
        if args.seed and args.models:
            self._seeders(name, args, bucket, o)
        self.bucket_name = bucket.name
        self.reader_email = reader.email
        self.weights = {}
        for model, spec in sorted(args.models.items()):
            uri = f"gs://{args.bucket_name}/{model_prefix(spec)}"
            self.weights[model] = WeightSource(
                uri=uri,
                wait_container=wait_container(f"{uri}/{COMPLETE_MARKER}", args.wait_image, args.project),
                service_account=model,
                service_account_annotations={WI_ANNOTATION: reader.email},
                env=({"name": "GOOGLE_CLOUD_PROJECT", "value": args.project},),
                ready=(*ready, *([self.seed_jobs[model]] if model in self.seed_jobs else [])),
            )
        self.register_outputs({"bucket_name": self.bucket_name, "reader_email": self.reader_email})

    def _seeders(self, name: str, args: WeightCacheArgs, bucket: gcp.storage.Bucket, o: pulumi.ResourceOptions) -> None:
        writer = gcp.serviceaccount.Account(child(name, "seeder"), account_id=gsa_account_id(args.bucket_name, "seeder"),
                                            display_name="Strait weight cache seeder", project=args.project, opts=o)
        grant = gcp.storage.BucketIAMMember(child(name, "seeder"), bucket=bucket.name, role=SEEDER_ROLE,
                                            member=writer.member, opts=o)
        wi = gcp.serviceaccount.IAMMember(child(name, "seeder-wi"), service_account_id=writer.name,
                                          role="roles/iam.workloadIdentityUser",
                                          member=workload_identity_member(args.workload_pool, args.namespace, SEEDER_SA),
                                          opts=o)
        labels = {**k8s_labels(name="weight-seeder", instance=name, component="weight-cache"), **args.k8s_labels}
        sa = k8s.core.v1.ServiceAccount(child(name, "seeder"), metadata={
            "name": SEEDER_SA, "namespace": args.namespace, "labels": labels,
            "annotations": {WI_ANNOTATION: writer.email}}, automount_service_account_token=False, opts=o)
        token_secret = None
        if args.hf_token is not None:
            token_secret = k8s.core.v1.Secret(child(name, "hf-token"), metadata={
                "name": "strait-hf-token", "namespace": args.namespace, "labels": labels},
                type="Opaque", string_data={HF_TOKEN_ENV: pulumi.Output.secret(args.hf_token)}, opts=o)
        k8s.networking.v1.NetworkPolicy(child(name, "seeder-netpol"), metadata={
            "name": "weight-seeder", "namespace": args.namespace, "labels": labels},
            spec={"podSelector": {"matchLabels": {"app.kubernetes.io/name": "weight-seeder"}}, "policyTypes": ["Ingress"]},
            opts=o)
        code = k8s.core.v1.ConfigMap(child(name, "seeder-code"), metadata={
            "name": "weight-seeder", "namespace": args.namespace, "labels": labels},
            data={"seeding.py": SEEDER_SOURCE}, opts=o)
        for model, spec in sorted(args.models.items()):
            env = [
                {"name": "STORE", "value": "gcs"},
                {"name": "BUCKET", "value": args.bucket_name},
                {"name": "PREFIX", "value": model_prefix(spec)},
                {"name": "HF_REPO", "value": spec.hf_repo},
                {"name": "REVISION", "value": spec.revision},
                {"name": "GOOGLE_CLOUD_PROJECT", "value": args.project},
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
            job_labels = {**labels, "strait.dev/model": model}
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
                            "serviceAccountName": SEEDER_SA,
                            # Workload Identity tokens come from the GKE metadata server, not the API token.
                            "automountServiceAccountToken": False,
                            "restartPolicy": "OnFailure",
                            "securityContext": POD_SECURITY,
                            "nodeSelector": {"iam.gke.io/gke-metadata-server-enabled": "true"},
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
                                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": args.storage_class,
                                         "resources": {"requests": {"storage": f"{scratch_gib}Gi"}}},
                            }}}],
                        },
                    },
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[grant, wi, sa, code]
                                            + ([token_secret] if token_secret else [])),
            )
