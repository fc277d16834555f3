#!/usr/bin/env python
"""Judge a multi-node ``vllm serve`` argv with vLLM 0.33.0 itself (run with .venv-vllm/bin/python).

stdin: JSON list of {"id", "argv"} (args after ``vllm serve``, already expanded as the kubelet would).
stdout: JSON list of {"id", "check": <tests/judges/vllm_argcheck.py result>, "parallel": {...} | null,
"parallel_error": str | null}.

On top of the shared judge (vLLM's serve parser, serve-arg validation, EngineArgs.from_cli_args), this builds
vLLM's own ``ParallelConfig`` from the parsed EngineArgs, which is where 0.33.0 checks the multi-node launch
(``nnodes > 1`` needs the mp backend; node rank within range) and derives what each node runs
(``world_size``, ``local_world_size`` = GPUs this node must have, ``nnodes_within_dp``, ``node_rank_within_dp``).
It also reports ``headless`` as parsed, and whether ``run_headless`` would take the multi-node worker path
(``node_rank_within_dp > 0``, vllm/entrypoints/cli/serve.py). Nothing loads a model or opens a socket.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judges"))
import vllm_argcheck  # noqa: E402  (sets the offline, CPU environment before vLLM is imported)


def _parallel(argv: list[str]) -> dict:
    m = vllm_argcheck._vllm_import()
    top, _serve = vllm_argcheck._vllm_parsers()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        ns = top.parse_args(["serve", *argv])
        if getattr(ns, "model_tag", None) is not None:
            ns.model = ns.model_tag
        ea = m["arg_utils"].AsyncEngineArgs.from_cli_args(ns)
    from vllm.config.parallel import ParallelConfig

    pc = ParallelConfig(tensor_parallel_size=ea.tensor_parallel_size,
                        pipeline_parallel_size=ea.pipeline_parallel_size,
                        nnodes=ea.nnodes, node_rank=ea.node_rank, master_addr=ea.master_addr,
                        master_port=ea.master_port, distributed_executor_backend=ea.distributed_executor_backend)
    return {"world_size": pc.world_size, "local_world_size": pc.local_world_size, "nnodes": pc.nnodes,
            "node_rank": pc.node_rank, "nnodes_within_dp": pc.nnodes_within_dp,
            "node_rank_within_dp": pc.node_rank_within_dp, "backend": str(pc.distributed_executor_backend),
            "master_addr": pc.master_addr, "master_port": pc.master_port, "headless": bool(ns.headless),
            "headless_worker_path": bool(ns.headless) and pc.node_rank_within_dp > 0}


def main() -> int:
    items = json.load(sys.stdin)
    checks = vllm_argcheck.check([{"id": it["id"], "engine": "vllm", "argv": it["argv"]} for it in items])
    out = []
    for it, c in zip(items, checks):
        r = {"id": it["id"], "check": c, "parallel": None, "parallel_error": None}
        try:
            r["parallel"] = _parallel(it["argv"])
        except SystemExit as e:
            r["parallel_error"] = f"SystemExit({e.code})"
        except Exception as e:  # vLLM's own validation
            r["parallel_error"] = f"{type(e).__name__}: {e}"
        out.append(r)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
