"""The seeding Job's code (strait/seeding.py) against moto's S3: copies once, skips when done, never
leaves a marker for a partial upload. The hub download is replaced by a local fake snapshot."""
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from strait import seeding

BUCKET, PREFIX = "strait-test-weights", "models/Qwen/Qwen2.5-0.5B-Instruct/main"


@pytest.fixture
def s3(monkeypatch):
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(k, "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="ap-southeast-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"})
        yield client


KEPT = {"config.json": b'{"architectures": ["Qwen2ForCausalLM"]}', "tokenizer.json": b"{}",
        "model-00001-of-00002.safetensors": b"\0" * 4096, "model-00002-of-00002.safetensors": b"\1" * 100}
SKIPPED = {"original/consolidated.00.pth": b"dup", ".cache/huggingface/x.lock": b"", ".gitattributes": b"*"}


def fake_snapshot(calls: list):
    def download(repo: str, revision: str, dest: Path) -> Path:
        calls.append((repo, revision))
        for rel, data in {**KEPT, **SKIPPED}.items():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(data)
        return dest
    return download


def keys(s3) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_seeds_the_checkpoint_then_writes_the_marker(s3, tmp_path):
    calls = []
    result = seeding.seed(s3, BUCKET, PREFIX, "Qwen/Qwen2.5-0.5B-Instruct", "main", tmp_path, fake_snapshot(calls))
    assert result == {"status": "seeded", "prefix": PREFIX, "files": 4, "bytes": sum(map(len, KEPT.values()))}
    assert keys(s3) == {f"{PREFIX}/{k}" for k in [*KEPT, ".strait-complete"]}
    marker = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/.strait-complete")["Body"].read())
    assert marker["repo"] == "Qwen/Qwen2.5-0.5B-Instruct" and marker["files"]["model-00001-of-00002.safetensors"] == 4096


def test_a_seeded_prefix_is_skipped_without_touching_the_hub(s3, tmp_path):
    calls = []
    seeding.seed(s3, BUCKET, PREFIX, "Qwen/Qwen2.5-0.5B-Instruct", "main", tmp_path / "a", fake_snapshot(calls))
    again = seeding.seed(s3, BUCKET, PREFIX, "Qwen/Qwen2.5-0.5B-Instruct", "main", tmp_path / "b", fake_snapshot(calls))
    assert again["status"] == "already-seeded" and len(calls) == 1


def test_a_failed_upload_leaves_no_marker_and_the_next_run_seeds(s3, tmp_path, monkeypatch):
    real_upload = s3.upload_file
    count = {"n": 0}

    def flaky(path, bucket, key):
        count["n"] += 1
        if count["n"] == 3:
            raise ConnectionError("network went away")
        return real_upload(path, bucket, key)

    monkeypatch.setattr(s3, "upload_file", flaky)
    with pytest.raises(ConnectionError):
        seeding.seed(s3, BUCKET, PREFIX, "r", "main", tmp_path / "a", fake_snapshot([]))
    assert f"{PREFIX}/.strait-complete" not in keys(s3)
    monkeypatch.setattr(s3, "upload_file", real_upload)
    assert seeding.seed(s3, BUCKET, PREFIX, "r", "main", tmp_path / "b", fake_snapshot([]))["status"] == "seeded"


def test_a_repo_without_safetensors_is_refused(s3, tmp_path):
    def no_weights(repo, revision, dest):
        dest.mkdir(parents=True)
        (dest / "pytorch_model.bin").write_bytes(b"x")
        return dest
    with pytest.raises(SystemExit, match="no .safetensors files"):
        seeding.seed(s3, BUCKET, PREFIX, "r", "main", tmp_path, no_weights)
    assert keys(s3) == set()


def test_main_reports_missing_environment(monkeypatch, capsys):
    for k in ("BUCKET", "PREFIX", "HF_REPO", "REVISION"):
        monkeypatch.delenv(k, raising=False)
    assert seeding.main() == 2
    assert "missing environment BUCKET, PREFIX, HF_REPO, REVISION" in capsys.readouterr().err


def test_the_module_needs_nothing_from_strait():
    source = Path(seeding.__file__).read_text()
    assert "from strait" not in source and "import strait" not in source
