"""Copy one model checkpoint from Hugging Face into the weight cache (S3 or GCS), once.

This file runs inside the seeding Job (mounted from a ConfigMap, run with plain ``python``), so it
imports nothing from Strait: only the standard library, huggingface_hub, and boto3 (S3) or
google-cloud-storage (GCS).

Idempotent: the last object written is ``<prefix>/.strait-complete``, holding a manifest of every
file and its size. When the marker exists the Job does nothing; when an upload dies half way there
is no marker, and the next run starts again. Model servers wait for the marker before they start.

Environment: BUCKET, PREFIX, HF_REPO, REVISION; HF_TOKEN for gated repos; SCRATCH (default /scratch);
STORE: ``s3`` (default) or ``gcs`` (credentials: Workload Identity through Application Default Credentials).
"""
from __future__ import annotations

import fnmatch
import json
import os
import sys
from pathlib import Path
from typing import Callable

COMPLETE_MARKER = ".strait-complete"
#: Never copied: original PyTorch/consolidated duplicates (Llama, Mistral ship both), GGUF, hub metadata.
IGNORE_PATTERNS = ("original/*", "consolidated*", "*.pth", "*.gguf", ".cache/*", ".gitattributes")

Downloader = Callable[[str, str, Path], Path]


def hf_download(repo: str, revision: str, dest: Path) -> Path:
    """Download a snapshot with huggingface_hub (HF_TOKEN from the environment if set)."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id=repo, revision=revision, local_dir=str(dest),
                                  ignore_patterns=list(IGNORE_PATTERNS)))


def _ignored(rel: str) -> bool:
    return any(fnmatch.fnmatch(rel, p) for p in IGNORE_PATTERNS)


def marker_exists(s3, bucket: str, prefix: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=f"{prefix}/{COMPLETE_MARKER}")
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def seed(s3, bucket: str, prefix: str, repo: str, revision: str, scratch: Path,
         download: Downloader = hf_download) -> dict:
    """Seed ``s3://bucket/prefix`` from ``repo@revision``. Returns the manifest (or the skip reason)."""
    if marker_exists(s3, bucket, prefix):
        return {"status": "already-seeded", "prefix": prefix}
    local = download(repo, revision, scratch / "model")
    files = sorted(p for p in local.rglob("*") if p.is_file() and not _ignored(p.relative_to(local).as_posix()))
    if not any(p.suffix == ".safetensors" for p in files):
        raise SystemExit(f"{repo}@{revision} has no .safetensors files; vLLM's runai_streamer needs them")
    manifest = {"repo": repo, "revision": revision, "files": {}}
    for p in files:
        rel = p.relative_to(local).as_posix()
        s3.upload_file(str(p), bucket, f"{prefix}/{rel}")  # multipart for large shards
        manifest["files"][rel] = p.stat().st_size
    s3.put_object(Bucket=bucket, Key=f"{prefix}/{COMPLETE_MARKER}",
                  Body=json.dumps(manifest, indent=1, sort_keys=True).encode())
    return {"status": "seeded", "prefix": prefix, "files": len(files),
            "bytes": sum(manifest["files"].values())}


class GcsStore:
    """The same three operations on a google-cloud-storage ``Bucket``."""

    def __init__(self, bucket):
        self.bucket = bucket

    def marker_exists(self, prefix: str) -> bool:
        return self.bucket.blob(f"{prefix}/{COMPLETE_MARKER}").exists()

    def upload_file(self, path: Path, key: str) -> None:
        # Resumable upload for large shards; an interrupted one leaves no object (and so no marker).
        self.bucket.blob(key, chunk_size=64 * 1024 * 1024).upload_from_filename(str(path))

    def put_marker(self, prefix: str, body: bytes) -> None:
        # if_generation_match=0: create only; two racing seeders cannot both claim completion.
        from google.api_core.exceptions import PreconditionFailed

        try:
            self.bucket.blob(f"{prefix}/{COMPLETE_MARKER}").upload_from_string(
                body, content_type="application/json", if_generation_match=0)
        except PreconditionFailed:
            pass  # another run finished first; its marker describes the same files


def seed_gcs(bucket, prefix: str, repo: str, revision: str, scratch: Path, download: Downloader = hf_download) -> dict:
    """Seed ``gs://bucket/prefix`` (a google-cloud-storage ``Bucket``) from ``repo@revision``."""
    store = GcsStore(bucket)
    if store.marker_exists(prefix):
        return {"status": "already-seeded", "prefix": prefix}
    local = download(repo, revision, scratch / "model")
    files = sorted(p for p in local.rglob("*") if p.is_file() and not _ignored(p.relative_to(local).as_posix()))
    if not any(p.suffix == ".safetensors" for p in files):
        raise SystemExit(f"{repo}@{revision} has no .safetensors files; vLLM's runai_streamer needs them")
    manifest = {"repo": repo, "revision": revision, "files": {}}
    for p in files:
        rel = p.relative_to(local).as_posix()
        store.upload_file(p, f"{prefix}/{rel}")
        manifest["files"][rel] = p.stat().st_size
    store.put_marker(prefix, json.dumps(manifest, indent=1, sort_keys=True).encode())
    return {"status": "seeded", "prefix": prefix, "files": len(files), "bytes": sum(manifest["files"].values())}


def main() -> int:
    env = os.environ
    missing = [k for k in ("BUCKET", "PREFIX", "HF_REPO", "REVISION") if not env.get(k)]
    store = env.get("STORE", "s3")
    if store not in ("s3", "gcs"):
        print(f"seed: STORE={store!r} is not s3 or gcs", file=sys.stderr)
        return 2
    if missing:
        print(f"seed: missing environment {', '.join(missing)}", file=sys.stderr)
        return 2
    scratch = Path(env.get("SCRATCH", "/scratch"))
    if store == "gcs":
        from google.cloud import storage

        bucket = storage.Client(project=env.get("GOOGLE_CLOUD_PROJECT")).bucket(env["BUCKET"])
        result = seed_gcs(bucket, env["PREFIX"], env["HF_REPO"], env["REVISION"], scratch)
    else:
        import boto3

        result = seed(boto3.client("s3"), env["BUCKET"], env["PREFIX"], env["HF_REPO"], env["REVISION"], scratch)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
