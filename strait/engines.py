"""What a serving engine turns on for one model: tool-call parser, reasoning parser, chat template.

Pure: the catalog says what each engine supports per model (``models.yaml`` ``engines:``), the stack
says what it wants (``models.<key>.tool_calling`` / ``reasoning``), and this module resolves the two
into the values the renderers take. The parser names themselves are checked against the pinned
engines' own registries in tests/engines/.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from strait.catalog.schema import ModelArch
from strait.config.errors import ConfigIssue



@dataclass(frozen=True)
class ServingFeatures:
    tool_call_parser: str | None = None
    reasoning_parser: str | None = None
    chat_template: str | None = None


def resolve_features(arch: ModelArch, engine: str, *, tool_calling: bool | None, reasoning: bool | None) -> ServingFeatures:
    """The features to render. ``None`` in the stack means "on where the catalog has a parser"."""
    f = arch.engines.get(engine)
    if f is None:
        return ServingFeatures()
    tools = f.tool_call_parser if tool_calling is not False else None
    return ServingFeatures(
        tool_call_parser=tools,
        reasoning_parser=f.reasoning_parser if reasoning is not False else None,
        # The template exists for tool calls; without them the checkpoint's own is the better default.
        chat_template=f.chat_template if tools else None,
    )


def check_features(path: str, model_key: str, arch: ModelArch, engine: str, *, tool_calling: bool | None,
                   reasoning: bool | None) -> list[ConfigIssue]:
    """A stack that asks for tool calling or reasoning on a model the engine cannot parse is an error."""
    issues = []
    f = arch.engines.get(engine)
    if tool_calling and (f is None or not f.tool_call_parser):
        able = _models_with(engine, "tool_call_parser")
        issues.append(ConfigIssue(
            f"{path}.tool_calling", True,
            f"the catalog has no {engine} tool-call parser for {model_key}",
            f"remove tool_calling (or set it to false), or serve a model with one: {', '.join(able)}"))
    if reasoning and (f is None or not f.reasoning_parser):
        able = _models_with(engine, "reasoning_parser")
        issues.append(ConfigIssue(
            f"{path}.reasoning", True,
            f"{model_key} is not a reasoning model {engine} can parse, according to the catalog",
            f"remove reasoning (or set it to false), or serve one of: {', '.join(able)}"))
    return issues


def _models_with(engine: str, attr: str) -> list[str]:
    from strait.catalog import load_catalog

    return sorted(k for k, a in load_catalog().models.items()
                  if engine in a.engines and getattr(a.engines[engine], attr))


#: SGLang's --mem-fraction-static when the stack does not set one: close to SGLang's own default for
#: 24-80 GB GPUs at TP 1-4 (``memory_hook.py``: capacity minus a reserve for activations and graphs).
DEFAULT_MEM_FRACTION_STATIC = 0.85


def memory_fraction(m) -> float:
    """The engine's share of GPU memory for a ModelConfig: vLLM's utilisation or SGLang's static fraction."""
    if m.engine == "sglang":
        return m.mem_fraction_static or DEFAULT_MEM_FRACTION_STATIC
    return m.gpu_memory_utilization


def sglang_spec(key: str, m, cat, model_path: str):
    """The SglangSpec of a ModelConfig ``m`` (key ``key``) whose weights are at ``model_path``."""
    from strait.render.sglang import SglangSpec

    variant = cat.variant(m.model, m.quantization)
    return SglangSpec(
        model_path=model_path, served_model_name=m.served_model_name or key, context_length=m.max_model_len,
        mem_fraction_static=memory_fraction(m), max_running_requests=m.max_num_seqs or 64,
        tp_size=m.tensor_parallel_size, quantization=variant.vllm_quantization, kv_cache_dtype=m.kv_cache_dtype,
        enable_radix_cache=m.enable_prefix_caching,
        **asdict(resolve_features(cat.models[m.model], "sglang", tool_calling=m.tool_calling, reasoning=m.reasoning)))


#: --max-loras when the stack does not set one: every adapter up to this many in one batch.
DEFAULT_MAX_LORAS = 4


def lora_settings(m) -> dict:
    """VllmSpec's LoRA fields for a ModelConfig ``m`` (empty when it has no adapters)."""
    from strait.render.vllm import ADAPTER_DIR, LORA_RANKS

    if not m.adapters:
        return {}
    top = max(a.rank for a in m.adapters.values())
    max_loras = m.max_loras or min(len(m.adapters), DEFAULT_MAX_LORAS)
    return {"lora_modules": tuple((name, f"{ADAPTER_DIR}/{name}") for name in sorted(m.adapters)),
            "max_loras": max_loras, "max_lora_rank": next(r for r in LORA_RANKS if r >= top),
            "max_cpu_loras": max(len(m.adapters), max_loras)}


#: Longest weight-cache key: its seeding Job is ``seed-<key>`` and a Job name is a label value (63 characters).
CACHE_KEY_MAX = 63 - len("seed-")


def adapter_cache_key(key: str, name: str) -> str:
    """The weight cache's key for adapter ``name`` of model ``key`` (its seeding Job is ``seed-<this>``)."""
    return f"{key}-lora-{name}"


def draft_cache_key(key: str) -> str:
    """The weight cache's key for the speculative draft model of model ``key``."""
    return f"{key}-draft"


def adapter_gib(arch, rank: int) -> float:
    """Upper bound of one adapter checkpoint's size: A and B matrices of rank ``rank`` for every layer's qkv, o,
    gate_up and down projections in fp32 (PEFT often saves fp32; bf16 is half). Adapters that also save
    embeddings (``modules_to_save``) are larger: the emptyDir's slack covers small ones only."""
    from strait import sizing

    return sizing.lora_gpu_gib(arch, max_loras=1, max_lora_rank=rank, tp=1, dtype_bytes=4)


@dataclass(frozen=True)
class CacheArtefact:
    """A checkpoint besides the model's own that its server needs in the weight cache."""

    hf_repo: str
    revision: str
    weights_gib: float
    reader: str
    """The model key whose server (and ServiceAccount) reads it."""


def cache_artefacts(key: str, m, cat) -> dict[str, CacheArtefact]:
    """The LoRA adapters and the draft model of ModelConfig ``m`` (key ``key``), by weight-cache key: each is
    seeded like a base model, at its pinned revision, and read by the model's own ServiceAccount."""
    arch = cat.models[m.model]
    out = {adapter_cache_key(key, n): CacheArtefact(a.hf_repo, a.revision, adapter_gib(arch, a.rank), key)
           for n, a in sorted(m.adapters.items())}
    sp = m.speculative
    head = speculator_head(m, cat)
    if head is not None and sp.draft_revision:
        out[draft_cache_key(key)] = CacheArtefact(head.hf_repo, sp.draft_revision, head.weights_gib, key)
    elif sp is not None and sp.method == "draft_model" and sp.draft_model and sp.draft_revision:
        v = cat.variant(sp.draft_model, sp.draft_quantization)
        out[draft_cache_key(key)] = CacheArtefact(v.hf_repo, sp.draft_revision, v.weights_gib, key)
    return out


#: Methods whose draft is a trained head the catalog lists for the target model (``speculators:``).
HEAD_METHODS = ("eagle", "eagle3")


def speculator_head(m, cat):
    """The catalog's EAGLE / EAGLE-3 head a ModelConfig's speculative method uses, or None."""
    sp = m.speculative
    if sp is None or sp.method not in HEAD_METHODS or m.model not in cat.models:
        return None
    return cat.models[m.model].speculators.get(sp.method)


def _models_with_head(cat, method: str) -> list[str]:
    return sorted(k for k, a in cat.models.items() if method in a.speculators)


def check_adapters(path: str, key: str, m, cfg) -> list[ConfigIssue]:
    """LoRA adapters are a vLLM feature here, and each name must be a model name no one else uses."""
    issues = []
    if m.adapters and m.engine != "vllm":
        issues.append(ConfigIssue(f"{path}.adapters", sorted(m.adapters), f"LoRA adapters are served by vLLM here, "
                                  f"not {m.engine}", "set engine: vllm for this model, or remove its adapters"))
    taken = set(cfg.models) | set(cfg.gateway.tiers)
    if cfg.gateway.routing is not None:
        taken.add(cfg.gateway.routing.auto_model)
    others = {a for k, o in cfg.models.items() if k != key for a in o.adapters}
    for name in sorted(m.adapters):
        if name in taken or name in others:
            issues.append(ConfigIssue(f"{path}.adapters.{name}", name, "clients would send this model name for two "
                                      "things (a model, a tier, the auto model or another adapter)",
                                      "give the adapter a name of its own"))
    for name in sorted(m.adapters):
        # Each adapter is seeded by a Job named seed-<cache key>, and a Job's name is a pod label value.
        if len(adapter_cache_key(key, name)) > CACHE_KEY_MAX:
            issues.append(ConfigIssue(f"{path}.adapters.{name}", name, f"the adapter's cache key "
                                      f"{adapter_cache_key(key, name)!r} is longer than {CACHE_KEY_MAX} characters "
                                      "(its seeding Job is named after it)",
                                      f"shorten the adapter's or the model's name to {CACHE_KEY_MAX} in all"))
    if m.max_loras is not None and not m.adapters:
        issues.append(ConfigIssue(f"{path}.max_loras", m.max_loras, "set without adapters",
                                  "remove max_loras, or list adapters"))
    return issues


def extra_gpu_gib(m, arch) -> float:
    """GPU memory per GPU a ModelConfig's server holds beside its weights: LoRA slots and a draft model."""
    from strait import sizing
    from strait.catalog import load_catalog

    lora = lora_settings(m)
    out = draft_gpu_gib(m, load_catalog())
    if lora:
        out += sizing.lora_gpu_gib(arch, max_loras=lora["max_loras"], max_lora_rank=lora["max_lora_rank"],
                                   tp=m.tensor_parallel_size)
    return out


def draft_kv_bytes_per_token(m) -> int:
    """KV bytes per token per GPU a ModelConfig's draft model adds (0 without one)."""
    from strait import sizing
    from strait.catalog import load_catalog

    cat = load_catalog()
    sp = m.speculative
    head = speculator_head(m, cat)
    if head is not None:
        # The head's own decoder layers keep a KV cache shaped like the target's (the Llama head: same KV heads).
        return sizing.kv_bytes_per_token(cat.models[m.model], m.tensor_parallel_size, 1, m.kv_cache_dtype,
                                         layers=head.layers)
    if sp is None or sp.method != "draft_model" or sp.draft_model not in cat.models:
        return 0
    return sizing.kv_bytes_per_token(cat.models[sp.draft_model], m.tensor_parallel_size, 1, m.kv_cache_dtype)


def vllm_spec(key: str, m, cat, model: str, draft: str | None = None):
    """The VllmSpec of a ModelConfig ``m`` (key ``key``) whose weights are at ``model`` and whose speculative
    draft model (if any) is at ``draft``: vLLM streams a draft from object storage like the target (its draft
    ModelConfig pulls config and tokenizer from the URI, runai_streamer its weights)."""
    from strait.render.vllm import VllmSpec

    sp = m.speculative
    if sp is not None and sp.method in DRAFT_METHODS and not draft:
        raise ValueError(f"models.{key}.speculative.method {sp.method!r} needs the draft model's location")
    variant = cat.variant(m.model, m.quantization)
    return VllmSpec(
        model=model, served_model_name=m.served_model_name or key, max_model_len=m.max_model_len,
        gpu_memory_utilization=m.gpu_memory_utilization, max_num_seqs=m.max_num_seqs,
        tensor_parallel_size=m.tensor_parallel_size, quantization=variant.vllm_quantization,
        kv_cache_dtype=m.kv_cache_dtype, enable_prefix_caching=m.enable_prefix_caching,
        shutdown_timeout_seconds=m.shutdown_timeout_seconds, speculative_config=speculative_json(m, draft),
        **lora_settings(m),
        **asdict(resolve_features(cat.models[m.model], "vllm", tool_calling=m.tool_calling, reasoning=m.reasoning)))


#: Methods whose drafts are a checkpoint of their own in the weight cache.
DRAFT_METHODS = ("draft_model", "eagle", "eagle3")


def speculative_json(m, draft_uri: str | None = None) -> str | None:
    """vLLM's --speculative-config for a ModelConfig (compact JSON, sorted keys), or None when off."""
    import json

    sp = m.speculative
    if sp is None:
        return None
    cfg: dict = {"method": sp.method, "num_speculative_tokens": sp.num_speculative_tokens}
    if sp.method == "ngram":
        cfg.update(prompt_lookup_min=sp.ngram_min, prompt_lookup_max=sp.ngram_max)
    elif draft_uri:
        cfg["model"] = draft_uri
    return json.dumps(cfg, sort_keys=True, separators=(",", ":"))


def check_speculative(path: str, m, arch, cat) -> list[ConfigIssue]:
    """What the catalog and the blueprint can serve. A draft model is seeded into the weight cache at its pinned
    ``draft_revision`` and streamed by vLLM from there; so is an EAGLE / EAGLE-3 head the catalog lists for the
    model (``speculators:``). MTP layers are not in the catalog."""
    sp = m.speculative
    if sp is None:
        return []
    p = f"{path}.speculative"
    issues = []
    if m.engine != "vllm":
        issues.append(ConfigIssue(p, sp.method, f"speculative decoding is rendered for vLLM only, not {m.engine}",
                                  "set engine: vllm, or remove speculative"))
    if sp.draft_revision is not None and sp.method not in DRAFT_METHODS:
        issues.append(ConfigIssue(f"{p}.draft_revision", sp.draft_revision, f"{sp.method} has no draft checkpoint",
                                  "remove draft_revision"))
    if sp.method == "ngram":
        if sp.ngram_min > sp.ngram_max:
            issues.append(ConfigIssue(f"{p}.ngram_min", sp.ngram_min, f"above ngram_max ({sp.ngram_max})",
                                      f"set ngram_min to {sp.ngram_max} or less"))
        if sp.draft_model:
            issues.append(ConfigIssue(f"{p}.draft_model", sp.draft_model, "ngram drafts from the prompt, not a model",
                                      "remove draft_model, or use method: draft_model"))
        return issues
    if sp.method == "mtp":
        issues.append(ConfigIssue(f"{p}.method", "mtp", f"the catalog records no multi-token-prediction layers for "
                                  f"{m.model}", "use ngram or draft_model"))
        return issues
    draft = cat.models.get(sp.draft_model or "")
    if sp.method in HEAD_METHODS:
        head = arch.speculators.get(sp.method)
        able = _models_with_head(cat, sp.method)
        if head is None:
            has = f"models with one: {', '.join(able)}" if able else "no catalog model has one"
            issues.append(ConfigIssue(f"{p}.method", sp.method, f"the catalog has no {sp.method.upper()} draft head "
                                      f"for {m.model} ({has})", "use ngram or draft_model, serve a model with a head, "
                                      "or add the head to models.yaml (speculators:)"))
        elif sp.draft_model:
            issues.append(ConfigIssue(f"{p}.draft_model", sp.draft_model, f"{sp.method} drafts with the catalog's head "
                                      f"for {m.model} ({head.hf_repo}), not a model", "remove draft_model"))
        elif sp.draft_revision is None:
            issues.append(ConfigIssue(f"{p}.draft_revision", None, f"the {sp.method.upper()} head is seeded into the "
                                      "weight cache at a pinned commit, and draft_revision is not set",
                                      f"set draft_revision to the 40-hex commit of {head.hf_repo} to serve"
                                      + (f" (a source names {head.revision})" if head.revision else "")))
    elif draft is None:
        issues.append(ConfigIssue(f"{p}.draft_model", sp.draft_model, "not a catalog model",
                                  f"name a smaller catalog model of the {arch.architecture} family"))
    elif draft.architecture != arch.architecture or draft.params_billion >= arch.params_billion:
        issues.append(ConfigIssue(f"{p}.draft_model", sp.draft_model, f"a draft must be a smaller model with the "
                                  f"same tokenizer family ({arch.architecture}, < {arch.params_billion} B)",
                                  "name a smaller model of the same family"))
    elif sp.draft_quantization not in draft.variants:
        issues.append(ConfigIssue(f"{p}.draft_quantization", sp.draft_quantization, f"the catalog has no such "
                                  f"checkpoint of {sp.draft_model}", f"use one of: {', '.join(sorted(draft.variants))}"))
    elif sp.draft_revision is None:
        issues.append(ConfigIssue(f"{p}.draft_model", sp.draft_model, "a draft model is seeded into the weight cache "
                                  "at a pinned commit, and draft_revision is not set", f"set draft_revision to the "
                                  f"40-hex commit of "
                                  f"{cat.variant(sp.draft_model, sp.draft_quantization).hf_repo} to serve"))
    return issues


def draft_gpu_gib(m, cat) -> float:
    """Per-GPU weights of a ModelConfig's draft model (0 without one)."""
    sp = m.speculative
    head = speculator_head(m, cat)
    if head is not None:
        return head.weights_gib / m.tensor_parallel_size
    if sp is None or sp.method != "draft_model" or not sp.draft_model or sp.draft_model not in cat.models:
        return 0.0
    v = cat.models[sp.draft_model].variants.get(sp.draft_quantization)
    return v.weights_gib / m.tensor_parallel_size if v else 0.0
