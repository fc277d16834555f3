#!/usr/bin/env python
"""Check rendered `vllm serve` / `sglang serve` argv with the engines' OWN parsers.

Run with the judge venv made by scripts/setup-judges.sh:

    .venv-vllm/bin/python tests/judges/vllm_argcheck.py < items.json
    .venv-vllm/bin/python tests/judges/vllm_argcheck.py --list-flags
    .venv-vllm/bin/python tests/judges/vllm_argcheck.py --metrics

stdin (check mode): JSON list of
    {"id": str, "engine": "vllm"|"sglang", "argv": [...], "strict": bool = true}
  - vllm:   the args after `vllm serve`, model positional included
  - sglang: the args after `sglang serve` (positional model or --model-path)
stdout: JSON list, input order, of
    {"id", "engine", "ok", "engine_ok", "error", "stage", "warnings",
     "abbreviated", "parsed"}
  engine_ok:   the engine's own verdict.
  ok:          engine_ok, and (strict) no option was accepted only through
               argparse prefix abbreviation (e.g. SGLang takes `--tp` as
               `--tp-size`); those are listed in `abbreviated`.
  error/stage: argparse's message (SystemExit caught, stderr captured) or the
               exception vLLM/SGLang raised, and the step that failed.
  warnings:    WARNING+ log records the engine emitted while checking.
  parsed:      selected values (vLLM: from EngineArgs; api_key_present: bool).

What is exercised (no hardware, no model download, no network):
  vLLM 0.33.0: the `vllm` top-level FlexibleArgumentParser with the `serve`
    subparser built by `make_arg_parser` (exactly as vllm/entrypoints/cli/main.py
    does), then `validate_parsed_serve_args` (ServeSubcommand.validate), then
    `validate_api_server_args` (setup_server), then
    `AsyncEngineArgs.from_cli_args` (which runs EngineArgs.__post_init__),
    then hardware-free checks that vLLM itself only runs inside
    create_engine_config / at model load: the quantization method name
    (ModelConfig; `--quantization` is a free string at parse time), vLLM's
    CacheConfig built from the cache flags (gpu_memory_utilization range, ...),
    the reasoning parser name, and EngineArgs.create_load_config() plus the
    load-format registry and runai_streamer's allowed extra-config keys (read
    from vLLM's source). `create_engine_config` is NOT called; nothing loads.
    With HF_HUB_OFFLINE=1, EngineArgs.__post_init__ would try to resolve the model id in the local HF
    cache; we replace that one lookup (`arg_utils.get_model_path`) with the
    identity, which is what a pod without HF_HUB_OFFLINE does.
  SGLang 0.5.23 (in a child process, see _sglang_worker): `sglang serve`'s
    positional-model normalisation and `prepare_server_args` (argparse +
    ServerArgs.from_cli_args). `resolve_once` (reads the checkpoint) is NOT
    called. `triton` is not installed in the judge venv (1 GB); sglang only
    needs it to import, so the child installs an inert stub module for it.

Importable as a module: check(items) -> list[dict], list_flags(), metrics().
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import warnings
from typing import Any

# ---------------------------------------------------------------------------
# Environment: offline, quiet, CPU. Must run before vllm/sglang are imported.
# ---------------------------------------------------------------------------
_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_DO_NOT_TRACK": "1",
    "DO_NOT_TRACK": "1",
    "VLLM_TARGET_DEVICE": "cpu",
    "VLLM_CONFIGURE_LOGGING": "0",
    "TOKENIZERS_PARALLELISM": "false",
}
for _k, _v in _ENV.items():
    os.environ[_k] = _v

VLLM_PARSED_KEYS = (
    "model",
    "served_model_name",
    "max_model_len",
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "gpu_memory_utilization",
    "max_num_seqs",
    "quantization",
    "kv_cache_dtype",
    "enable_prefix_caching",
    "load_format",
    "download_dir",
    "port",
    "host",
    "shutdown_timeout",
    "tool_call_parser",
    "enable_auto_tool_choice",
)
SGLANG_PARSED_KEYS = (
    "model_path",
    "served_model_name",
    "context_length",
    "tp_size",
    "dp_size",
    "mem_fraction_static",
    "max_running_requests",
    "quantization",
    "kv_cache_dtype",
    "disable_radix_cache",
    "enable_metrics",
    "port",
    "host",
    "tool_call_parser",
)


# ---------------------------------------------------------------------------
# Network guard: the judges must never reach the network.
# ---------------------------------------------------------------------------
_network_attempts: list[str] = []


def _install_network_guard() -> None:
    import socket

    if getattr(socket, "_strait_guard", False):
        return

    def _refuse(what: str, target: Any):
        _network_attempts.append(f"{what} {target!r}")
        raise OSError(f"strait judge: network access refused ({what} {target!r})")

    orig_connect = socket.socket.connect
    orig_connect_ex = socket.socket.connect_ex

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse("connect", address)
        return orig_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse("connect", address)
        return orig_connect_ex(self, address)

    orig_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *a, **k):
        if host not in (None, "", "localhost", "127.0.0.1", "::1", "0.0.0.0"):
            _refuse("getaddrinfo", host)
        return orig_getaddrinfo(host, *a, **k)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket._strait_guard = True  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------
# Log capture: vLLM/SGLang warnings become part of each result, never stdout.
# ---------------------------------------------------------------------------
class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append(record.getMessage())
        except Exception:  # pragma: no cover
            self.records.append(str(record.msg))


_collector = _Collector()


def _install_log_capture(names=("vllm", "sglang")) -> None:
    for name in names:
        lg = logging.getLogger(name)
        if _collector not in lg.handlers:
            lg.addHandler(_collector)
        lg.propagate = False
        lg.setLevel(logging.WARNING)


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if hasattr(v, "value") and isinstance(getattr(v, "value"), (str, int)):
        return v.value  # enums
    return str(v)


def _argparse_message(stderr_text: str, code: Any) -> str:
    """Turn argparse's 'usage: ...\\nprog: error: msg' into 'msg'."""
    lines = [ln for ln in stderr_text.strip().splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        m = re.match(r"^[^:]*: error: (.*)$", ln)
        if m:
            return "\n".join([m.group(1), *lines[i + 1 :]]).strip()
    if lines:
        return lines[-1]
    return f"SystemExit({code!r})"


def _abbreviated(argv: list[str], parser: Any, underscores: bool) -> list[str]:
    """Long options that argparse only accepted by unique-prefix matching.

    Both engines use argparse's default allow_abbrev=True, so `--tp` is taken
    as `--tp-size`. Such argv parse today but break as soon as another flag
    with the same prefix appears (`--cuda-graph-max-bs` already is ambiguous
    in SGLang 0.5.23). Values of options are skipped.
    """
    known = set(parser._option_string_actions)
    out = []
    expect_value = 0
    for tok in argv:
        if expect_value and not (tok.startswith("--") and len(tok) > 2):
            expect_value -= 1
            continue
        expect_value = 0
        if not tok.startswith("--") or tok == "--":
            continue
        key, has_eq, _ = tok.partition("=")
        base = key.split(".", 1)[0]  # vLLM JSON dotted form: --x.y value
        if underscores:
            base = "--" + base[2:].replace("_", "-")
        if base in known:
            act = parser._option_string_actions[base]
            if not has_eq and act.nargs != 0:
                expect_value = 1
            continue
        if any(k.startswith(base) for k in known if k.startswith("--")):
            out.append(base)  # prefix of real option(s): an abbreviation
        if not has_eq:
            expect_value = 1
    return out


def _finish(res: dict[str, Any], abbreviated: list[str], strict: bool) -> dict[str, Any]:
    res["engine_ok"] = res["ok"]
    res["abbreviated"] = abbreviated
    if res["ok"] and abbreviated and strict:
        res["ok"] = False
        res["stage"] = "strict"
        res["error"] = (
            "accepted only as argparse prefix abbreviation(s): "
            + ", ".join(abbreviated)
            + " - render the full option name"
        )
    return res


# ---------------------------------------------------------------------------
# vLLM
# ---------------------------------------------------------------------------
_vllm_mods: dict[str, Any] = {}


def _vllm_import() -> dict[str, Any]:
    if _vllm_mods:
        return _vllm_mods
    _install_network_guard()
    _install_log_capture()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import vllm.engine.arg_utils as arg_utils
        from vllm.entrypoints.common import cli_args
        from vllm.utils.argparse_utils import FlexibleArgumentParser

    # Offline mode would make EngineArgs.__post_init__ look the model id up in
    # the local HF cache (and fail: nothing is downloaded here). In a real pod
    # HF_HUB_OFFLINE is unset and the id is passed through unchanged.
    arg_utils.get_model_path = lambda model, revision=None: model
    _install_log_capture()  # vllm.logger may have reset handlers on import
    try:
        import importlib.metadata as md

        version = md.version("vllm")
    except Exception:  # pragma: no cover
        version = None
    _vllm_mods.update(
        arg_utils=arg_utils,
        cli_args=cli_args,
        FlexibleArgumentParser=FlexibleArgumentParser,
        version=version,
    )
    return _vllm_mods


def _vllm_parsers():
    """Build `vllm` + `vllm serve` parsers the way vllm/entrypoints/cli/main.py does."""
    m = _vllm_import()
    top = m["FlexibleArgumentParser"](description="vLLM CLI", prog="vllm")
    subparsers = top.add_subparsers(required=False, dest="subparser")
    serve = subparsers.add_parser(
        "serve",
        help="Launch a local OpenAI-compatible API server.",
        usage="vllm serve [model_tag] [options]",
    )
    serve = m["cli_args"].make_arg_parser(serve)
    return top, serve


def _vllm_static_quantization(ns: Any) -> None:
    """The hardware-free part of ModelConfig._verify_quantization.

    `--quantization` is a free string at parse time; vLLM rejects unknown
    methods only inside create_engine_config (ModelConfig), which needs the
    model's HF config. Re-check the method name against vLLM's own list.
    """
    q = getattr(ns, "quantization", None)
    if q is None:
        return
    from vllm.model_executor.layers import quantization as me_quant

    if q not in me_quant.QUANTIZATION_METHODS:
        raise ValueError(
            f"Unknown quantization method: {q}. Must be one of "
            f"{me_quant.QUANTIZATION_METHODS}."
        )
    if q in me_quant.DEPRECATED_QUANTIZATION_METHODS and not getattr(
        ns, "allow_deprecated_quantization", False
    ):
        raise ValueError(
            f"The quantization method {q} is deprecated; "
            "set `--allow-deprecated-quantization`."
        )


def _vllm_static_cache_config(ea: Any) -> None:
    """Build vLLM's CacheConfig from the flags that feed it directly.

    create_engine_config builds it with model-derived fields too; the
    pydantic field checks (0 < gpu_memory_utilization <= 1, kv cache dtype,
    block_size > 0, ...) only need these.
    """
    import dataclasses

    from vllm.config.cache import CacheConfig

    wanted = {
        "block_size": ea.block_size,
        "gpu_memory_utilization": ea.gpu_memory_utilization,
        "kv_cache_memory_bytes": getattr(ea, "kv_cache_memory_bytes", None),
        "cache_dtype": ea.kv_cache_dtype,
        "num_gpu_blocks_override": getattr(ea, "num_gpu_blocks_override", None),
        "enable_prefix_caching": ea.enable_prefix_caching,
        "prefix_caching_hash_algo": getattr(ea, "prefix_caching_hash_algo", None),
        "kv_offloading_size": getattr(ea, "kv_offloading_size", None),
        "kv_offloading_backend": getattr(ea, "kv_offloading_backend", None),
    }
    names = {f.name for f in dataclasses.fields(CacheConfig) if f.init}
    CacheConfig(**{k: v for k, v in wanted.items() if k in names and v is not None})


def _vllm_static_reasoning_parser(ea: Any) -> None:
    """`--reasoning-parser` is merged into StructuredOutputsConfig only when the
    engine config is built, after validate_api_server_args has looked; vLLM
    then fails at startup. Check the name against vLLM's registry here."""
    name = getattr(ea, "reasoning_parser", None)
    if not name:
        return
    from vllm.reasoning import ReasoningParserManager

    valid = ReasoningParserManager.list_registered()
    if name not in valid:
        raise KeyError(f"invalid reasoning parser: {name} (chose from {{ {','.join(valid)} }})")


_loader_facts: dict[str, Any] = {}


def _vllm_loader_facts() -> dict[str, Any]:
    """Read vLLM's load-format registry and runai_streamer's allowed
    --model-loader-extra-config keys from the installed source (AST).

    Importing vllm.model_executor.model_loader would pull the CUDA kernel
    modules (vllm._C, einops, ...), which the CPU judge venv does not carry.
    """
    if _loader_facts:
        return _loader_facts
    import importlib.util

    spec = importlib.util.find_spec("vllm")
    root = list(spec.submodule_search_locations)[0]  # type: ignore[union-attr]
    base = os.path.join(root, "model_executor", "model_loader")
    formats: list[str] = []
    with open(os.path.join(base, "__init__.py"), encoding="utf-8") as fh:
        for node in ast.walk(ast.parse(fh.read())):
            target = None
            if isinstance(node, ast.AnnAssign):
                target = node.target
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
            if (
                isinstance(target, ast.Name)
                and target.id == "_LOAD_FORMAT_TO_MODEL_LOADER"
                and isinstance(node.value, ast.Dict)
            ):
                formats = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
    runai_keys: list[str] | None = None
    with open(os.path.join(base, "runai_streamer_loader.py"), encoding="utf-8") as fh:
        for node in ast.walk(ast.parse(fh.read())):
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "allowed_keys"
            ):
                v = _literal(node.value)
                if isinstance(v, (set, list, tuple)):
                    runai_keys = sorted(v)
    _loader_facts.update(formats=formats, runai_keys=runai_keys)
    return _loader_facts


def _vllm_static_loader(ea: Any) -> None:
    """EngineArgs.create_load_config(), then what get_model_loader() and the
    RunaiModelStreamerLoader constructor check at model-load time: the load
    format is registered, and runai_streamer's extra-config keys are allowed.
    (Loader plugins such as vllm-gguf-plugin can add formats; none is assumed.)
    """
    try:
        load_config = ea.create_load_config()
    except ImportError as e:  # e.g. tensorizer validation imports GPU modules
        logging.getLogger("vllm").warning(
            "strait judge: create_load_config() needs modules the CPU judge "
            "venv lacks (%s); load format %r checked by name only",
            e,
            ea.load_format,
        )
        load_config = None
    facts = _vllm_loader_facts()
    if load_config is None:
        if facts["formats"] and ea.load_format not in facts["formats"]:
            raise ValueError(f"Load format `{ea.load_format}` is not supported")
        return
    fmt = load_config.load_format
    if facts["formats"] and fmt not in facts["formats"]:
        raise ValueError(f"Load format `{fmt}` is not supported")
    extra = load_config.model_loader_extra_config
    if fmt == "runai_streamer" and extra and facts["runai_keys"] is not None:
        unexpected = set(dict(extra)) - set(facts["runai_keys"])
        if unexpected:
            raise ValueError(
                f"Unexpected extra config keys for runai_streamer: {unexpected}"
            )


def _vllm_check_one(argv: list[str], strict: bool = True) -> dict[str, Any]:
    m = _vllm_import()
    cli_args = m["cli_args"]
    res: dict[str, Any] = {"ok": False, "error": None, "stage": None, "parsed": None}
    top, serve = _vllm_parsers()
    out, err = io.StringIO(), io.StringIO()
    stage = "parse"
    ns = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            ns = top.parse_args(["serve", *argv])
            stage = "validate_parsed_serve_args"
            cli_args.validate_parsed_serve_args(ns)
            # ServeSubcommand.cmd: the positional wins over --model
            if getattr(ns, "model_tag", None) is not None:
                ns.model = ns.model_tag
            stage = "validate_api_server_args"
            cli_args.validate_api_server_args(ns)
            stage = "EngineArgs.from_cli_args"
            ea = m["arg_utils"].AsyncEngineArgs.from_cli_args(ns)
            cli_args.propagate_flash_late_interaction(ns, ea)
            stage = "ModelConfig quantization (static)"
            _vllm_static_quantization(ns)
            stage = "CacheConfig (static)"
            _vllm_static_cache_config(ea)
            stage = "reasoning parser (static)"
            _vllm_static_reasoning_parser(ea)
            stage = "LoadConfig / load format (static)"
            _vllm_static_loader(ea)
        res["ok"] = True
        parsed = {}
        for key in VLLM_PARSED_KEYS:
            if hasattr(ea, key):
                parsed[key] = _jsonable(getattr(ea, key))
            else:
                parsed[key] = _jsonable(getattr(ns, key, None))
        parsed["api_key_present"] = bool(getattr(ns, "api_key", None))
        res["parsed"] = parsed
    except SystemExit as e:
        res["error"] = _argparse_message(err.getvalue(), e.code)
    except Exception as e:  # validation errors raised by vLLM itself
        res["error"] = f"{type(e).__name__}: {e}"
    if not res["ok"]:
        res["stage"] = stage
    return _finish(res, _abbreviated(argv, serve, underscores=True), strict)


def list_flags() -> dict[str, Any]:
    """Every option string of `vllm serve` (0.33.0), with dest/choices/deprecation."""
    m = _vllm_import()
    _top, serve = _vllm_parsers()
    deprecated = getattr(serve, "_deprecated", set())
    all_strings: dict[int, list[str]] = {}
    for opt, act in serve._option_string_actions.items():
        all_strings.setdefault(id(act), []).append(opt)
    flags = []
    for act in serve._actions:
        if not act.option_strings:
            continue
        hidden = sorted(set(all_strings.get(id(act), [])) - set(act.option_strings))
        flags.append(
            {
                "option_strings": list(act.option_strings),
                "hidden_option_strings": hidden,
                "dest": act.dest,
                "choices": _jsonable(list(act.choices)) if act.choices else None,
                "nargs": _jsonable(act.nargs),
                "deprecated": act in deprecated or bool(getattr(act, "deprecated", False)),
                "takes_value": act.nargs != 0,
            }
        )
    options = sorted(serve._option_string_actions)
    return {"engine": "vllm", "version": m["version"], "options": options, "flags": flags}


# ---------------------------------------------------------------------------
# vLLM Prometheus metric names, read from the installed package source (AST).
# ---------------------------------------------------------------------------
_METRIC_RE = re.compile(r"^vllm:[A-Za-z_][A-Za-z0-9_]*$")
_KIND_RE = re.compile(r"(gauge|counter|histogram|summary|info)", re.I)


def _call_name(func: ast.AST) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _kind_of(func: ast.AST) -> str | None:
    m = _KIND_RE.search(_call_name(func))
    return m.group(1).lower() if m else None


def _ref_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal(node: ast.AST | None) -> Any:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except Exception:
        return None


def _labels(value: ast.AST, func: ast.AST | None) -> Any:
    """labelnames=[...] literal, or `labelnames (+ [...])` resolved in the function."""
    lit = _literal(value)
    if isinstance(lit, (list, tuple)):
        return list(lit)
    local: dict[str, list[str]] = {}
    for sub in ast.walk(func) if func is not None else ():
        if isinstance(sub, ast.Assign) and len(sub.targets) == 1 and isinstance(sub.targets[0], ast.Name):
            v = _literal(sub.value)
            if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
                local[sub.targets[0].id] = list(v)

    def ev(n: ast.AST) -> list[str] | None:
        if isinstance(n, ast.Name) and n.id in local:
            return local[n.id]
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add):
            a, b = ev(n.left), ev(n.right)
            return a + b if a is not None and b is not None else None
        v = _literal(n)
        return list(v) if isinstance(v, (list, tuple)) else None

    resolved = ev(value)
    return resolved if resolved is not None else ast.unparse(value)


def metrics() -> dict[str, Any]:
    """All "vllm:..." Prometheus metric names defined in the installed vllm source.

    Static (AST) scan; vllm is not imported. For each name:
      type: from the constructor it is passed to (prometheus_client Gauge/
        Counter/Histogram, vLLM's self._gauge_cls/_counter_cls/_histogram_cls,
        helpers such as set_gauge/OffloadingGaugeMetadata), or from the
        `*_specs` list it sits in, or from where the constant it is bound to
        is used. null when none of these says.
      how: "direct" (literal passed to the constructor), "specs", "indirect"
        (via a named constant), or "constant" (type unknown).
      exposed: the series /metrics shows (counters get _total, histograms
        _bucket/_sum/_count).
      core: defined in vllm/v1/metrics/loggers.py (the PrometheusStatLogger
        every `vllm serve` registers); the others belong to optional features
        (KV connectors/offload, spec decode, RL, sleep mode, realtime audio).
    vllm/benchmarks/ (client-side) is skipped.
    """
    import importlib.util

    spec = importlib.util.find_spec("vllm")  # does not import vllm
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("vllm is not installed in this interpreter")
    root = list(spec.submodule_search_locations)[0]
    try:
        import importlib.metadata as md

        version = md.version("vllm")
    except Exception:  # pragma: no cover
        version = None

    sources: dict[str, str] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ("benchmarks", "__pycache__")]
        for fn in files:
            if fn.endswith(".py"):
                path = os.path.join(dirpath, fn)
                try:
                    with open(path, encoding="utf-8") as fh:
                        sources[os.path.relpath(path, os.path.dirname(root))] = fh.read()
                except (OSError, UnicodeDecodeError):
                    continue

    found: dict[str, dict[str, Any]] = {}
    refs: dict[str, set[str]] = {}  # bound name -> metric names

    def entry(name: str) -> dict[str, Any]:
        return found.setdefault(name, {"name": name, "type": None, "how": "constant", "where": []})

    def set_kind(e: dict[str, Any], kind: str | None, how: str) -> None:
        if kind and e["type"] is None:
            e["type"], e["how"] = kind, how

    # Pass 1: files that spell a metric name.
    for rel, text in sources.items():
        if "vllm:" not in text:
            continue
        try:
            tree = ast.parse(text, filename=rel)
        except SyntaxError:
            continue
        parent: dict[int, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parent[id(child)] = node
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _METRIC_RE.match(node.value)
            ):
                continue
            e = entry(node.value)
            e["where"].append(f"{rel}:{node.lineno}")
            up = parent.get(id(node))
            # a) literal passed as name to a metric constructor
            if isinstance(up, ast.keyword) and up.arg == "name":
                call = parent.get(id(up))
            elif isinstance(up, ast.Call) and up.args and up.args[0] is node:
                call = up
            else:
                call = None
            if isinstance(call, ast.Call) and _kind_of(call.func):
                set_kind(e, _kind_of(call.func), "direct")
                func = call
                while func is not None and not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    func = parent.get(id(func))
                for kw in call.keywords:
                    if kw.arg == "documentation" and not e.get("documentation"):
                        doc = _literal(kw.value)
                        if isinstance(doc, str):
                            e["documentation"] = doc
                    if kw.arg == "labelnames" and "labelnames" not in e:
                        e["labelnames"] = _labels(kw.value, func)
                continue
            # b) ("vllm:x", "doc") inside counter_specs = [...] etc.
            anc = up
            while anc is not None and not isinstance(anc, (ast.Assign, ast.AnnAssign, ast.FunctionDef)):
                anc = parent.get(id(anc))
            if isinstance(anc, (ast.Assign, ast.AnnAssign)):
                targets = anc.targets if isinstance(anc, ast.Assign) else [anc.target]
                tnames = [_ref_name(t) for t in targets]
                kinds = [_KIND_RE.search(t).group(1).lower() for t in tnames if t and _KIND_RE.search(t)]
                if kinds and up is not anc:
                    set_kind(e, kinds[0], "specs")
                    if isinstance(up, ast.Tuple) and len(up.elts) > 1 and not e.get("documentation"):
                        doc = _literal(up.elts[1])
                        if isinstance(doc, str):
                            e["documentation"] = doc
                elif anc.value is node:
                    # c) NAME = "vllm:x": resolve where NAME is used. Constants
                    # (attributes, UPPER_CASE) package-wide in pass 2; plain
                    # local variables only inside their own function.
                    for t, tn in zip(targets, tnames):
                        if not tn:
                            continue
                        if isinstance(t, ast.Attribute) or tn.lstrip("_").isupper():
                            refs.setdefault(tn, set()).add(node.value)
                            continue
                        func = anc
                        while func is not None and not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                            func = parent.get(id(func))
                        for sub in ast.walk(func) if func is not None else ():
                            if isinstance(sub, ast.Call) and _kind_of(sub.func):
                                for kw in sub.keywords:
                                    if kw.arg == "name" and _ref_name(kw.value) == tn:
                                        set_kind(e, _kind_of(sub.func), "indirect")
                                        for kw2 in sub.keywords:
                                            if kw2.arg == "labelnames" and "labelnames" not in e:
                                                e["labelnames"] = _labels(kw2.value, func)

    # Pass 2: where bound names are handed to metric constructors/helpers.
    if refs:
        pat = re.compile(r"\b(" + "|".join(map(re.escape, refs)) + r")\b")
        for rel, text in sources.items():
            if not pat.search(text):
                continue
            try:
                tree = ast.parse(text, filename=rel)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                pairs: list[tuple[ast.AST, str | None]] = []
                if isinstance(node, ast.Call) and _kind_of(node.func):
                    kind = _kind_of(node.func)
                    pairs += [(a, kind) for a in node.args]
                    pairs += [(kw.value, kind) for kw in node.keywords if kw.arg == "name"]
                elif isinstance(node, ast.Dict):
                    for k, v in zip(node.keys, node.values):
                        if k is not None and isinstance(v, ast.Call):
                            pairs.append((k, _kind_of(v.func)))
                elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                    for t in node.targets:  # metrics[NAME] = CounterMetadata(...)
                        if isinstance(t, ast.Subscript):
                            pairs.append((t.slice, _kind_of(node.value.func)))
                for arg, kind in pairs:
                    ref = _ref_name(arg)
                    if kind and ref in refs:
                        for mname in refs[ref]:
                            set_kind(found[mname], kind, "indirect")

    out = []
    for name in sorted(found):
        e = found[name]
        t = e["type"]
        base = name[: -len("_total")] if t == "counter" and name.endswith("_total") else name
        if t == "counter":
            exposed = [base + "_total"]
        elif t == "histogram":
            exposed = [name + "_bucket", name + "_sum", name + "_count"]
        elif t == "summary":
            exposed = [name + "_sum", name + "_count"]
        elif t == "info":
            exposed = [name + "_info"]
        else:
            exposed = [name]
        e["exposed"] = exposed
        e["core"] = any(w.startswith("vllm/v1/metrics/loggers.py") for w in e["where"])
        out.append(e)
    return {"engine": "vllm", "version": version, "source": root, "metrics": out}


# ---------------------------------------------------------------------------
# SGLang (child process: it needs an inert `triton` stub, which must not leak
# into vLLM's import-time feature detection in this process).
# ---------------------------------------------------------------------------
def _install_triton_stub() -> None:
    import importlib.abc
    import importlib.machinery
    import importlib.util
    import types

    if importlib.util.find_spec("triton") is not None:
        return  # real triton present: use it

    class _Any:
        def __init__(self, n: str) -> None:
            self._n = n

        def __getattr__(self, k: str):
            if k.startswith("__"):
                raise AttributeError(k)
            return _Any(f"{self._n}.{k}")

        def __call__(self, *a, **k):
            if len(a) == 1 and callable(a[0]) and not k:
                return a[0]  # bare decorator (@triton.jit)
            return _Any(f"{self._n}()")

        def __getitem__(self, k):
            return _Any(f"{self._n}[]")

        def __mro_entries__(self, bases):
            return (object,)

    class _Mod(types.ModuleType):
        def __getattr__(self, k: str):
            if k.startswith("__"):
                raise AttributeError(k)
            return _Any(f"{self.__name__}.{k}")

    class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if name == "triton" or name.startswith("triton."):
                return importlib.machinery.ModuleSpec(name, self, is_package=True)
            return None

        def create_module(self, spec):
            mod = _Mod(spec.name)
            mod.__path__ = []
            mod.__version__ = "3.9.0"
            return mod

        def exec_module(self, module):
            return None

    sys.meta_path.insert(0, _Finder())


def _sglang_check_one(argv: list[str], strict: bool = True) -> dict[str, Any]:
    res: dict[str, Any] = {"ok": False, "error": None, "stage": None, "parsed": None}
    out, err = io.StringIO(), io.StringIO()
    stage = "import"
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from sglang.srt.server_args import prepare_server_args

                try:
                    from sglang.cli.serve import (
                        _extract_model_type_override,
                        _normalize_positional_model_path,
                    )
                except ImportError:  # pragma: no cover - private helpers moved
                    _extract_model_type_override = lambda a: ("auto", list(a))  # noqa: E731

                    def _normalize_positional_model_path(a):
                        if a and not a[0].startswith("-"):
                            return ["--model-path", a[0], *a[1:]], True
                        return a, False

            _install_log_capture()
            stage = "parse"
            _backend, dispatch = _extract_model_type_override(list(argv))
            dispatch, _positional = _normalize_positional_model_path(dispatch)
            sa = prepare_server_args(list(dispatch))
            _install_log_capture()  # prepare_server_args reconfigures logging
        res["ok"] = True
        parsed = {k: _jsonable(getattr(sa, k, None)) for k in SGLANG_PARSED_KEYS}
        parsed["api_key_present"] = bool(getattr(sa, "api_key", None))
        res["parsed"] = parsed
    except SystemExit as e:
        res["error"] = _argparse_message(err.getvalue(), e.code)
    except Exception as e:
        res["error"] = f"{type(e).__name__}: {e}"
    if not res["ok"]:
        res["stage"] = stage
    abbreviated: list[str] = []
    try:
        import argparse

        from sglang.srt.server_args import ServerArgs

        parser = argparse.ArgumentParser(prog="sglang serve")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ServerArgs.add_cli_args(parser)
        abbreviated = _abbreviated(argv, parser, underscores=False)
    except Exception:
        pass
    return _finish(res, abbreviated, strict)


def _sglang_worker() -> int:
    _install_network_guard()
    _install_triton_stub()
    items = json.load(sys.stdin)
    results = []
    for it in items:
        del _collector.records[:]
        r = _sglang_check_one(list(it.get("argv") or []), bool(it.get("strict", True)))
        r["warnings"] = list(_collector.records)
        results.append(r)
    sys.stdout.write(json.dumps(results))
    return 0


def _sglang_check_many(argvs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not argvs:
        return []
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--sglang-worker"],
        input=json.dumps(argvs),
        capture_output=True,
        text=True,
        env={**os.environ, **_ENV},
    )
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        msg = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:]
        return [
            {"ok": False, "engine_ok": False, "error": "sglang judge failed: " + " | ".join(msg),
             "stage": "import", "parsed": None, "warnings": [], "abbreviated": []}
            for _ in argvs
        ]


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------
def check(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check each {"id", "engine", "argv"}; results are in input order."""
    results: list[dict[str, Any] | None] = [None] * len(items)
    sglang_idx: list[int] = []
    for i, it in enumerate(items):
        engine = it.get("engine", "vllm")
        argv = it.get("argv")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            results[i] = {"ok": False, "error": "argv must be a list of strings",
                          "stage": "input", "parsed": None, "warnings": [],
                          "engine_ok": False, "abbreviated": []}
        elif engine == "vllm":
            del _collector.records[:]
            try:
                _vllm_import()
            except Exception as e:  # judge venv broken: say so per item
                results[i] = {"ok": False, "engine_ok": False, "stage": "import",
                              "error": f"vllm judge import failed: {type(e).__name__}: {e}",
                              "parsed": None, "warnings": [], "abbreviated": []}
                continue
            r = _vllm_check_one(argv, bool(it.get("strict", True)))
            r["warnings"] = list(_collector.records)
            results[i] = r
        elif engine == "sglang":
            sglang_idx.append(i)
        else:
            results[i] = {"ok": False, "error": f"unknown engine {engine!r}",
                          "stage": "input", "parsed": None, "warnings": [],
                          "engine_ok": False, "abbreviated": []}
    sg_items = [{"argv": items[i]["argv"], "strict": items[i].get("strict", True)} for i in sglang_idx]
    for i, r in zip(sglang_idx, _sglang_check_many(sg_items)):
        results[i] = r
    final = []
    for it, r in zip(items, results):
        assert r is not None
        final.append({"id": it.get("id"), "engine": it.get("engine", "vllm"), **r})
    if _network_attempts:
        for r in final:
            r.setdefault("network_attempts", list(_network_attempts))
    return final


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--sglang-worker"]:
        return _sglang_worker()
    if argv[:1] == ["--list-flags"]:
        print(json.dumps(list_flags(), indent=1))
        return 0
    if argv[:1] == ["--metrics"]:
        print(json.dumps(metrics(), indent=1))
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    items = json.load(sys.stdin)
    print(json.dumps(check(items), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
