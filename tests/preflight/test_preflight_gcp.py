"""GCP preflight through Google's own clients (google-cloud-compute REST transport, google-cloud-storage)
against recorded REST responses served on loopback (tests/preflight/gcp_responses/, hand-written in the
APIs' shape; see its `_about`). An unknown path answers 404, as the API would for a missing resource."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from strait.preflight import render
from strait.preflight_gcp import GcpPoolCheck, GcpPreflightSpec, default_clients, run_preflight_gcp

ROUTES = json.loads((Path(__file__).parent / "gcp_responses" / "asia-southeast1.json").read_text())["routes"]
ZONES = ("asia-southeast1-a", "asia-southeast1-b", "asia-southeast1-c")


@pytest.fixture(scope="module")
def clients():
    from google.auth.credentials import AnonymousCredentials

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            path = self.path.split("?")[0]
            seen.append(path)
            route = ROUTES.get(path, {"status": 404, "body": {"error": {"code": 404, "message": "not found"}}})
            body = json.dumps(route["body"]).encode()
            self.send_response(route["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    c = default_clients(client_options={"api_endpoint": endpoint}, credentials=AnonymousCredentials())
    c.extra["seen"] = seen
    yield c
    server.shutdown()


def _spec(bucket="strait-phase1-sg-gke-weights-0a1b2c3d", **pools):
    return GcpPreflightSpec(project="strait-prod", region="asia-southeast1", bucket_name=bucket, pools=pools or {
        "l4x4": GcpPoolCheck(machine_type="g2-standard-48", accelerator="nvidia-l4", gpus_per_node=4, capacity="on_demand",
                             max_nodes=2, zones=ZONES)})


def test_l4_pool_is_offered_has_quota_and_the_bucket_is_free(clients):
    findings = run_preflight_gcp(_spec(), clients)
    assert {(f.check, f.level) for f in findings} == {("accelerator-in-zones", "ok"), ("gpu-quota", "ok"),
                                                      ("bucket-name", "ok")}, render(findings)
    assert "NVIDIA_L4_GPUS in asia-southeast1: limit 8, in use 0; the pools need 8 at max size" in render(findings)
    assert "GPUS_ALL_REGIONS: limit 12, in use 4; the pools need 8" in render(findings)
    assert "/compute/v1/projects/strait-prod/zones/asia-southeast1-b/acceleratorTypes" in clients.extra["seen"]


def test_spot_pools_count_against_the_preemptible_quota(clients):
    spot = GcpPoolCheck(machine_type="g2-standard-48", accelerator="nvidia-l4", gpus_per_node=4, capacity="spot",
                        max_nodes=4, zones=ZONES)
    findings = run_preflight_gcp(_spec(l4spot=spot), clients)
    quota = [f for f in findings if f.check == "gpu-quota"]
    assert any(f.level == "error" and f.message.startswith("PREEMPTIBLE_NVIDIA_L4_GPUS in asia-southeast1: limit 16, "
                                                           "in use 4; the pools need 16") for f in quota), render(findings)
    assert any(f.level == "error" and "GPUS_ALL_REGIONS" in f.message for f in quota)


def test_a100_80gb_only_in_zone_c_and_without_quota(clients):
    a100 = GcpPoolCheck(machine_type="a2-ultragpu-1g", accelerator="nvidia-a100-80gb", gpus_per_node=1,
                        capacity="on_demand", max_nodes=2, zones=ZONES)
    findings = run_preflight_gcp(_spec(a100=a100), clients)
    text = render(findings)
    assert ("[WARN] accelerator-in-zones: pool a100: nvidia-a100-80gb is offered in asia-southeast1-c but not "
            "asia-southeast1-a, asia-southeast1-b; remove those zones from the pool") in text
    assert "[FAIL] gpu-quota: NVIDIA_A100_80GB_GPUS in asia-southeast1: limit 0, in use 0; the pools need 2" in text


def test_gpu_absent_from_every_zone_and_missing_quota_are_errors(clients):
    h100 = GcpPoolCheck(machine_type="a3-highgpu-8g", accelerator="nvidia-h100-80gb", gpus_per_node=8,
                        capacity="on_demand", max_nodes=1, zones=("asia-southeast1-a",))
    text = render(run_preflight_gcp(_spec(h100=h100), clients))
    assert "[FAIL] accelerator-in-zones: pool h100: nvidia-h100-80gb is not offered in any of asia-southeast1-a" in text
    assert "[FAIL] gpu-quota: asia-southeast1 has no NVIDIA_H100_GPUS quota in this project" in text


def test_a_bucket_owned_by_someone_else_is_an_error(clients):
    text = render(run_preflight_gcp(_spec(bucket="strait-taken"), clients))
    assert "[FAIL] bucket-name: bucket strait-taken belongs to someone else" in text


def test_spec_from_the_gke_stack():
    from strait.catalog import load_catalog
    from strait.config import validate_stack
    from strait.preflight_gcp import spec_from_config
    from tests.conftest import load_stack_raw

    cfg = validate_stack(load_stack_raw("phase1-sg-gke"), "phase1-sg-gke",
                         secrets_set={"anthropic_api_key", "openai_api_key", "deepseek_api_key"})
    spec = spec_from_config(cfg, load_catalog(), "b")
    assert spec.project == "strait-prod" and spec.region == "asia-southeast1"
    assert spec.pools == {"a100x2": GcpPoolCheck(machine_type="a2-highgpu-2g", accelerator="nvidia-tesla-a100",
                                                 gpus_per_node=2, capacity="on_demand", max_nodes=3, zones=ZONES)}


def test_cli_without_google_credentials_says_how_to_log_in(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
    env.update(PYTHONPATH=str(ROOT), HOME=str(tmp_path), CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),
               NO_GCE_CHECK="True")  # google-auth: do not probe a metadata server (none exists here)
    proc = subprocess.run([sys.executable, "-m", "strait.cli", "preflight", "--stack", "phase1-sg-gke"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Fix: run `gcloud auth application-default login`" in proc.stderr and "Traceback" not in proc.stderr
