"""strait/gateway/teams.py: the payloads against LiteLLM 1.109.1's own request models, the sync's idempotence and
the key command against a recording HTTP server on loopback, and the coordination Redis block against a real
redis-server.

What this file cannot prove: that the real proxy enforces the budgets and limits. That needs LiteLLM's Prisma
client, whose query and schema engines are not available from any registry here (docs/teams.md, "What is proven").
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from strait.gateway import teams as T
from strait.render.litellm import GatewaySpec, ProviderModel, RedisSpec, Tier, render_litellm_config
from tests.gateway.fakes import free_port

MASTER = "sk-test-master-key-that-must-never-be-printed-0123"
SPECS = {"search": T.TeamSpec(monthly_budget_usd=500, models=("self-hosted", "auto"), rpm_limit=600, tpm_limit=2_000_000),
         "support": T.TeamSpec(monthly_budget_usd=25.5, models=("commercial",))}


def test_payloads_are_litellms_own_request_models():
    from litellm.litellm_core_utils.duration_parser import duration_in_seconds
    from litellm.proxy._types import GenerateKeyRequest, NewTeamRequest, UpdateTeamRequest

    for name, spec in SPECS.items():
        body = T.team_payload(name, spec)
        new, upd = NewTeamRequest(**body), UpdateTeamRequest(**body)
        assert (new.team_id, new.max_budget, new.rpm_limit, new.tpm_limit) == (name, spec.monthly_budget_usd,
                                                                                spec.rpm_limit, spec.tpm_limit)
        assert upd.models == sorted(spec.models) and upd.budget_duration == "1mo"
    assert 28 * 86400 <= duration_in_seconds(T.BUDGET_DURATION) <= 31 * 86400
    key = GenerateKeyRequest(team_id="search", key_alias="search-prod", metadata=T.MANAGED_BY)
    assert key.team_id == "search"
    doc = json.loads(T.render_teams(SPECS))
    assert list(doc) == ["search", "support"] and "sk-" not in T.render_teams(SPECS)


class FakeAdmin:
    """LiteLLM's management API as far as the sync uses it, holding teams in memory and recording each call."""

    def __init__(self):
        self.teams: dict[str, dict] = {}
        self.calls: list[tuple[str, str]] = []
        self.auth: set[str] = set()
        owner = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body):
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self):
                u = urlparse(self.path)
                owner.calls.append(("GET", u.path))
                owner.auth.add(self.headers.get("Authorization", ""))
                if u.path == "/health/readiness":
                    return self._send(200, {"status": "healthy"})
                tid = parse_qs(u.query).get("team_id", [""])[0]
                if tid not in owner.teams:  # 1.109.1's team_info: HTTPException(404), OpenAI-shaped by the proxy
                    return self._send(404, {"error": {"message": str({"message": f"Team not found, passed team id: {tid}."}),
                                                      "type": "not_found_error", "param": None, "code": "404"}})
                return self._send(200, {"team_id": tid, "team_info": owner.teams[tid], "keys": []})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.calls.append(("POST", self.path))
                owner.auth.add(self.headers.get("Authorization", ""))
                if self.path in ("/team/new", "/team/update"):
                    owner.teams[body["team_id"]] = {**owner.teams.get(body["team_id"], {}), **body}
                    return self._send(200, owner.teams[body["team_id"]])
                if self.path == "/key/generate":
                    return self._send(200, {"key": "sk-issued-once", "team_id": body["team_id"]})
                return self._send(404, {"detail": "no route"})

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def writes(self) -> list[str]:
        return [p for m, p in self.calls if m == "POST"]


@pytest.fixture
def admin_api():
    api = FakeAdmin()
    yield api
    api.server.shutdown()


def _run(*argv: str, env_key: str | None = MASTER) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != T.MASTER_KEY_ENV}
    if env_key is not None:
        env[T.MASTER_KEY_ENV] = env_key
    # run the file itself, as the Job does (no package import path)
    return subprocess.run([sys.executable, str(Path(T.__file__)), *argv], env=env, capture_output=True, text=True,
                          timeout=60)


def test_sync_creates_then_changes_nothing_then_updates_what_changed(admin_api, tmp_path):
    teams = tmp_path / "teams.json"
    teams.write_text(T.render_teams(SPECS))
    url = f"http://127.0.0.1:{admin_api.port}"
    first = _run("sync", "--gateway", url, "--teams", str(teams))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["created search", "created support"]
    assert admin_api.writes() == ["/team/new", "/team/new"] and admin_api.auth == {f"Bearer {MASTER}"}
    second = _run("sync", "--gateway", url, "--teams", str(teams))
    assert second.stdout.splitlines() == ["unchanged search", "unchanged support"]
    assert admin_api.writes() == ["/team/new", "/team/new"]  # idempotent: no write the second time
    changed = dict(SPECS, support=T.TeamSpec(monthly_budget_usd=40, models=("commercial", "self-hosted"), rpm_limit=60))
    teams.write_text(T.render_teams(changed))
    third = _run("sync", "--gateway", url, "--teams", str(teams))
    assert third.stdout.splitlines() == ["unchanged search", "updated support (max_budget, rpm_limit, models)"]
    assert admin_api.teams["support"]["max_budget"] == 40 and admin_api.teams["support"]["rpm_limit"] == 60
    for proc in (first, second, third):
        assert MASTER not in proc.stdout + proc.stderr


def test_a_key_is_printed_once_and_only_for_a_known_team(admin_api, tmp_path):
    url = f"http://127.0.0.1:{admin_api.port}"
    admin_api.teams["search"] = T.team_payload("search", SPECS["search"])
    ok = _run("key", "--gateway", url, "--team", "search", "--alias", "search-prod")
    assert (ok.returncode, ok.stdout) == (0, "sk-issued-once\n")
    missing = _run("key", "--gateway", url, "--team", "nobody", "--alias", "x")
    assert missing.returncode == 1 and missing.stderr == (
        "error: no team 'nobody' in LiteLLM: add it to gateway.teams and deploy (the sync Job creates it)\n")
    assert admin_api.writes() == ["/key/generate"]


def test_the_master_key_comes_from_the_environment_only(admin_api):
    proc = _run("key", "--gateway", f"http://127.0.0.1:{admin_api.port}", "--team", "search", "--alias", "x",
                env_key=None)
    assert proc.returncode == 2 and "set LITELLM_MASTER_KEY" in proc.stderr and not admin_api.calls


def test_an_unreachable_gateway_is_a_clear_error_within_the_wait(tmp_path):
    port = free_port()
    teams = tmp_path / "teams.json"
    teams.write_text(T.render_teams(SPECS))
    t0 = time.monotonic()
    proc = _run("sync", "--gateway", f"http://127.0.0.1:{port}", "--teams", str(teams), "--wait-seconds", "1")
    assert proc.returncode == 1 and time.monotonic() - t0 < 30
    assert proc.stderr == f"error: the gateway at http://127.0.0.1:{port} was not ready within 1 s\n"


def test_sync_reports_litellms_refusal_without_the_key(admin_api, tmp_path):
    teams = tmp_path / "teams.json"
    teams.write_text(json.dumps({"bad": {"team_id": "bad"}}))
    admin_api.server.RequestHandlerClass.do_POST = lambda self: self._send(
        400, {"error": {"message": "max_budget must be positive"}})
    proc = _run("sync", "--gateway", f"http://127.0.0.1:{admin_api.port}", "--teams", str(teams))
    assert proc.returncode == 1
    assert proc.stderr == "error: POST /team/new for team 'bad': HTTP 400: max_budget must be positive\n"


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server: scripts/setup.sh --test")
def test_coordination_redis_block_builds_litellms_client_against_a_real_redis(monkeypatch):
    from litellm.proxy._types import CoordinationRedisParams
    from litellm.proxy.proxy_server import _resolve_coordination_redis_env_refs, build_redis_usage_cache

    spec = GatewaySpec(tiers={"commercial": Tier(providers=(ProviderModel(provider="openai", model="gpt-5-mini"),))},
                       redis=RedisSpec(), database_url_env="DATABASE_URL")
    block = render_litellm_config(spec)["general_settings"]["coordination_redis"]
    assert render_litellm_config(GatewaySpec(tiers=spec.tiers, redis=RedisSpec()))["general_settings"].get(
        "coordination_redis") is None  # only with a database: without one there are no teams or keys to limit
    port, password = free_port(), "coordination-test-password"
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--requirepass", password,
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        monkeypatch.setenv("REDIS_URL", f"redis://:{password}@127.0.0.1:{port}")
        params = CoordinationRedisParams.model_validate(_resolve_coordination_redis_env_refs(block))
        assert params.has_connection_target() and params.url.endswith(f"127.0.0.1:{port}")
        deadline = time.monotonic() + 30  # wait until redis-server accepts connections (LiteLLM's cache swallows errors)
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        cache = build_redis_usage_cache(params.model_dump(exclude_none=True))
        assert cache.sync_ping() is True
        cache.set_cache("strait-coordination", "1")
        assert cache.get_cache("strait-coordination") in ("1", 1, b"1")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
