"""vLLM argv: golden file for a fixed spec, plus invariants over the spec space."""
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from strait.render.vllm import VllmSpec, parse_vllm_command, render_vllm_args, render_vllm_command, spec_checksum

from tests.helpers import check_golden

GOLDEN = Path(__file__).parent / "golden"
SPEC = VllmSpec(model="s3://strait-phase1-sg-weights-43cb8bad/models/Qwen/Qwen2.5-32B-Instruct-AWQ/main",
                served_model_name="qwen32b", max_model_len=16384, gpu_memory_utilization=0.9, max_num_seqs=32,
                tensor_parallel_size=4, shutdown_timeout_seconds=60)



def test_golden_argv():
    check_golden(GOLDEN, "vllm-qwen32b.args.json", json.dumps(render_vllm_args(SPEC), indent=1) + "\n")


specs = st.builds(
    VllmSpec, model=st.just("s3://b/m"), served_model_name=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    max_model_len=st.integers(256, 131072), gpu_memory_utilization=st.floats(0.31, 0.98),
    max_num_seqs=st.integers(1, 1024), tensor_parallel_size=st.sampled_from([1, 2, 4, 8]),
    kv_cache_dtype=st.sampled_from(["auto", "fp8"]), enable_prefix_caching=st.booleans(),
    quantization=st.sampled_from([None, "awq", "fp8"]), shutdown_timeout_seconds=st.integers(0, 600))


@given(specs)
def test_argv_invariants(spec):
    args = render_vllm_args(spec)
    assert args[0] == spec.model
    flags = [a for a in args if a.startswith("--")]
    assert len(flags) == len(set(flags)), "a flag appears twice"
    assert args[args.index("--max-model-len") + 1] == str(spec.max_model_len)
    assert "--api-key" not in args and "--disable-log-stats" not in args
    assert render_vllm_args(spec) == args  # deterministic


@given(specs, specs)
def test_checksum_changes_exactly_when_the_spec_changes(a, b):
    assert (spec_checksum(a) == spec_checksum(b)) == (a == b)


@given(specs)
def test_parse_inverts_render(spec):
    model, flags = parse_vllm_command(render_vllm_command(spec))
    assert model == spec.model
    assert flags["max-model-len"] == str(spec.max_model_len)
    assert flags["tensor-parallel-size"] == str(spec.tensor_parallel_size)
    assert flags["kv-cache-dtype"] == spec.kv_cache_dtype
    assert ("enable-prefix-caching" in flags) == spec.enable_prefix_caching
    assert parse_vllm_command(["python", "-m", "sglang"]) is None


AGENT_SPEC = VllmSpec(model="s3://b/models/Qwen/Qwen2.5-7B-Instruct-AWQ/main", served_model_name="agent",
                      max_model_len=16384, max_num_seqs=15, tool_call_parser="hermes",
                      speculative_config='{"method":"ngram","num_speculative_tokens":4,"prompt_lookup_max":4,'
                                         '"prompt_lookup_min":2}',
                      lora_modules=(("sql", "/adapters/sql"),), max_loras=1, max_lora_rank=16, max_cpu_loras=2)


def test_golden_argv_with_tools_speculation_and_lora():
    check_golden(GOLDEN, "vllm-agent.args.json", json.dumps(render_vllm_args(AGENT_SPEC), indent=1) + "\n")


@given(specs, st.sampled_from([None, "hermes", "llama3_json"]), st.sampled_from([None, "deepseek_r1"]),
       st.booleans())
def test_feature_flags_appear_exactly_when_set(spec, tools, reasoning, lora):
    import dataclasses

    spec = dataclasses.replace(spec, tool_call_parser=tools, reasoning_parser=reasoning,
                               lora_modules=(("a", "/adapters/a"),) if lora else ())
    args = render_vllm_args(spec)
    assert ("--enable-auto-tool-choice" in args) == ("--tool-call-parser" in args) == (tools is not None)
    assert ("--reasoning-parser" in args) == (reasoning is not None)
    assert ("--enable-lora" in args) == lora
    flags = [a for a in args if a.startswith("--")]
    assert len(flags) == len(set(flags))
