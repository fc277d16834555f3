"""Every parser the catalog names is registered in the pinned engine, read from the engine's own package."""
from __future__ import annotations

import pytest

from strait.catalog import load_catalog
from tests.engines.fake_engine import VLLM_AUTO_TOOL_ERROR, VLLM_NAMED_TOOL_ERROR
from tests.engines.registries import registry, site_packages

CAT = load_catalog()
ENTRIES = [(m, e, f) for m, a in sorted(CAT.models.items()) for e, f in sorted(a.engines.items())]


@pytest.mark.parametrize("model,engine,features", ENTRIES, ids=[f"{m}-{e}" for m, e, _ in ENTRIES])
def test_catalog_parsers_are_registered_in_the_pinned_engine(model, engine, features):
    if features.tool_call_parser:
        assert features.tool_call_parser in registry(engine, "tool"), sorted(registry(engine, "tool"))
    if features.reasoning_parser:
        assert features.reasoning_parser in registry(engine, "reasoning"), sorted(registry(engine, "reasoning"))
    assert features.tool_call_parser or features.reasoning_parser, "an engines entry that enables nothing"
    assert features.source.strip()


def test_the_registries_are_real_and_discriminate():
    assert {"hermes", "llama3_json", "mistral"} <= registry("vllm", "tool")
    assert "deepseek_r1" in registry("vllm", "reasoning")
    assert {"qwen25", "llama3", "mistral"} <= registry("sglang", "tool")
    assert "deepseek-r1" in registry("sglang", "reasoning")
    # The engines spell names differently: a vLLM name is no SGLang name, and the reverse.
    assert "llama3_json" not in registry("sglang", "tool") and "qwen25" not in registry("vllm", "tool")
    assert "deepseek_r1" not in registry("sglang", "reasoning")


@pytest.mark.parametrize("model,parser", [
    ("qwen2.5-7b-instruct", "hermes"), ("qwen2.5-32b-instruct", "hermes"), ("qwen2.5-72b-instruct", "hermes"),
    ("llama-3.1-8b-instruct", "llama3_json"), ("llama-3.3-70b-instruct", "llama3_json"),
    ("mistral-7b-instruct-v0.3", "mistral")])
def test_issue_parsers(model, parser):
    assert CAT.models[model].engines["vllm"].tool_call_parser == parser


@pytest.mark.parametrize("model", ["deepseek-r1-distill-qwen-14b", "deepseek-r1-distill-qwen-32b"])
def test_r1_distills_reason(model):
    assert CAT.models[model].engines["vllm"].reasoning_parser == "deepseek_r1"
    assert CAT.models[model].engines["sglang"].reasoning_parser == "deepseek-r1"


def test_the_fake_engines_errors_are_vllms_own_words():
    src = (site_packages() / "vllm" / "renderers" / "online_renderer.py").read_text()
    auto_head, auto_tail = VLLM_AUTO_TOOL_ERROR.split("requires ")
    assert f"'{auto_head}requires '" in src and f'"{auto_tail}"' in src
    assert '"--tool-call-parser to be set"' in src and 'f"tool_choice={tool_choice_desc} requires "' in src
    assert VLLM_NAMED_TOOL_ERROR == "tool_choice={} requires --tool-call-parser to be set"
