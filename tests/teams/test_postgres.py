"""A real PostgreSQL server (Debian's package) set up like RDS/Cloud SQL are (TLS required): the URL form Strait
hands the gateway (components/platform.py ``postgres_url``) connects over TLS, a plain-text connection is refused,
and LiteLLM 1.109.1's own migrations (litellm-proxy-extras, the SQL ``prisma migrate deploy`` applies) build the
tables that hold teams, keys and spend per key, team and model."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pulumi
import pytest

from components.platform import postgres_url
from tests.teams.postgres import postgres_bin, start_postgres

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="needs Debian's postgresql: scripts/setup.sh --test")
psycopg = pytest.importorskip("psycopg")


@pytest.fixture(scope="module")
def pg():
    server, stop = start_postgres()
    try:
        yield server
    finally:
        stop()


def _url(pg) -> str:
    got = {}

    @pulumi.runtime.test
    def run():
        return postgres_url(pg.user, pg.password, "127.0.0.1", pg.port, pg.db).apply(lambda u: got.update(url=u))
    run()
    return got["url"]


def test_the_gateway_url_connects_over_tls_and_plain_text_is_refused(pg):
    url = _url(pg)
    assert url == pg.url("require")
    with psycopg.connect(url) as conn:
        ssl = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0]
        assert ssl is True
    with pytest.raises(psycopg.OperationalError, match="no encryption|SSL off|rejects connection"):
        psycopg.connect(pg.url("disable")).close()


def test_litellms_migrations_build_the_team_key_and_spend_tables(pg):
    import litellm_proxy_extras

    migrations = sorted((Path(litellm_proxy_extras.__file__).parent / "migrations").glob("*/migration.sql"))
    assert len(migrations) > 100
    env = {**os.environ, "PGPASSWORD": pg.password}
    conninfo = f"host=127.0.0.1 port={pg.port} user={pg.user} dbname={pg.db} sslmode=require"
    for m in migrations:
        proc = subprocess.run(["psql", conninfo, "-q", "-v", "ON_ERROR_STOP=1", "-f", str(m)], env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{m.parent.name}: {proc.stderr}"
    with psycopg.connect(pg.url()) as conn:
        tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema='public'")}
        assert {"LiteLLM_TeamTable", "LiteLLM_VerificationToken", "LiteLLM_SpendLogs", "LiteLLM_DailyTeamSpend",
                "LiteLLM_BudgetTable"} <= tables
        cols = {r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns "
                                           "WHERE table_name='LiteLLM_TeamTable'")}
        assert {"team_id", "max_budget", "spend", "rpm_limit", "tpm_limit", "models", "budget_duration"} <= cols
        daily = {r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns "
                                            "WHERE table_name='LiteLLM_DailyTeamSpend'")}
        assert {"team_id", "model", "spend", "api_key"} <= daily  # spend per team, model and key
