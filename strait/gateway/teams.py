"""Teams in LiteLLM kept in step with ``gateway.teams``, and keys issued on request (docs/teams.md).

Standard library only: the gateway ships this file verbatim (as ``strait_teams.py``) in the teams-sync Job's
ConfigMap and runs it with the LiteLLM image's own Python. Two commands:

- ``sync --gateway URL --teams FILE``: create each team that does not exist (``POST /team/new``) and update
  one whose budget, limits or models differ (``POST /team/update``). Running it twice changes nothing the
  second time. A team removed from the config is left alone (its keys and spend history stay); block or delete
  it with LiteLLM's own ``/team/block`` or ``/team/delete``.
- ``key --gateway URL --team NAME --alias ALIAS``: issue one virtual key of the team (``POST /key/generate``)
  and print it once on stdout. Strait never stores a key: not in Pulumi's state, not in a manifest, not in a
  log. LiteLLM keeps only its hash.

The master key comes from the ``LITELLM_MASTER_KEY`` environment variable only (never argv). Errors name the
team and LiteLLM's status, never a key.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
#: LiteLLM's budget window: "1mo" resets on the same day each month (litellm_core_utils/duration_parser.py).
BUDGET_DURATION = "1mo"
#: Fields of a team that Strait owns; anything else on the team (members, metadata set by hand) is left alone.
MANAGED_FIELDS = ("max_budget", "budget_duration", "rpm_limit", "tpm_limit", "models")
MANAGED_BY = {"managed_by": "strait"}


@dataclass(frozen=True, kw_only=True)
class TeamSpec:
    monthly_budget_usd: float
    models: tuple[str, ...]
    rpm_limit: int | None = None
    """Requests per minute for the whole team. Default: no team limit."""
    tpm_limit: int | None = None
    """Tokens per minute for the whole team. Default: no team limit."""


def team_payload(name: str, spec: TeamSpec) -> dict[str, Any]:
    """The body of ``/team/new`` and ``/team/update`` for one team (LiteLLM's NewTeamRequest/UpdateTeamRequest).
    The team's ID and alias are its name, so spend and metrics carry it."""
    return {"team_id": name, "team_alias": name, "max_budget": spec.monthly_budget_usd,
            "budget_duration": BUDGET_DURATION, "rpm_limit": spec.rpm_limit, "tpm_limit": spec.tpm_limit,
            "models": sorted(spec.models), "metadata": dict(MANAGED_BY)}


def render_teams(teams: Mapping[str, TeamSpec]) -> str:
    """The teams file the sync Job reads (no secret in it), sorted so a diff shows a real change."""
    return json.dumps({name: team_payload(name, spec) for name, spec in sorted(teams.items())},
                      indent=2, sort_keys=True) + "\n"


class AdminError(RuntimeError):
    pass


@dataclass
class Admin:
    """LiteLLM's management API, authenticated with the master key."""

    base_url: str
    master_key: str = field(repr=False)
    timeout_seconds: float = 15.0

    def call(self, method: str, path: str, body: dict | None = None, query: dict | None = None) -> tuple[int, Any]:
        url = self.base_url.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.master_key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_seconds) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                detail = json.loads(e.read() or b"null")
            except ValueError:
                detail = None
            return e.code, detail

    def team(self, team_id: str) -> dict | None:
        status, body = self.call("GET", "/team/info", query={"team_id": team_id})
        if status == 404 or (status == 400 and "not found" in json.dumps(body).lower()):
            return None
        if status != 200:
            raise AdminError(f"GET /team/info for team {team_id!r}: HTTP {status}: {_message(body)}")
        return (body or {}).get("team_info") or {}

    def post(self, path: str, body: dict, what: str) -> dict:
        status, answer = self.call("POST", path, body)
        if status != 200:
            raise AdminError(f"POST {path} for {what}: HTTP {status}: {_message(answer)}")
        return answer or {}


def _message(body: Any) -> str:
    """LiteLLM's error text, shortened; it never contains the master key (LiteLLM hashes keys in errors)."""
    if isinstance(body, dict):
        err = body.get("error") or body.get("detail") or body
        if isinstance(err, dict):
            err = err.get("message") or err.get("error") or err
        return str(err)[:300]
    return str(body)[:300]


def differs(current: Mapping[str, Any], desired: Mapping[str, Any]) -> list[str]:
    """Managed fields whose value in LiteLLM differs from the config."""
    out = []
    for f in MANAGED_FIELDS:
        a, b = current.get(f), desired.get(f)
        if f == "models":
            a, b = sorted(a or []), sorted(b or [])
        elif f == "max_budget" and a is not None and b is not None:
            a, b = round(float(a), 6), round(float(b), 6)
        if a != b:
            out.append(f)
    return out


def sync(admin: Admin, desired: Mapping[str, dict]) -> list[str]:
    """Make LiteLLM's teams match ``desired`` (name -> team_payload). Returns one line per team."""
    report = []
    for name, payload in sorted(desired.items()):
        current = admin.team(name)
        if current is None:
            admin.post("/team/new", payload, f"team {name!r}")
            report.append(f"created {name}")
            continue
        changed = differs(current, payload)
        if changed:
            admin.post("/team/update", {**payload, "metadata": {**(current.get("metadata") or {}), **MANAGED_BY}},
                       f"team {name!r}")
            report.append(f"updated {name} ({', '.join(changed)})")
        else:
            report.append(f"unchanged {name}")
    return report


def issue_key(admin: Admin, team: str, alias: str, duration: str | None = None) -> str:
    """One new virtual key of ``team``; LiteLLM stores only its hash. The key inherits the team's models,
    budget and limits."""
    if admin.team(team) is None:
        raise AdminError(f"no team {team!r} in LiteLLM: add it to gateway.teams and deploy (the sync Job creates it)")
    body: dict[str, Any] = {"team_id": team, "key_alias": alias, "metadata": dict(MANAGED_BY)}
    if duration:
        body["duration"] = duration
    key = admin.post("/key/generate", body, f"a key of team {team!r}").get("key")
    if not key:
        raise AdminError(f"POST /key/generate for team {team!r} answered without a key")
    return key


def wait_ready(admin: Admin, deadline_seconds: float, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait for the proxy to answer its readiness probe (the Job may start while the gateway rolls)."""
    end = time.monotonic() + deadline_seconds
    while True:
        try:
            status, _ = admin.call("GET", "/health/readiness")
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > end:
            raise AdminError(f"the gateway at {admin.base_url} was not ready within {deadline_seconds:.0f} s")
        sleep(2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="strait_teams", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sync", help="create or update every team of the teams file")
    s.add_argument("--gateway", required=True, help="the gateway's URL, e.g. http://litellm.strait-gateway:4000")
    s.add_argument("--teams", required=True, help="the teams file (render_teams)")
    s.add_argument("--wait-seconds", type=float, default=300, help="wait this long for the gateway. Default: 300")
    k = sub.add_parser("key", help="issue one key of a team and print it once")
    k.add_argument("--gateway", required=True)
    k.add_argument("--team", required=True)
    k.add_argument("--alias", required=True, help="who or what the key is for, e.g. search-api-prod")
    k.add_argument("--duration", default=None, help="expiry, e.g. 90d. Default: never expires")
    a = ap.parse_args(argv)
    master = os.environ.get(MASTER_KEY_ENV, "")
    if not master:
        print(f"error: set {MASTER_KEY_ENV} (the gateway's master key) in the environment; it is never read from "
              "the command line", file=sys.stderr)
        return 2
    admin = Admin(a.gateway, master)
    try:
        if a.cmd == "sync":
            with open(a.teams, encoding="utf-8") as f:
                desired = json.load(f)
            wait_ready(admin, a.wait_seconds)
            for line in sync(admin, desired):
                print(line, flush=True)
        else:
            print(issue_key(admin, a.team, a.alias, a.duration))
    except (AdminError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
