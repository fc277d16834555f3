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
from functools import partial

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.gcp.storage import (GCS_HTTPS, GKE_METADATA, WI_ANNOTATION, gsa_account_id, private_bucket,
                                    workload_gsa, workload_identity_member)
from components.k8s.common import CONTAINER_SECURITY, POD_SECURITY
from components.platform import PodPriority, WeightSource, pod_priority_fields
from strait import seeding
from strait.gpu_labels import MODEL_LABEL
from strait.naming import child
from strait.render.netpol import public_https, workload_policy
from strait.tags import k8s_labels

COMPLETE_MARKER = seeding.COMPLETE_MARKER
HF_TOKEN_ENV = "HF_TOKEN"
HF_HUB_VERSION = "1.1.2"
GCS_CLIENT_VERSION = "3.17.1"
SEEDER_MOUNT = "/opt/strait"
SEEDER_SA = "strait-weight-seeder"
SEEDER_SOURCE = open(seeding.__file__, encoding="utf-8").read()
#: Reader's rights: get and list objects. Seeder's: also create and overwrite (a retried upload replaces
#: a partial object, which needs storage.objects.delete), never IAM or bucket settings.
READER_ROLE = "roles/storage.objectViewer"
SEEDER_ROLE = "roles/storage.objectUser"

__all__ = ["COMPLETE_MARKER", "SeedSpec", "WeightCache", "WeightCacheArgs", "WI_ANNOTATION", "model_prefix",
           "wait_container", "workload_identity_member"]


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
    seed_priority: PodPriority | None = None
    """PriorityClass of the seeding pods (the platform's ``batch``: below the model servers, never preempting),
    with the resources creating it; the Jobs depend on them. Default: none (priority 0)."""


def model_prefix(spec: SeedSpec) -> str:
    return f"models/{spec.hf_repo}/{spec.revision}"


def seed_command() -> str:
    """Install the two pinned libraries the seeder needs, then run strait/seeding.py from the ConfigMap."""
    return (f'pip install --no-cache-dir --quiet "huggingface_hub=={HF_HUB_VERSION}" '
            f'"google-cloud-storage=={GCS_CLIENT_VERSION}" && exec python {SEEDER_MOUNT}/seeding.py')


def wait_container(marker_uri: str, image: str, project: str) -> dict:
    """Init container that exits 0 once the completion marker exists. Argv only: no shell sees the URI.

    ``gcloud storage objects describe`` exits non-zero while the object is missing; Kubernetes then
    restarts the init container with its back-off (the pod's restartPolicy is Always), so the pod keeps
    waiting for as long as seeding takes, as the S3 cache's ``aws s3api wait`` does.
    """
    return {
        "name": "wait-for-weights",
        "image": image,
        "command": ["gcloud", "storage", "objects", "describe", marker_uri, "--format=value(name)"],
        "env": [{"name": "CLOUDSDK_CORE_PROJECT", "value": project},
                {"name": "CLOUDSDK_CONFIG", "value": "/tmp/gcloud"}, {"name": "HOME", "value": "/tmp"}],
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    }


def sync_container(uri: str, image: str, project: str, dest: str) -> dict:
    """Init container that copies the checkpoint at ``uri`` into ``dest`` (an emptyDir the pod mounts there).
    Argv only: no shell sees the URI. Run after the wait container, so the checkpoint is complete.

    ``gcloud storage rsync --recursive`` copies every object under the prefix and exits non-zero on any
    failure; Kubernetes then restarts the init container, and a rerun copies only what is missing."""
    return {
        "name": "sync-weights",
        "image": image,
        "command": ["gcloud", "storage", "rsync", "--recursive", "--no-user-output-enabled", f"{uri}/", dest],
        "env": [{"name": "CLOUDSDK_CORE_PROJECT", "value": project},
                {"name": "CLOUDSDK_CONFIG", "value": "/tmp/gcloud"}, {"name": "HOME", "value": "/tmp"}],
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    }


def reader_accounts(args: WeightCacheArgs) -> list[str]:
    """The ServiceAccounts bound to the reader identity: ``reader_service_accounts`` less the keys of
    checkpoints another account reads (an adapter's key names no ServiceAccount, so it gets no binding)."""
    borrowed = {m for m, s in args.models.items() if s.reader and s.reader != m}
    return [sa for sa in args.reader_service_accounts if sa not in borrowed]


class WeightCache(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    reader_email: pulumi.Output[str]
    seed_jobs: dict[str, k8s.batch.v1.Job]
    weights: dict[str, WeightSource]

    def __init__(self, name: str, args: WeightCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:gcp:WeightCache", name, None, opts)
        o = pulumi.ResourceOptions(parent=self)
        bucket = private_bucket(name, bucket_name=args.bucket_name, project=args.project, region=args.region,
                                labels=args.labels, opts=o, force_destroy=args.force_destroy)

        reader, bindings = workload_gsa(
            child(name, "reader"), account_id=gsa_account_id(args.bucket_name, "reader"),
            display_name="Strait weight cache reader (read-only)", project=args.project,
            workload_pool=args.workload_pool, namespace=args.namespace, service_accounts=reader_accounts(args),
            opts=o, binding_names={sa: child(name, f"reader-wi-{sa}") for sa in reader_accounts(args)})
        grant = gcp.storage.BucketIAMMember(child(name, "reader"), bucket=bucket.name, role=READER_ROLE,
                                            member=reader.member, opts=o)

        self.seed_jobs = {}
        # A seed Job starts after the readers' grants exist, so "Job done" also means "weights readable".
        self._reader_ready = [grant, *bindings.values()]
        if args.seed and args.models:
            self._seeders(name, args, bucket, o)
        self.bucket_name = bucket.name
        self.reader_email = reader.email
        #: Where a reader (a model server streaming weights) must be allowed to connect.
        self.reader_egress = (GKE_METADATA, GCS_HTTPS)
        self.weights = {}
        for model, spec in sorted(args.models.items()):
            uri = f"gs://{args.bucket_name}/{model_prefix(spec)}"
            job = self.seed_jobs.get(model)
            self.weights[model] = WeightSource(
                uri=uri,
                wait_container=wait_container(f"{uri}/{COMPLETE_MARKER}", args.wait_image, args.project),
                sync_container=partial(sync_container, uri, args.wait_image, args.project),
                service_account=spec.reader or model,
                service_account_annotations={WI_ANNOTATION: reader.email},
                # runai_streamer's GCS client uses Application Default Credentials; naming the project spares
                # it a metadata lookup.
                env=({"name": "GOOGLE_CLOUD_PROJECT", "value": args.project},),
                # The seeding Job when there is one (it runs after the grants exist); else the bindings.
                ready=(job,) if job is not None else (grant, bindings[spec.reader or model]),
                egress=self.reader_egress)
        self.register_outputs({"bucket_name": self.bucket_name, "reader_email": self.reader_email})

    def _seeders(self, name: str, args: WeightCacheArgs, bucket: gcp.storage.Bucket, o: pulumi.ResourceOptions) -> None:
        writer, wi = workload_gsa(child(name, "seeder"), account_id=gsa_account_id(args.bucket_name, "seeder"),
                                  display_name="Strait weight cache seeder", project=args.project,
                                  workload_pool=args.workload_pool, namespace=args.namespace,
                                  service_accounts=[SEEDER_SA], opts=o, binding_names={SEEDER_SA: child(name, "seeder-wi")})
        grant = gcp.storage.BucketIAMMember(child(name, "seeder"), bucket=bucket.name, role=SEEDER_ROLE,
                                            member=writer.member, opts=o)
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
            spec=workload_policy({"app.kubernetes.io/name": "weight-seeder"}, egress=[
                GKE_METADATA, public_https("Hugging Face, PyPI and Cloud Storage (public addresses, HTTPS only)")]),
            opts=o)
        code = k8s.core.v1.ConfigMap(child(name, "seeder-code"), metadata={
            "name": "weight-seeder", "namespace": args.namespace, "labels": labels},
            data={"seeding.py": SEEDER_SOURCE}, opts=o)
        priority_ready = args.seed_priority.ready if args.seed_priority is not None else ()
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
                            "serviceAccountName": SEEDER_SA,
                            # Workload Identity tokens come from the GKE metadata server, not the API token.
                            "automountServiceAccountToken": False,
                            "restartPolicy": "OnFailure",
                            **pod_priority_fields(args.seed_priority),
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
                opts=pulumi.ResourceOptions(parent=self, depends_on=[grant, wi[SEEDER_SA], sa, code, *self._reader_ready,
                                                                *priority_ready]
                                            + ([token_secret] if token_secret else [])),
            )
