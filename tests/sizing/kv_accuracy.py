"""Planner vs public vLLM logs: ``python tests/sizing/kv_accuracy.py`` prints the measured error.

Shared by tests/sizing/test_kv_accuracy.py, so the numbers the test holds are the numbers printed.
"""
from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from strait import sizing  # noqa: E402

CASES = ROOT / "tests" / "data" / "kv_cache_cases.yaml"
INPUTS = Path(__file__).with_name("case_inputs.yaml")
#: The acceptance bound: +-10% of reported tokens, or within 1 GiB of reported memory for pools under 10 GiB.
TOKEN_TOLERANCE = 0.10
SMALL_POOL_GIB = 10.0
SMALL_POOL_SLACK_GIB = 1.0


@dataclass(frozen=True)
class CaseResult:
    name: str
    reported_tokens: int
    predicted_tokens: int
    reported_kv_gib: float | None
    predicted_kv_gib: float
    excluded: str | None

    @property
    def token_error(self) -> float:
        return (self.predicted_tokens - self.reported_tokens) / self.reported_tokens

    @property
    def kv_gib_error(self) -> float | None:
        return None if self.reported_kv_gib is None else self.predicted_kv_gib - self.reported_kv_gib

    @property
    def small_pool(self) -> bool:
        pool = self.reported_kv_gib if self.reported_kv_gib is not None else None
        return pool is not None and pool < SMALL_POOL_GIB

    @property
    def within_bound(self) -> bool:
        if abs(self.token_error) <= TOKEN_TOLERANCE:
            return True
        return self.small_pool and abs(self.kv_gib_error) <= SMALL_POOL_SLACK_GIB


def _arch(case: dict, extra: dict) -> SimpleNamespace:
    a = case["arch"]
    mla = (SimpleNamespace(kv_lora_rank=a["kv_lora_rank"], qk_rope_head_dim=a["qk_rope_head_dim"])
           if a["attention"] == "mla" else None)
    return SimpleNamespace(num_layers=a["num_layers"], num_kv_heads=a["num_kv_heads"] or 1, head_dim=a["head_dim"] or 1,
                           hidden_size=extra["hidden_size"], native_context=case["max_model_len"] or 40960, mla=mla)


def evaluate() -> list[CaseResult]:
    cases = yaml.safe_load(CASES.read_text())["cases"]
    inputs = yaml.safe_load(INPUTS.read_text())
    results = []
    for name, case in cases.items():
        extra = {**inputs["defaults"], **inputs["cases"][name]}
        kv_dtype = "fp8" if case["kv_cache_dtype"] == "fp8" else "auto"
        plan = sizing.plan_kv(
            _arch(case, extra), extra.get("weights_gib", 0.0), case["gpu_memory_gib_total"],
            gpu_memory_utilization=case["gpu_memory_utilization"], tp=case["tensor_parallel_size"],
            pp=case["pipeline_parallel_size"], kv_cache_dtype=kv_dtype, dtype_bytes=case["dtype_bytes"] if kv_dtype == "auto" else 2,
            block_size=case["block_size"], max_model_len=case["max_model_len"], gpu_name=case["gpu"],
            vocab_size=extra["vocab_size"], engine=extra["engine"], cuda_graph_gib=extra["cuda_graph_gib"],
            weights_per_gpu_gib=extra.get("weights_per_gpu_gib"),
            max_num_batched_tokens=extra.get("max_num_batched_tokens"))
        rep = case["reported"]
        results.append(CaseResult(name=name, reported_tokens=rep["kv_cache_tokens"], predicted_tokens=plan.kv_tokens,
                                  reported_kv_gib=rep.get("available_kv_gib"), predicted_kv_gib=plan.available_kv_gib,
                                  excluded=extra.get("excluded")))
    return results


def summary(results: list[CaseResult]) -> dict[str, float]:
    inc = [abs(r.token_error) * 100 for r in results if not r.excluded]
    return {"cases": len(inc), "mean_abs_pct": statistics.mean(inc), "max_abs_pct": max(inc)}


def main() -> int:
    results = evaluate()
    print(f"{'case':<42}{'reported':>11}{'planned':>11}{'err %':>8}{'kv GiB rep':>11}{'planned':>9}  status")
    for r in results:
        kv = "-" if r.reported_kv_gib is None else f"{r.reported_kv_gib:.2f}"
        status = "EXCLUDED" if r.excluded else ("ok" if r.within_bound else "OUT OF BOUND")
        print(f"{r.name:<42}{r.reported_tokens:>11,}{r.predicted_tokens:>11,}{r.token_error * 100:>+8.1f}"
              f"{kv:>11}{r.predicted_kv_gib:>9.2f}  {status}")
    s = summary(results)
    print(f"\nKV tokens, {s['cases']} included cases: mean |error| {s['mean_abs_pct']:.1f}%, max |error| {s['max_abs_pct']:.1f}%")
    for r in results:
        if r.excluded:
            print(f"excluded {r.name}: {' '.join(r.excluded.split())}")
    return 0 if all(r.within_bound for r in results if not r.excluded) else 1


if __name__ == "__main__":
    sys.exit(main())
