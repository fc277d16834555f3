"""The seeding Job's GCS backend (strait/seeding.py) against gcp-storage-emulator, a local GCS server,
through the real google-cloud-storage client: copies once, skips when done, and an interrupted upload
leaves no completion marker. The hub download is replaced by a local fake snapshot."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from strait import seeding

BUCKET, PREFIX = "strait-test-weights", "models/Qwen/Qwen2.5-0.5B-Instruct/main"
KEPT = {"config.json": b'{"architectures": ["Qwen2ForCausalLM"]}', "tokenizer.json": b"{}",
        "model-00001-of-00002.safetensors": b"\0" * 4096, "model-00002-of-00002.safetensors": b"\1" * 100}
SKIPPED = {"original/consolidated.00.pth": b"dup", ".gitattributes": b"*"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def bucket(monkeypatch):
    from gcp_storage_emulator.server import create_server
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    try:
        client = storage.Client(project="strait-test", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": f"http://127.0.0.1:{port}"})
        yield client.bucket(BUCKET)
    finally:
        server.stop()


def fake_snapshot(calls: list):
    def download(repo: str, revision: str, dest: Path) -> Path:
        calls.append((repo, revision))
        for rel, data in {**KEPT, **SKIPPED}.items():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(data)
        return dest
    return download


def names(bucket) -> set[str]:
    return {b.name for b in bucket.client.list_blobs(bucket.name)}


def test_seeds_the_checkpoint_then_writes_the_marker(bucket, tmp_path):
    calls = []
    result = seeding.seed_gcs(bucket, PREFIX, "Qwen/Qwen2.5-0.5B-Instruct", "main", tmp_path, fake_snapshot(calls))
    assert result == {"status": "seeded", "prefix": PREFIX, "files": 4, "bytes": sum(map(len, KEPT.values()))}
    assert names(bucket) == {f"{PREFIX}/{k}" for k in [*KEPT, seeding.COMPLETE_MARKER]}
    marker = json.loads(bucket.blob(f"{PREFIX}/{seeding.COMPLETE_MARKER}").download_as_bytes())
    assert marker["files"]["model-00001-of-00002.safetensors"] == 4096
    assert bucket.blob(f"{PREFIX}/model-00002-of-00002.safetensors").download_as_bytes() == KEPT[
        "model-00002-of-00002.safetensors"]


def test_a_seeded_prefix_is_skipped_without_touching_the_hub(bucket, tmp_path):
    calls = []
    seeding.seed_gcs(bucket, PREFIX, "r", "main", tmp_path / "a", fake_snapshot(calls))
    again = seeding.seed_gcs(bucket, PREFIX, "r", "main", tmp_path / "b", fake_snapshot(calls))
    assert again == {"status": "already-seeded", "prefix": PREFIX} and len(calls) == 1


def test_an_interrupted_upload_leaves_no_marker_and_the_next_run_seeds(bucket, tmp_path, monkeypatch):
    real = seeding.GcsStore.upload_file
    count = {"n": 0}

    def flaky(self, path, key):
        count["n"] += 1
        if count["n"] == 3:
            raise ConnectionError("network went away")
        return real(self, path, key)

    monkeypatch.setattr(seeding.GcsStore, "upload_file", flaky)
    with pytest.raises(ConnectionError):
        seeding.seed_gcs(bucket, PREFIX, "r", "main", tmp_path / "a", fake_snapshot([]))
    uploaded = names(bucket)
    assert f"{PREFIX}/{seeding.COMPLETE_MARKER}" not in uploaded and len(uploaded) == 2
    monkeypatch.setattr(seeding.GcsStore, "upload_file", real)
    assert seeding.seed_gcs(bucket, PREFIX, "r", "main", tmp_path / "b", fake_snapshot([]))["status"] == "seeded"
    assert f"{PREFIX}/{seeding.COMPLETE_MARKER}" in names(bucket)


# Not tested here: put_marker's if_generation_match=0 (create-only). gcp-storage-emulator 2026.7.19
# ignores generation preconditions (a second write overwrites), so only real GCS can judge it.


def test_main_refuses_an_unknown_store(monkeypatch, capsys):
    for k, v in {"BUCKET": "b", "PREFIX": "p", "HF_REPO": "r", "REVISION": "main", "STORE": "azure"}.items():
        monkeypatch.setenv(k, v)
    assert seeding.main() == 2
    assert "STORE='azure' is not s3 or gcs" in capsys.readouterr().err
