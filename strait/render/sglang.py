"""``sglang serve`` argv for the pinned SGLang version (see catalog images.yaml).

Pure and deterministic, like strait/render/vllm.py. The output is checked by SGLang 0.5.23's own
``prepare_server_args`` in tests/render/test_sglang_parser.py; every flag below is a ``ServerArgs``
field of that version (``sglang/srt/arg_groups/fields/*.py``):

* ``--tp-size`` (``--tp`` is only an argparse abbreviation), ``--mem-fraction-static``,
  ``--context-length``, ``--max-running-requests``, ``--chunked-prefill-size``, ``--kv-cache-dtype``
  (choices auto | fp8_e5m2 | fp8_e4m3 | ...: no plain "fp8"), ``--disable-radix-cache``;
* ``--load-format runai_streamer``: SGLang 0.5.23 streams safetensors from ``s3://``, ``gs://`` and
  ``az://`` as vLLM does (``SUPPORTED_SCHEMES`` in ``sglang/srt/utils/runai_utils.py``), so the weights
  come straight from the cache with no node-local copy;
* ``--enable-metrics`` (off by default) and ``--host 0.0.0.0`` (the default is 127.0.0.1).

SGLang has no environment variable for its API key, only ``--api-key``, and a key on the command line is
visible in the pod spec and in ``ps``. So the argv names a YAML file instead, ``--config <path>``, which
SGLang's ``prepare_server_args`` merges (``ConfigArgumentMerger`` turns each key into ``--<key>``); the
file holds ``api_key: ...`` and is a Secret mounted read-only. The key is never in the argv, a manifest,
the plan or Pulumi state.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

SGLANG_PORT = 8000
#: Where the Secret holding ``api_key: <key>`` is mounted, and its file name.
SECRET_DIR = "/etc/sglang"
SECRET_FILE = "secret-args.yaml"


def secret_config(api_key: str) -> str:
    """The YAML ``--config`` file that carries the API key. A JSON string is a YAML double-quoted scalar, so any
    key reads back exactly (tests/render/test_sglang_parser.py loads it with SGLang's own merger)."""
    return f"api-key: {json.dumps(api_key)}\n"  # the merger turns each key into `--<key>` verbatim

#: Stack ``kv_cache_dtype`` -> SGLang's spelling.
KV_CACHE_DTYPE = {"auto": "auto", "fp8": "fp8_e4m3"}


@dataclass(frozen=True, kw_only=True)
class SglangSpec:
    """What one SGLang server runs. Plain values only, so the argv is deterministic."""

    model_path: str
    """Weights: an s3:// / gs:// prefix of the weight cache, or a local path."""
    served_model_name: str
    context_length: int
    mem_fraction_static: float = 0.85
    """Share of GPU memory for weights + KV cache pool (SGLang's own accounting; activations and CUDA
    graphs live in the rest)."""
    max_running_requests: int = 64
    tp_size: int = 1
    quantization: str | None = None
    """None: SGLang reads the checkpoint's quantization_config (AWQ, FP8, ...)."""
    kv_cache_dtype: str = "auto"
    """Stack spelling (auto | fp8); rendered in SGLang's (fp8 -> fp8_e4m3)."""
    chunked_prefill_size: int | None = None
    """Tokens per prefill chunk. None: SGLang's default for the GPU; -1 turns chunking off."""
    enable_radix_cache: bool = True
    load_format: str | None = "runai_streamer"
    tool_call_parser: str | None = None
    reasoning_parser: str | None = None
    chat_template: str | None = None
    secret_config_path: str | None = f"{SECRET_DIR}/{SECRET_FILE}"
    """``--config`` file with the API key (a mounted Secret). None: no key (tests only)."""
    port: int = SGLANG_PORT


def render_sglang_args(spec: SglangSpec) -> list[str]:
    """Arguments after ``sglang serve``."""
    args = [
        "--model-path", spec.model_path,
        "--served-model-name", spec.served_model_name,
        "--host", "0.0.0.0",
        "--port", str(spec.port),
        "--tp-size", str(spec.tp_size),
        "--mem-fraction-static", f"{spec.mem_fraction_static:g}",
        "--context-length", str(spec.context_length),
        "--max-running-requests", str(spec.max_running_requests),
        "--kv-cache-dtype", KV_CACHE_DTYPE.get(spec.kv_cache_dtype, spec.kv_cache_dtype),
        "--enable-metrics",
    ]
    if spec.chunked_prefill_size is not None:
        args += ["--chunked-prefill-size", str(spec.chunked_prefill_size)]
    if not spec.enable_radix_cache:
        args.append("--disable-radix-cache")
    if spec.quantization:
        args += ["--quantization", spec.quantization]
    if spec.load_format:
        args += ["--load-format", spec.load_format]
    if spec.tool_call_parser:
        args += ["--tool-call-parser", spec.tool_call_parser]
    if spec.reasoning_parser:
        args += ["--reasoning-parser", spec.reasoning_parser]
    if spec.chat_template:
        args += ["--chat-template", spec.chat_template]
    if spec.secret_config_path:
        args += ["--config", spec.secret_config_path]
    return args


def render_sglang_command(spec: SglangSpec) -> list[str]:
    return ["sglang", "serve", *render_sglang_args(spec)]


def parse_sglang_command(argv: list) -> tuple[str, dict[str, str]] | None:
    """The inverse of :func:`render_sglang_command`, for readers of planned resources (cost, policies).

    Returns (model path, flags without ``--``; a flag without a value maps to "true"), or None when
    ``argv`` is not ``sglang serve`` (nor the deprecated ``python -m sglang.launch_server``).
    """
    argv = [str(a) for a in argv]
    if len(argv) >= 2 and argv[0].endswith("sglang") and argv[1] == "serve":
        rest = argv[2:]
    elif len(argv) >= 3 and argv[1:3] == ["-m", "sglang.launch_server"]:
        rest = argv[3:]
    else:
        return None
    flags: dict[str, str] = {}
    positional = None
    i = 0
    while i < len(rest):
        a = rest[i]
        if a.startswith("--"):
            if "=" in a:
                k, v = a[2:].split("=", 1)
                flags[k] = v
            elif i + 1 < len(rest) and not rest[i + 1].startswith("--"):
                flags[a[2:]] = rest[i + 1]
                i += 1
            else:
                flags[a[2:]] = "true"
        elif positional is None:
            positional = a  # `sglang serve MODEL` form
        i += 1
    return flags.get("model-path") or positional or "", flags


def spec_checksum(spec: SglangSpec, *extra: object) -> str:
    """sha256 of everything that should roll the Deployment when it changes."""
    payload = json.dumps([asdict(spec), [str(e) for e in extra]], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
