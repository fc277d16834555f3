"""Speculative decoding: a typed block -> vLLM's --speculative-config (one argv element), accepted by vLLM's
parser and, for n-gram, by vLLM's own SpeculativeConfig; draft weights and KV in the planner."""
from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from strait import sizing
from strait.catalog import load_catalog
from strait.config import ConfigError, validate_stack
from strait.config.sections import SpeculativeConfig
from strait.engines import speculative_json, vllm_spec
from strait.render.vllm import render_vllm_args
from tests.conftest import load_stack_raw
from tests.engines.test_lora import vllm_configs
from tests.render.test_vllm_parser import judge

CAT = load_catalog()
KEYS = {"anthropic_api_key", "openai_api_key", "deepseek_api_key"}


def cfg(**speculative):
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["models"]["qwen32b"]["speculative"] = speculative
    c = validate_stack(raw, "phase1-sg", secrets_set=KEYS)  # the blueprint resolves max_num_seqs first
    return c.model_copy(update={"models": {k: m.model_copy(update={"max_num_seqs": 6}) for k, m in c.models.items()}})


def errors(**speculative) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        cfg(**speculative)
    return [line.removeprefix("  - ") for line in exc.value.render().splitlines()[1:]]


def llama_cfg(**speculative):
    """phase1-sg with Llama 3.1 8B (AWQ, TP 4 on T4s) in place of Qwen: the catalog has an EAGLE-3 head for it."""
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["models"]["qwen32b"].update(model="llama-3.1-8b-instruct", speculative=speculative)
    c = validate_stack(raw, "phase1-sg", secrets_set=KEYS)
    return c.model_copy(update={"models": {k: m.model_copy(update={"max_num_seqs": 6}) for k, m in c.models.items()}})


def llama_errors(**speculative) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        llama_cfg(**speculative)
    return [line.removeprefix("  - ") for line in exc.value.render().splitlines()[1:]]


def test_ngram_renders_one_json_argv_element():
    m = cfg(method="ngram", num_speculative_tokens=5, ngram_min=1, ngram_max=3).models["qwen32b"]
    args = render_vllm_args(vllm_spec("qwen32b", m, CAT, "s3://b/m"))
    value = args[args.index("--speculative-config") + 1]
    assert json.loads(value) == {"method": "ngram", "num_speculative_tokens": 5, "prompt_lookup_min": 1,
                                 "prompt_lookup_max": 3}
    assert " " not in value  # compact: one token however it is quoted


def test_vllms_parser_and_its_speculative_config_accept_ngram():
    m = cfg(method="ngram").models["qwen32b"]
    argv = render_vllm_args(vllm_spec("qwen32b", m, CAT, "s3://b/m"))
    bad = [*argv[:-1], '{"method":"ngram","num_speculative_tokens":4,"prompt_lookup_min":5,"prompt_lookup_max":2}']
    draft = [*argv[:-1], '{"method":"draft_model","model":"s3://b/models/Qwen/Qwen2.5-7B-Instruct/main",'
                         '"num_speculative_tokens":4}']
    parsed = judge([{"id": "ngram", "engine": "vllm", "argv": argv}, {"id": "draft", "engine": "vllm", "argv": draft}])
    assert parsed["ngram"]["ok"] and parsed["draft"]["ok"], parsed
    built = vllm_configs([{"id": "ngram", "argv": argv}, {"id": "bad", "argv": bad}, {"id": "draft", "argv": draft}])
    assert built["ngram"]["speculative"] == {"method": "ngram", "model": "ngram", "num_speculative_tokens": 4,
                                             "prompt_lookup_min": 2, "prompt_lookup_max": 4}
    assert "prompt_lookup_min=5 must be <= prompt_lookup_max=2" in built["bad"]["error"]
    # As far as vLLM allows: a draft model's SpeculativeConfig needs the target's ModelConfig, which vLLM builds
    # from the checkpoint's config.json; without it construction stops here (recorded, not hidden).
    assert built["draft"]["error"] == "AttributeError: 'NoneType' object has no attribute 'hf_overrides'"


@pytest.mark.parametrize("spec,expected", [
    (dict(method="ngram", ngram_min=5, ngram_max=2),
     "strait:models.qwen32b.speculative.ngram_min = 5: above ngram_max (2). Fix: set ngram_min to 2 or less."),
    (dict(method="eagle3"), "strait:models.qwen32b.speculative.method = 'eagle3': the catalog has no EAGLE3 draft "
     "head for qwen2.5-32b-instruct (models with one: llama-3.1-8b-instruct). Fix: use ngram or draft_model, serve a "
     "model with a head, or add the head to models.yaml (speculators:)."),
    (dict(method="eagle"), "strait:models.qwen32b.speculative.method = 'eagle': the catalog has no EAGLE draft head "
     "for qwen2.5-32b-instruct (no catalog model has one). Fix: use ngram or draft_model, serve a model with a head, "
     "or add the head to models.yaml (speculators:)."),
    (dict(method="mtp"), "strait:models.qwen32b.speculative.method = 'mtp': the catalog records no "
     "multi-token-prediction layers for qwen2.5-32b-instruct. Fix: use ngram or draft_model."),
    (dict(method="draft_model", draft_model="llama-3.1-8b-instruct"), "strait:models.qwen32b.speculative.draft_model "
     "= 'llama-3.1-8b-instruct': a draft must be a smaller model with the same tokenizer family (Qwen2ForCausalLM, "
     "< 32.76 B). Fix: name a smaller model of the same family."),
    (dict(method="draft_model", draft_model="qwen2.5-7b-instruct", draft_quantization="awq"),
     "strait:models.qwen32b.speculative.draft_model = 'qwen2.5-7b-instruct': a draft model is seeded into the weight "
     "cache at a pinned commit, and draft_revision is not set. Fix: set draft_revision to the 40-hex commit of "
     "Qwen/Qwen2.5-7B-Instruct-AWQ to serve."),
    (dict(method="draft_model", draft_model="qwen2.5-7b-instruct", draft_quantization="awq", draft_revision="main"),
     "strait:models.qwen32b.speculative.draft_revision = 'main': string should match pattern '^[0-9a-f]{40}$'"),
    (dict(method="ngram", draft_revision="a" * 40), "strait:models.qwen32b.speculative.draft_revision = '"
     + "a" * 40 + "': ngram has no draft checkpoint. Fix: remove draft_revision."),
])
def test_what_cannot_be_served_is_refused(spec, expected):
    assert any(e.startswith(expected) for e in errors(**spec)), errors(**spec)


def test_a_pinned_draft_model_is_served_from_the_cache():
    m = cfg(method="draft_model", draft_model="qwen2.5-7b-instruct", draft_quantization="awq",
            draft_revision="c" * 40).models["qwen32b"]
    with pytest.raises(ValueError, match="needs the draft model's location"):
        vllm_spec("qwen32b", m, CAT, "s3://b/m")
    draft = f"s3://b/models/Qwen/Qwen2.5-7B-Instruct-AWQ/{'c' * 40}"
    argv = render_vllm_args(vllm_spec("qwen32b", m, CAT, "s3://b/m", draft))
    assert json.loads(argv[argv.index("--speculative-config") + 1]) == {
        "method": "draft_model", "model": draft, "num_speculative_tokens": 4}
    assert judge([{"id": "d", "engine": "vllm", "argv": argv}])["d"]["ok"]


def test_draft_weights_and_kv_are_planned():
    arch, draft = CAT.models["qwen2.5-32b-instruct"], CAT.models["qwen2.5-7b-instruct"]
    w, mem = arch.variants["awq"].weights_gib, CAT.gpus["T4"].memory_gib
    base = sizing.plan_kv(arch, w, mem, tp=4, max_model_len=8192, gpu_name="T4")
    dw = draft.variants["awq"].weights_gib / 4
    dbpt = sizing.kv_bytes_per_token(draft, 4)
    with_draft = sizing.plan_kv(arch, w, mem, tp=4, max_model_len=8192, gpu_name="T4", extra_gib=dw,
                                extra_bytes_per_token=dbpt)
    assert base.available_kv_gib - with_draft.available_kv_gib == pytest.approx(dw)
    assert with_draft.bytes_per_token == base.bytes_per_token + dbpt
    assert with_draft.kv_tokens < base.kv_tokens * base.bytes_per_token / with_draft.bytes_per_token


def test_the_memory_policy_reads_a_draft_from_the_argv():
    from policies import views as v
    from policies.rules import Ctx, plan_for
    from tests.policies.builders import deployment, vllm_args

    ctx = Ctx(catalog=CAT, today=dt.date(2026, 11, 30))
    spec = '{"method":"draft_model","model":"s3://b/models/Qwen/Qwen2.5-7B-Instruct-AWQ/main","num_speculative_tokens":4}'
    with_draft = v.vllm_server(deployment(args=vllm_args() + ["--speculative-config", spec]))
    plain = v.vllm_server(deployment(args=vllm_args()))
    assert with_draft.speculative["method"] == "draft_model"
    p1, *_ = plan_for(plain, ctx)
    p2, *_ = plan_for(with_draft, ctx)
    assert p1.available_kv_gib - p2.available_kv_gib == pytest.approx(CAT.models["qwen2.5-7b-instruct"]
                                                                      .variants["awq"].weights_gib / 4)
    assert p2.bytes_per_token > p1.bytes_per_token


def test_speculative_json_is_none_when_off():
    m = validate_stack(load_stack_raw("phase1-sg"), "phase1-sg", secrets_set=KEYS).models["qwen32b"].model_copy(
        update={"max_num_seqs": 6})
    assert speculative_json(m) is None
    assert "--speculative-config" not in render_vllm_args(vllm_spec("qwen32b", m, CAT, "s3://b/m"))
    assert SpeculativeConfig(method="ngram").ngram_max == 4


HEAD = CAT.models["llama-3.1-8b-instruct"].speculators["eagle3"]
HEAD_URI = f"s3://b/models/RedHatAI/Llama-3.1-8B-Instruct-speculator.eagle3/{'e' * 40}"


@pytest.mark.parametrize("spec,expected", [
    (dict(method="eagle3"), "strait:models.qwen32b.speculative.draft_revision = None: the EAGLE3 head is seeded into "
     "the weight cache at a pinned commit, and draft_revision is not set. Fix: set draft_revision to the 40-hex commit "
     "of RedHatAI/Llama-3.1-8B-Instruct-speculator.eagle3 to serve (a source names "
     "5b6cee4e4955edb3c90f2a39d1d804fbee5ce0ae)."),
    (dict(method="eagle3", draft_model="llama-3.1-8b-instruct", draft_revision="e" * 40),
     "strait:models.qwen32b.speculative.draft_model = 'llama-3.1-8b-instruct': eagle3 drafts with the catalog's head "
     "for llama-3.1-8b-instruct (RedHatAI/Llama-3.1-8B-Instruct-speculator.eagle3), not a model. Fix: remove "
     "draft_model."),
    (dict(method="eagle", draft_revision="e" * 40), "strait:models.qwen32b.speculative.method = 'eagle': the catalog "
     "has no EAGLE draft head for llama-3.1-8b-instruct"),
])
def test_an_eagle3_head_needs_a_pinned_revision_and_no_draft_model(spec, expected):
    assert any(e.startswith(expected) for e in llama_errors(**spec)), llama_errors(**spec)


def test_the_catalog_head_is_safetensors_and_sourced():
    # runai_streamer streams safetensors only; the catalog records the format (and the commit a source gives).
    assert HEAD.format == "safetensors" and HEAD.hf_repo == "RedHatAI/Llama-3.1-8B-Instruct-speculator.eagle3"
    assert HEAD.revision == "5b6cee4e4955edb3c90f2a39d1d804fbee5ce0ae" and "docs.vllm.ai" in HEAD.source
    # 950,009,856 bf16 parameters (one Llama layer with 2x-wide qkv input, fc, 32k lm_head, embed_tokens copy).
    assert HEAD.weights_gib == pytest.approx(950_009_856 * 2 / 2**30, abs=1e-3)


def test_an_eagle3_head_is_seeded_rendered_and_planned_like_a_draft():
    from strait.engines import cache_artefacts, draft_gpu_gib, draft_kv_bytes_per_token

    m = llama_cfg(method="eagle3", num_speculative_tokens=3, draft_revision="e" * 40).models["qwen32b"]
    assert cache_artefacts("qwen32b", m, CAT)["qwen32b-draft"] == (
        __import__("strait.engines", fromlist=["CacheArtefact"]).CacheArtefact(
            HEAD.hf_repo, "e" * 40, HEAD.weights_gib, "qwen32b"))
    with pytest.raises(ValueError, match="needs the draft model's location"):
        vllm_spec("qwen32b", m, CAT, "s3://b/m")
    argv = render_vllm_args(vllm_spec("qwen32b", m, CAT, "s3://b/m", HEAD_URI))
    value = argv[argv.index("--speculative-config") + 1]
    assert json.loads(value) == {"method": "eagle3", "model": HEAD_URI, "num_speculative_tokens": 3}
    assert " " not in value
    # The planner: the head's weights per GPU and its one layer's KV (8 KV heads / TP 4 x 128 x K+V x 2 B).
    assert draft_gpu_gib(m, CAT) == pytest.approx(HEAD.weights_gib / 4)
    assert draft_kv_bytes_per_token(m) == 2 * 1 * 2 * 128 * 2
    arch = CAT.models["llama-3.1-8b-instruct"]
    w, mem = arch.variants["awq"].weights_gib, CAT.gpus["T4"].memory_gib
    base = sizing.plan_kv(arch, w, mem, tp=4, max_model_len=16384, gpu_name="T4")
    with_head = sizing.plan_kv(arch, w, mem, tp=4, max_model_len=16384, gpu_name="T4",
                               extra_gib=draft_gpu_gib(m, CAT), extra_bytes_per_token=draft_kv_bytes_per_token(m))
    assert base.available_kv_gib - with_head.available_kv_gib == pytest.approx(HEAD.weights_gib / 4)


def test_vllms_parser_and_its_speculative_config_take_eagle3():
    m = llama_cfg(method="eagle3", draft_revision="e" * 40).models["qwen32b"]
    argv = render_vllm_args(vllm_spec("qwen32b", m, CAT, "s3://b/m", HEAD_URI))
    bad = [*argv[:-1], '{"method":"eagle3","model":"' + HEAD_URI + '","num_speculative_tokens":0}']
    assert judge([{"id": "e", "engine": "vllm", "argv": argv}])["e"]["ok"]
    unknown = [*argv[:-1], '{"method":"eagle9","model":"' + HEAD_URI + '","num_speculative_tokens":4}']
    built = vllm_configs([{"id": "e", "argv": argv}, {"id": "bad", "argv": bad}, {"id": "unknown", "argv": unknown}])
    # vLLM's field validation runs first: it refuses 0 tokens and a method it does not know, and passes eagle3.
    assert "num_speculative_tokens\n  Input should be greater than 0" in built["bad"]["error"], built["bad"]
    assert "input_value='eagle9'" in built["unknown"]["error"] and "'eagle3'" in built["unknown"]["error"]
    # As far as vLLM allows: like a draft model, an EAGLE-3 SpeculativeConfig needs the target's ModelConfig (read
    # from the checkpoint's config.json) before it reads the head's; without it construction stops here.
    assert built["e"]["error"] == "AttributeError: 'NoneType' object has no attribute 'hf_overrides'", built["e"]


def test_the_blueprints_seed_the_head_like_a_draft():
    from blueprints.shared.platforms import seed_specs

    seeds = seed_specs(llama_cfg(method="eagle3", draft_revision="e" * 40), CAT)
    head = seeds["qwen32b-draft"]
    assert (head.hf_repo, head.revision, head.weights_gib, head.reader) == (HEAD.hf_repo, "e" * 40,
                                                                             HEAD.weights_gib, "qwen32b")
    assert "qwen32b-draft" not in seed_specs(llama_cfg(method="ngram"), CAT)
