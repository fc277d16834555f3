#!/usr/bin/env python
"""Build vLLM's own KVTransferConfig from a rendered `vllm serve` argv (prefill/decode disaggregation).

    .venv-vllm/bin/python tests/judges/kv_transfer_check.py < items.json

stdin: JSON list of {"id": str, "argv": [...]} (the args after `vllm serve`). For each, vLLM 0.33.0's serve parser
(built as vllm_argcheck.py builds it) parses the argv, AsyncEngineArgs.from_cli_args takes the parsed namespace,
and KVTransferConfig is built again from the flag's JSON. The connector name is looked up in vLLM's
KVConnectorFactory registry (nothing is loaded: NIXL and Mooncake are not installed here).
stdout: JSON list of {"id", "ok", "error", "kv_role", "kv_connector", "kv_buffer_device", "is_kv_producer",
"is_kv_consumer", "registered"}.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import vllm_argcheck  # noqa: E402


def check_one(argv: list[str]) -> dict:
    from vllm.config.kv_transfer import KVTransferConfig
    from vllm.distributed.kv_transfer.kv_connector.factory import KVConnectorFactory

    m = vllm_argcheck._vllm_import()
    top, _ = vllm_argcheck._vllm_parsers()
    res: dict = {"ok": False, "error": None}
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ns = top.parse_args(["serve", *argv])
        if getattr(ns, "model_tag", None) is not None:
            ns.model = ns.model_tag
        ea = m["arg_utils"].AsyncEngineArgs.from_cli_args(ns)
        parsed = ea.kv_transfer_config
        if parsed is None:
            raise ValueError("no --kv-transfer-config in the argv")
        if not isinstance(parsed, KVTransferConfig):
            raise TypeError(f"EngineArgs.kv_transfer_config is {type(parsed).__name__}, not KVTransferConfig")
        raw = argv[argv.index("--kv-transfer-config") + 1]
        built = KVTransferConfig(**json.loads(raw))
        for key in ("kv_role", "kv_connector", "kv_buffer_device"):
            if getattr(built, key) != getattr(parsed, key):
                raise ValueError(f"{key}: parsed {getattr(parsed, key)!r}, built {getattr(built, key)!r}")
        res.update(kv_role=built.kv_role, kv_connector=built.kv_connector, kv_buffer_device=built.kv_buffer_device,
                   is_kv_producer=built.is_kv_producer, is_kv_consumer=built.is_kv_consumer,
                   registered=built.kv_connector in KVConnectorFactory._registry)
        res["ok"] = res["registered"]
        if not res["registered"]:
            res["error"] = f"connector {built.kv_connector!r} is not registered in vLLM's KVConnectorFactory"
    except SystemExit as e:
        res["error"] = f"argparse exit {e.code}"
    except Exception as e:  # noqa: BLE001 - the verdict is the report
        res["error"] = f"{type(e).__name__}: {e}"
    return res


def main() -> None:
    items = json.load(sys.stdin)
    json.dump([{"id": it["id"], **check_one(it["argv"])} for it in items], sys.stdout)


if __name__ == "__main__":
    main()
