#!/usr/bin/env python
"""Build vLLM 0.33.0's own LoRAConfig and SpeculativeConfig from a rendered `vllm serve` argv, without hardware.

Run by the judge venv (.venv-vllm), after the judge (vllm_argcheck.py) has accepted the same argv:

    .venv-vllm/bin/python tests/engines/vllm_configs.py JUDGE_PATH < items.json

stdin: [{"id", "argv"}]; stdout: [{"id", "lora": {...} | null, "speculative": {...} | null, "error"}].
The arguments are those ``EngineArgs.create_engine_config`` passes (vllm/engine/arg_utils.py); that
function itself is not called, because it reads the model's config.json. SpeculativeConfig is built
from ``EngineArgs.speculative_config`` (the parsed --speculative-config JSON) with no target model
config, which is as far as vLLM goes without the checkpoint (see ``speculative`` in the output).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import sys


def main() -> int:
    spec = importlib.util.spec_from_file_location("strait_vllm_judge", sys.argv[1])
    judge = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(judge)
    m = judge._vllm_import()
    out = []
    for it in json.load(sys.stdin):
        res = {"id": it["id"], "lora": None, "speculative": None, "error": None}
        try:
            top, _serve = judge._vllm_parsers()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                ns = top.parse_args(["serve", *it["argv"]])
                if getattr(ns, "model_tag", None) is not None:
                    ns.model = ns.model_tag
                ea = m["arg_utils"].AsyncEngineArgs.from_cli_args(ns)
            if ea.enable_lora:
                from vllm.config.lora import LoRAConfig

                lc = LoRAConfig(max_lora_rank=ea.max_lora_rank, max_loras=ea.max_loras,
                                default_mm_loras=ea.default_mm_loras, fully_sharded_loras=ea.fully_sharded_loras,
                                lora_dtype=ea.lora_dtype, target_modules=ea.lora_target_modules,
                                max_cpu_loras=ea.max_cpu_loras if ea.max_cpu_loras and ea.max_cpu_loras > 0 else None)
                res["lora"] = {"max_loras": lc.max_loras, "max_lora_rank": lc.max_lora_rank,
                               "max_cpu_loras": lc.max_cpu_loras,
                               "modules": {p.name: p.path for p in (ns.lora_modules or [])}}
            if ea.speculative_config:
                from vllm.config.speculative import SpeculativeConfig

                sc = SpeculativeConfig(**ea.speculative_config)
                res["speculative"] = {k: judge._jsonable(getattr(sc, k, None)) for k in (
                    "method", "model", "num_speculative_tokens", "prompt_lookup_min", "prompt_lookup_max")}
        except Exception as e:  # vLLM's own validation errors
            res["error"] = f"{type(e).__name__}: {e}"
        out.append(res)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
