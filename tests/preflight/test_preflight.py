"""Preflight against moto's EC2, S3 and Service Quotas."""
import boto3
import pytest
from moto import mock_aws

from strait.catalog import load_catalog
from strait.config import validate_stack
from strait.preflight import render, run_preflight
from tests.conftest import load_stack_raw

KEYS = {"anthropic_api_key", "openai_api_key", "deepseek_api_key"}


@pytest.fixture
def aws(monkeypatch):
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(k, "testing")
    with mock_aws():
        yield boto3.Session(region_name="ap-southeast-1")


def _cfg(**pool):
    raw = load_stack_raw("phase1-sg")
    raw["gpu_pools"]["t4x4"].update(pool)
    return validate_stack(raw, "phase1-sg", secrets_set=KEYS)


def test_phase1_sg_types_are_offered_and_bucket_is_free(aws):
    findings = run_preflight(_cfg(), load_catalog(), aws, "strait-phase1-sg-weights-43cb8bad")
    offered = [f for f in findings if f.check == "offered-in-zones"]
    assert offered and all(f.level == "ok" for f in offered), render(findings)
    assert any(f.check == "bucket-name" and f.level == "ok" and "is free" in f.message for f in findings)


def test_a_bucket_we_own_is_fine(aws):
    aws.client("s3").create_bucket(Bucket="strait-x", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"})
    findings = run_preflight(_cfg(), load_catalog(), aws, "strait-x")
    assert any(f.check == "bucket-name" and f.level == "ok" and "exists" in f.message for f in findings)


def test_unreadable_quota_is_a_warning_naming_the_need(aws):
    findings = run_preflight(_cfg(), load_catalog(), aws, "strait-y")
    quota = [f for f in findings if f.check == "vcpu-quota"]
    # moto has no Service Quotas in ap-southeast-1: we must say so, with the vCPUs to check for.
    assert any(f.level == "warning" and "L-DB2E81BA" in f.message and "144 vCPUs" in f.message for f in quota), render(findings)


def test_type_missing_from_the_zones_is_an_error(aws, monkeypatch):
    import strait.preflight as pf

    monkeypatch.setattr(pf, "offered_zones", lambda ec2, types: {t: {"ap-southeast-1c"} for t in types})
    findings = run_preflight(_cfg(), load_catalog(), aws, "strait-z")
    errors = [f.message for f in findings if f.level == "error"]
    assert any(e.startswith("pool t4x4: g4dn.12xlarge is not offered in any of ap-southeast-1a, ap-southeast-1b")
               for e in errors), errors


def test_a_quota_below_the_pools_max_is_an_error(aws):
    """moto has no Service Quotas here, so the quota answer comes from botocore's Stubber."""
    from botocore.stub import Stubber

    sq = boto3.client("service-quotas", region_name="ap-southeast-1")
    stub = Stubber(sq)
    for code, value in (("L-DB2E81BA", 96.0), ("L-1216C47A", 640.0)):
        stub.add_response("get_service_quota", {"Quota": {"QuotaCode": code, "Value": value}},
                          {"ServiceCode": "ec2", "QuotaCode": code})

    class Session:
        def client(self, name, region_name=None):
            return sq if name == "service-quotas" else aws.client(name, region_name=region_name)

    with stub:
        findings = run_preflight(_cfg(), load_catalog(), Session(), "strait-q")
    quota = {f.message.split(" ")[1]: f for f in findings if f.check == "vcpu-quota"}
    assert quota["L-DB2E81BA"].level == "error"
    assert "is 96 vCPUs; the pools need 144 at max size" in quota["L-DB2E81BA"].message
    assert quota["L-1216C47A"].level == "ok"


def test_cli_preflight_against_moto(aws, capsys):
    from strait.cli import main

    code = main(["preflight", "--stack", "phase1-sg"])
    out = capsys.readouterr().out
    assert "[ok  ] offered-in-zones: pool t4x4: g4dn.12xlarge offered in ap-southeast-1a, ap-southeast-1b" in out
    assert code == 0
