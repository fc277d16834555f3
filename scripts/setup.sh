#!/usr/bin/env bash
# Set up everything Strait needs on a fresh machine. Idempotent: re-runs skip what is done.
#   scripts/setup.sh          the project venv (.venv) with the pinned Pulumi SDKs: enough for `strait plan`
#   scripts/setup.sh --test   also the test tools and the real consumers the tests use as judges
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# Run an installer quietly; on failure show its output (minus the local-index noise) and fail.
quiet() {
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    grep -v "is ignored: it is neither" "$log" >&2 || true
    rm -f "$log"
    echo "setup: failed: $*" >&2
    return 1
  fi
  rm -f "$log"
}

# 1. Project venv (Pulumi.yaml names .venv, so `pulumi up` uses the same one).
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
req_hash=$(cat pyproject.toml | sha256sum | cut -c1-16)
if ! stamp_ok .venv/.strait-main "$req_hash"; then
  quiet .venv/bin/pip install --disable-pip-version-check -e .
  echo "$req_hash" > .venv/.strait-main
fi
[ "$want_test" = 1 ] || exit 0

# 2. Test tools and judges in the project venv.
if ! stamp_ok .venv/.strait-test "$req_hash"; then
  quiet .venv/bin/pip install --disable-pip-version-check -e ".[test]"
  echo "$req_hash" > .venv/.strait-test
fi

# 2b. The real LiteLLM proxy (litellm[proxy]==1.109.1), judge of the gateway config and hook.
lite_hash=$(sha256sum scripts/install_litellm.py | cut -c1-16)
if ! stamp_ok .venv/.strait-litellm "$lite_hash"; then
  quiet .venv/bin/python scripts/install_litellm.py
  if ! LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python -c "import litellm.proxy.proxy_server" >/dev/null 2>&1; then
    echo "setup: the LiteLLM proxy does not import after scripts/install_litellm.py" >&2
    exit 1
  fi
  echo "$lite_hash" > .venv/.strait-litellm
fi

# 2c. Checkov, in its own venv (its pins clash with LiteLLM's).
if ! stamp_ok .venv-checkov/.strait "checkov==3.3.30"; then
  "$PY" -m venv .venv-checkov
  quiet .venv-checkov/bin/pip install --disable-pip-version-check "checkov==3.3.30"
  echo "checkov==3.3.30" > .venv-checkov/.strait
fi

# 2d. IBM's network-config-analyzer (np-guard), a second judge of the NetworkPolicies, in its own venv
#     (it pins PyYAML and networkx).
if ! stamp_ok .venv-nca/.strait "network-config-analyzer==2.1.0"; then
  "$PY" -m venv .venv-nca
  quiet .venv-nca/bin/pip install --disable-pip-version-check "network-config-analyzer==2.1.0"
  echo "network-config-analyzer==2.1.0" > .venv-nca/.strait
fi

# 3. vLLM's own argument parser, in its own venv (CPU torch, vLLM without its GPU dependencies).
if [ -x scripts/setup-judges.sh ]; then
  scripts/setup-judges.sh
fi

# 4. Debian packages used as judges (promtool from `prometheus`).
need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)  # amtool + Alertmanager (tests/alerting)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)  # gateway replicas sharing router state
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)  # LiteLLM's database (tests/teams)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: need Debian packages ${need_apt[*]} (run as root or install them)" >&2
    exit 1
  fi
fi
