#!/usr/bin/env bash
# Create .venv-vllm: the "judge" venv in which tests/judges/vllm_argcheck.py
# checks rendered argv with vLLM 0.33.0's (and SGLang 0.5.23's) own parsers.
#
# CPU only, no CUDA: torch 2.13.0+cpu from the local wheel (/opt/wheels, found
# through pip's find-links), vllm and sglang installed with --no-deps, plus the
# smallest set of their pure-runtime dependencies that lets
#   vllm.entrypoints.common.cli_args / vllm.engine.arg_utils (parser, validate,
#   EngineArgs.from_cli_args) and sglang.srt.server_args (prepare_server_args)
# import and run. Every package is pinned and installed with --no-deps, so pip
# can never resolve its way to a CUDA torch (several GB) from the registry.
#
# Idempotent: a stamp holding the hash of the pins is written last; when it
# matches, the script exits at once. A changed pin list rebuilds the venv.
#
# Env:  STRAIT_JUDGES_SGLANG=0   skip sglang (vLLM judge only)
#       PYTHON=python3.11        interpreter for the venv (must be CPython 3.11:
#                                the local torch wheel is cp311)
#       STRAIT_JUDGES_FORCE=1    rebuild even if the stamp matches
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.venv-vllm"
STAMP="$VENV/.strait-judges.stamp"
PYTHON="${PYTHON:-python3}"
WITH_SGLANG="${STRAIT_JUDGES_SGLANG:-1}"

TORCH_PIN="torch==2.13.0+cpu"   # local version label: only the local CPU wheel matches

# vllm 0.33.0 itself, and what its serve parser needs to import. Versions honour
# vllm's own Requires-Dist except where noted.
VLLM_PINS="
vllm==0.33.0
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
annotated-doc==0.0.7
annotated-types==0.8.0
anyio==4.16.0
apache-tvm-ffi==0.1.11
attrs==26.1.0
cachetools==8.0.1
cbor2==6.3.0
certifi==2026.10.18
cloudpickle==3.1.2
fastapi==0.136.3
filelock==4.2.11
frozenlist==1.8.0
h11==0.16.0
httpcore==1.0.9
httpx==0.28.1
httpx2==2.16.2
huggingface_hub==1.33.0
idna==3.20
llguidance==1.7.6
mpmath==1.3.0
msgspec==0.22.0
multidict==7.2.1
networkx==3.6.1
numpy==2.4.6
openai==3.54.0
orjson==3.13.0
oss-harmony==0.0.11
packaging==26.3
partial-json-parser==0.2.1.1.post7
pillow==13.0.0
prometheus_client==0.26.0
propcache==0.5.4
psutil==7.2.2
py-cpuinfo==9.0.0
pybase64==1.5.1
pydantic==2.14.3
pydantic_core==2.50.4
PyYAML==6.0.3
pyzmq==27.3.0
regex==2026.11.15
requests==2.34.2
safetensors==0.8.0
setuptools==80.10.2
sniffio==1.3.1
starlette==1.10.0
sympy==1.14.0
tokenizers==0.23.2
tqdm==4.70.1
transformers==5.19.0
typing_extensions==4.16.0
typing-inspection==0.4.5
urllib3==2.8.0
uvloop==0.23.0
xgrammar==0.2.8
yarl==1.25.1
"
# Notes on the vLLM pins:
#  - certifi: vllm asks >=2026.10.19, which is not published; newest is used.
#  - transformers 5.19.0 / tokenizers 0.23.2 / huggingface_hub 1.x satisfy both
#    vllm (>=5.16.1,<5.21) and sglang (==5.19.0, tokenizers==0.23.2).
#  - triton is NOT installed (1 GB): vLLM falls back to its TritonPlaceholder.

# sglang 0.5.23: everything above plus these (sglang/utils.py imports IPython).
# sglang pins openai==2.8.0 and xgrammar==0.2.7; vllm's pins win, sglang's
# parser path never imports either. triton: the judge stubs it for sglang.
SGLANG_PINS="
sglang==0.5.23
ipython==9.18.1
traitlets==5.16.1
Pygments==2.21.0
"

REQS="$VLLM_PINS"
if [ "$WITH_SGLANG" != "0" ]; then
  REQS="$REQS$SGLANG_PINS"
fi
REQS="$(printf '%s\n' "$REQS" | sed '/^[[:space:]]*$/d')"

hash_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum | cut -d' ' -f1
  else "$PYTHON" -c 'import hashlib,sys;print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
  fi
}
WANT="$(printf '%s\n%s\n%s\n%s\n' "stamp-v1" "$TORCH_PIN" "$REQS" "$("$PYTHON" -c 'import sys;print(sys.version.split()[0])')" | hash_of)"

if [ "${STRAIT_JUDGES_FORCE:-0}" != "1" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
   && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  echo "setup-judges: $VENV is up to date"
  exit 0
fi

"$PYTHON" - <<'EOF'
import sys
if sys.version_info[:2] != (3, 11):
    sys.exit(f"setup-judges: need CPython 3.11 (local torch wheel is cp311), got {sys.version.split()[0]}")
EOF

t0=$(date +%s)
echo "setup-judges: building $VENV"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
FIND=()
[ -d /opt/wheels ] && FIND=(--find-links /opt/wheels)

# pip warns once per index entry the local mirrors lack; keep the log readable.
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

if ! quiet "${PIP[@]}" install -q --no-deps "${FIND[@]}" "$TORCH_PIN"; then
  echo "setup-judges: could not install $TORCH_PIN (expected the local CPU wheel in /opt/wheels)." >&2
  echo "setup-judges: refusing to fall back to a registry torch (CUDA build, several GB)." >&2
  exit 1
fi

REQFILE="$(mktemp)"
trap 'rm -f "$REQFILE"' EXIT
printf '%s\n' "$REQS" > "$REQFILE"
quiet "${PIP[@]}" install -q --no-deps --only-binary=:all: "${FIND[@]}" -r "$REQFILE"

# Smoke test: the real parsers must accept a known-good argv and reject a
# removed flag. Nothing is stamped unless this passes.
SMOKE='[{"id":"ok","engine":"vllm","argv":["Qwen/Qwen2.5-7B-Instruct","--max-model-len","8192"]},
        {"id":"bad","engine":"vllm","argv":["Qwen/Qwen2.5-7B-Instruct","--swap-space","4"]}'
if [ "$WITH_SGLANG" != "0" ]; then
  SMOKE="$SMOKE"',{"id":"sg","engine":"sglang","argv":["--model-path","Qwen/Qwen2.5-7B-Instruct","--tp-size","2"]}'
fi
SMOKE="$SMOKE]"
printf '%s' "$SMOKE" | "$VENV/bin/python" "$ROOT/tests/judges/vllm_argcheck.py" | "$VENV/bin/python" -c '
import json, sys
r = {x["id"]: x for x in json.load(sys.stdin)}
bad = [k for k, want in (("ok", True), ("bad", False), ("sg", True)) if k in r and r[k]["ok"] is not want]
if bad:
    for k in bad:
        print("setup-judges: smoke", k, "->", r[k], file=sys.stderr)
    sys.exit(1)
'

printf '%s\n' "$WANT" > "$STAMP"
echo "setup-judges: ready in $(( $(date +%s) - t0 ))s ($(du -sh "$VENV" | cut -f1))"
