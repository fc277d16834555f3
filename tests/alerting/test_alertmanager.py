"""Judge: Alertmanager. The rendered config passes `amtool check-config`; `amtool config routes test` proves
routing by severity; a real Alertmanager on loopback, with the credentials in files as the operator mounts them,
delivers a critical alert to PagerDuty and Slack and a warning to Slack only, and applies the inhibition rules."""
from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from strait.render.alertmanager import (
    PAGERDUTY_KEY,
    SECRETS_DIR,
    SLACK_KEY,
    ReceiversSpec,
    render_alertmanager_config,
    secret_file,
    secret_keys,
)
from tests.observability.fakes import free_port

SPECS = {
    "nobody": ReceiversSpec(),
    "pagerduty": ReceiversSpec(pagerduty=True),
    "slack": ReceiversSpec(slack_channel="#llm-alerts"),
    "both": ReceiversSpec(pagerduty=True, slack_channel="#llm-alerts"),
}


def _write(tmp_path: Path, spec: ReceiversSpec) -> Path:
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(render_alertmanager_config(spec), sort_keys=False))
    return path


@pytest.mark.parametrize("name", SPECS)
def test_amtool_accepts_the_config(amtool, tmp_path, name):
    out = subprocess.run([amtool, "check-config", str(_write(tmp_path, SPECS[name]))], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_amtool_rejects_a_broken_config(amtool, tmp_path):
    """The judge can fail: a route to a receiver that does not exist."""
    cfg = render_alertmanager_config(SPECS["both"])
    cfg["route"]["routes"][1]["receiver"] = "pager-duty"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert out.returncode != 0 and "pager-duty" in out.stdout + out.stderr


# (spec, labels) -> receivers, in order
ROUTES = [
    ("both", {"severity": "critical", "alertname": "StraitTierErrorBudgetBurn", "tier": "self-hosted"}, "pagerduty,slack"),
    ("both", {"severity": "warning", "alertname": "StraitTTFTBudgetBurn", "model": "qwen32b"}, "slack"),
    ("both", {"severity": "info", "alertname": "KubeQuotaAlmostFull"}, "null"),
    ("both", {"severity": "none", "alertname": "Watchdog"}, "null"),
    ("both", {"severity": "critical", "alertname": "Watchdog"}, "null"),
    ("pagerduty", {"severity": "critical", "alertname": "StraitModelServerDown"}, "pagerduty"),
    ("pagerduty", {"severity": "warning", "alertname": "StraitQueueDepthHigh"}, "null"),
    ("slack", {"severity": "critical", "alertname": "StraitModelServerDown"}, "slack"),
    ("nobody", {"severity": "critical", "alertname": "StraitModelServerDown"}, "null"),
]


@pytest.mark.parametrize("spec,labels,receivers", ROUTES)
def test_routing_by_severity(amtool, tmp_path, spec, labels, receivers):
    path = _write(tmp_path, SPECS[spec])
    args = [f"{k}={v}" for k, v in labels.items()]
    ok = subprocess.run([amtool, "config", "routes", "test", f"--config.file={path}",
                         f"--verify.receivers={receivers}", *args], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # and the judge says no to a wrong expectation
    wrong = "slack" if receivers != "slack" else "pagerduty"
    bad = subprocess.run([amtool, "config", "routes", "test", f"--config.file={path}",
                          f"--verify.receivers={wrong}", *args], capture_output=True, text=True)
    assert bad.returncode != 0


def test_no_credential_is_in_the_config():
    text = yaml.safe_dump(render_alertmanager_config(SPECS["both"]))
    assert "routing_key:" not in text and "api_url:" not in text and "hooks.slack.com" not in text
    assert secret_file(SPECS["both"], PAGERDUTY_KEY) in text and secret_file(SPECS["both"], SLACK_KEY) in text
    assert secret_keys(SPECS["both"]) == (PAGERDUTY_KEY, SLACK_KEY)
    assert secret_keys(SPECS["nobody"]) == ()


def test_a_bad_channel_is_refused():
    with pytest.raises(ValueError, match="'#LLM' is not a Slack channel name"):
        ReceiversSpec(slack_channel="#LLM")


class _Sink:
    """PagerDuty's Events API and a Slack incoming webhook, on loopback: records every POST by path."""

    def __init__(self):
        self.port = free_port()
        self.posts: list[tuple[str, dict]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.append((self.path, json.loads(body or b"{}")))
                self.send_response(202 if self.path.startswith("/pd") else 200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status":"success"}' if self.path.startswith("/pd") else b"ok")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def by(self, prefix: str) -> list[dict]:
        return [b for p, b in list(self.posts) if p.startswith(prefix)]


@pytest.fixture
def alertmanager(alertmanager_bin, tmp_path):
    sink = _Sink()
    spec = ReceiversSpec(pagerduty=True, slack_channel="#llm-alerts", group_wait_seconds=1, group_interval_minutes=1)
    secrets = tmp_path / "secrets"
    (secrets / spec.secret_name).mkdir(parents=True)
    (secrets / spec.secret_name / PAGERDUTY_KEY).write_text("R0UT1NGKEY0000000000000000000000")
    (secrets / spec.secret_name / SLACK_KEY).write_text(f"http://127.0.0.1:{sink.port}/slack")
    cfg = render_alertmanager_config(spec)
    # Only two changes for loopback: where the operator's mount is, and PagerDuty's Events API address.
    cfg["global"]["pagerduty_url"] = f"http://127.0.0.1:{sink.port}/pd"
    text = yaml.safe_dump(cfg).replace(SECRETS_DIR, str(secrets))
    (tmp_path / "am.yaml").write_text(text)
    port = free_port()
    proc = subprocess.Popen([alertmanager_bin, f"--config.file={tmp_path / 'am.yaml'}",
                             f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--cluster.listen-address="], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{base}/-/ready", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(proc.stderr.read().decode())
            time.sleep(0.1)
    try:
        yield base, sink
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        sink.httpd.shutdown()


def _post(base: str, alerts: list[dict]) -> None:
    body = json.dumps([{"labels": a, "annotations": {"summary": a["alertname"], "runbook_url": "docs/runbooks/x.md"}}
                       for a in alerts]).encode()
    req = urllib.request.Request(f"{base}/api/v2/alerts", data=body, headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(req, timeout=5).status == 200


def _state(base: str) -> dict[tuple, dict]:
    alerts = json.load(urllib.request.urlopen(f"{base}/api/v2/alerts", timeout=5))
    return {(a["labels"]["alertname"], a["labels"].get("model", a["labels"].get("tier", "")),
             a["labels"]["severity"]): a["status"] for a in alerts}


def _wait(cond, seconds: float = 20) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.2)


def test_real_alertmanager_delivers_by_severity_and_inhibits(alertmanager):
    base, sink = alertmanager
    _post(base, [
        # critical and warning of the same burn alert and model: only the critical one is told
        {"alertname": "StraitTTFTBudgetBurn", "model": "qwen32b", "severity": "critical"},
        {"alertname": "StraitTTFTBudgetBurn", "model": "qwen32b", "severity": "warning"},
        # another model's warning is not inhibited by qwen32b's critical
        {"alertname": "StraitTTFTBudgetBurn", "model": "llama8b", "severity": "warning"},
        # a down model silences its own latency alerts, not another model's
        {"alertname": "StraitModelServerDown", "model": "r1", "severity": "critical"},
        {"alertname": "StraitTTFTAboveSLO", "model": "r1", "severity": "warning"},
        {"alertname": "StraitQueueDepthHigh", "model": "llama8b", "severity": "warning"},
    ])
    _wait(lambda: len(sink.by("/slack")) >= 4 and len(sink.by("/pd")) >= 2)
    time.sleep(1.5)  # anything that should not arrive has had its chance too
    state = _state(base)
    assert state[("StraitTTFTBudgetBurn", "qwen32b", "warning")]["state"] == "suppressed"
    assert state[("StraitTTFTBudgetBurn", "qwen32b", "warning")]["inhibitedBy"]
    assert state[("StraitTTFTAboveSLO", "r1", "warning")]["inhibitedBy"]
    for key in (("StraitTTFTBudgetBurn", "llama8b", "warning"), ("StraitQueueDepthHigh", "llama8b", "warning"),
                ("StraitTTFTBudgetBurn", "qwen32b", "critical"), ("StraitModelServerDown", "r1", "critical")):
        assert state[key]["state"] == "active", key

    pd = sorted((e["payload"]["custom_details"]["firing"].split("\n")[0], e["routing_key"]) for e in sink.by("/pd"))
    assert len(pd) == 2 and all(key == "R0UT1NGKEY0000000000000000000000" for _, key in pd)
    pd_alerts = sorted(e["payload"]["summary"].split(":")[0] for e in sink.by("/pd"))
    assert pd_alerts == ["StraitModelServerDown", "StraitTTFTBudgetBurn"]
    slack = sink.by("/slack")
    titles = sorted(m["attachments"][0]["title"] for m in slack)
    assert all(m["channel"] == "#llm-alerts" for m in slack)
    assert titles == ["[FIRING] critical: StraitModelServerDown", "[FIRING] critical: StraitTTFTBudgetBurn",
                      "[FIRING] warning: StraitQueueDepthHigh", "[FIRING] warning: StraitTTFTBudgetBurn"]
