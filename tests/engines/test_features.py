"""Stack settings x catalog -> the tool-call / reasoning flags a model server gets; bad asks are config errors."""
from __future__ import annotations

import copy

import pytest

from strait.catalog import load_catalog
from strait.config import ConfigError, validate_stack
from strait.engines import ServingFeatures, resolve_features
from tests.conftest import load_stack_raw

CAT = load_catalog()
KEYS = {"anthropic_api_key", "openai_api_key", "deepseek_api_key"}


@pytest.mark.parametrize("model,tools,reasoning,expected", [
    ("qwen2.5-32b-instruct", None, None, ServingFeatures(tool_call_parser="hermes")),
    ("qwen2.5-32b-instruct", False, None, ServingFeatures()),
    ("llama-3.3-70b-instruct", None, None, ServingFeatures(
        tool_call_parser="llama3_json", chat_template="/vllm-workspace/examples/tool_chat_template_llama3.1_json.jinja")),
    # No tool calls: no tool template either; the checkpoint's own template is used.
    ("llama-3.3-70b-instruct", False, None, ServingFeatures()),
    ("deepseek-r1-distill-qwen-32b", None, None, ServingFeatures(reasoning_parser="deepseek_r1")),
    ("deepseek-r1-distill-qwen-32b", None, False, ServingFeatures()),
    ("deepseek-v2-lite-chat", None, None, ServingFeatures()),
])
def test_resolve_vllm(model, tools, reasoning, expected):
    assert resolve_features(CAT.models[model], "vllm", tool_calling=tools, reasoning=reasoning) == expected


def test_resolve_sglang_uses_sglangs_names():
    assert resolve_features(CAT.models["qwen2.5-32b-instruct"], "sglang", tool_calling=None,
                            reasoning=None).tool_call_parser == "qwen25"


def _errors(**model_fields) -> list[str]:
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["models"]["qwen32b"].update(model_fields)
    with pytest.raises(ConfigError) as exc:
        validate_stack(raw, "phase1-sg", secrets_set=KEYS)
    return exc.value.render().splitlines()[1:]


def test_phase1_sg_turns_tool_calling_on():
    assert load_stack_raw("phase1-sg")["models"]["qwen32b"]["tool_calling"] is True
    cfg = validate_stack(load_stack_raw("phase1-sg"), "phase1-sg", secrets_set=KEYS)
    assert cfg.models["qwen32b"].tool_calling is True


def test_reasoning_required_on_a_model_without_a_parser():
    assert _errors(reasoning=True) == [
        "  - strait:models.qwen32b.reasoning = True: qwen2.5-32b-instruct is not a reasoning model vllm can parse, "
        "according to the catalog. Fix: remove reasoning (or set it to false), or serve one of: "
        "deepseek-r1-distill-qwen-14b, deepseek-r1-distill-qwen-32b."]


def test_tool_calling_required_on_a_model_without_a_parser():
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["models"]["qwen32b"].update(model="deepseek-r1-distill-qwen-32b", tool_calling=True)
    with pytest.raises(ConfigError) as exc:
        validate_stack(raw, "phase1-sg", secrets_set=KEYS)
    assert ("strait:models.qwen32b.tool_calling = True: the catalog has no vllm tool-call parser for "
            "deepseek-r1-distill-qwen-32b. Fix: remove tool_calling (or set it to false), or serve a model with one: "
            "llama-3.1-8b-instruct, llama-3.3-70b-instruct, mistral-7b-instruct-v0.3, qwen2.5-14b-instruct, "
            "qwen2.5-32b-instruct, qwen2.5-72b-instruct, qwen2.5-7b-instruct.") in exc.value.render()


def test_tool_calling_must_be_a_boolean():
    (line,) = _errors(tool_calling="sometimes")
    assert line.startswith("  - strait:models.qwen32b.tool_calling = 'sometimes': input should be a valid boolean")


def test_mem_fraction_static_is_sglangs_setting():
    assert _errors(mem_fraction_static=0.8) == [
        "  - strait:models.qwen32b.mem_fraction_static = 0.8: is SGLang's setting but this model runs on vllm. "
        "Fix: remove it and use gpu_memory_utilization, or set engine: sglang."]


def test_an_sglang_model_validates_with_sglangs_parsers_and_memory():
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["models"]["qwen32b"].update(engine="sglang", mem_fraction_static=0.8)
    cfg = validate_stack(raw, "phase1-sg", secrets_set=KEYS)
    from strait.engines import sglang_spec

    spec = sglang_spec("qwen32b", cfg.models["qwen32b"].model_copy(update={"max_num_seqs": 6}), CAT, "s3://b/m")
    assert (spec.tool_call_parser, spec.mem_fraction_static, spec.tp_size, spec.context_length) == ("qwen25", 0.8, 4, 16384)
    # A fraction that leaves no room for the weights is refused with SGLang's accounting.
    raw["models"]["qwen32b"]["mem_fraction_static"] = 0.32
    with pytest.raises(ConfigError, match="leave no room"):
        validate_stack(raw, "phase1-sg", secrets_set=KEYS)


def test_unknown_engine():
    (line,) = _errors(engine="tgi")
    assert line.startswith("  - strait:models.qwen32b.engine = 'tgi': input should be 'vllm' or 'sglang'")
