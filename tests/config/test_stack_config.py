"""Every stack file validates; bad input gives the exact error: field path, value given, and a fix."""
import copy

import pytest

from blueprints.phase1_mvp.config import Phase1Config
from blueprints.registry import CONFIG_MODELS
from strait.config import ConfigError, validate_stack
from tests.conftest import STACKS, load_stack_raw

PROVIDER_KEYS = {"anthropic_api_key", "openai_api_key", "deepseek_api_key"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_validates(stack):
    from strait.cli import alerting_secrets  # the receivers' secrets a stack's alerting turns on (phase 3)

    raw = load_stack_raw(stack)
    cfg = validate_stack(raw, stack, secrets_set=PROVIDER_KEYS | alerting_secrets(raw))
    assert cfg.blueprint in CONFIG_MODELS


def _errors(mutate, stack="phase1-sg", secrets=PROVIDER_KEYS, plaintext=frozenset()) -> list[str]:
    raw = copy.deepcopy(load_stack_raw(stack))
    mutate(raw)
    with pytest.raises(ConfigError) as exc:
        validate_stack(raw, stack, secrets_set=secrets, plaintext_secrets=plaintext)
    text = exc.value.render()
    head, *lines = text.splitlines()
    assert head == f"Invalid Strait config for stack '{stack}' ({len(lines)} error{'s' if len(lines) != 1 else ''}):"
    return [line.removeprefix("  - ") for line in lines]


def model(**kw):
    return lambda raw: raw["models"]["qwen32b"].update(kw)


def pool(**kw):
    return lambda raw: raw["gpu_pools"]["t4x4"].update(kw)


CASES = {
    "unknown top-level key": (
        lambda r: r.update(regoin="ap-southeast-1"),
        "strait:regoin = <not shown>: unknown key 'regoin'. Fix: did you mean 'region'? remove it or correct its "
        "spelling; "
        f"allowed keys here: {', '.join(sorted(Phase1Config.model_fields))}."),
    "wrong type": (
        model(replicas="two"),
        "strait:models.qwen32b.replicas = 'two': input should be a valid integer, unable to parse string as an "
        "integer. Fix: give a whole number."),
    "region outside the catalog": (
        lambda r: r.update(region="ap-southeast-9"),
        "strait:region = 'ap-southeast-9': not an AWS region in the catalog. Fix: did you mean 'ap-southeast-7'? "
        "use one of: ap-southeast-1, ap-southeast-3, ap-southeast-5, ap-southeast-7."),
    "unknown instance type": (
        pool(instance_types=["g9.mega"]),
        "strait:gpu_pools.t4x4.instance_types[0] = 'g9.mega': unknown instance type. Fix: use one the catalog "
        "offers in ap-southeast-1: g4dn.12xlarge, g4dn.xlarge, p4d.24xlarge, p4de.24xlarge."),
    "instance type not offered in the region": (
        pool(instance_types=["g6e.xlarge"]),
        "strait:gpu_pools.t4x4.instance_types[0] = 'g6e.xlarge': not offered in ap-southeast-1 according to the "
        "catalog. Fix: use one offered there: g4dn.12xlarge, g4dn.xlarge, p4d.24xlarge, p4de.24xlarge; or pick "
        "another region."),
    "unknown model": (
        model(model="qwen2.5-32b-instruct-awq"),
        "strait:models.qwen32b.model = 'qwen2.5-32b-instruct-awq': unknown model. Fix: did you mean "
        "'qwen2.5-32b-instruct'? use a catalog model: deepseek-r1-distill-qwen-14b, deepseek-r1-distill-qwen-32b, "
        "deepseek-v2-lite-chat, llama-3.1-8b-instruct, llama-3.3-70b-instruct, mistral-7b-instruct-v0.3, "
        "qwen2.5-14b-instruct, qwen2.5-32b-instruct, qwen2.5-72b-instruct, qwen2.5-7b-instruct; or add it to "
        "strait/catalog/data/models.yaml."),
    "max_model_len above native context": (
        model(max_model_len=65536),
        "strait:models.qwen32b.max_model_len = 65536: exceeds the native context of qwen2.5-32b-instruct (32768 "
        "tokens). Fix: set max_model_len to 32768 or less."),
    "tensor parallelism above GPUs per node": (
        model(tensor_parallel_size=8),
        "strait:models.qwen32b.tensor_parallel_size = 8: pool 't4x4' has 4 GPU(s) per node. Fix: use "
        "tensor_parallel_size <= 4, or a pool with more GPUs per node."),
    "weights that cannot fit the GPU": (
        model(tensor_parallel_size=1),
        "strait:models.qwen32b.quantization = 'awq': 18.0 GiB of weights over 1 GPU(s) leave no room on a T4 "
        "(14.56 GiB x 0.9 = 13.1 GiB usable, 18.0 GiB weights + 1.2 GiB runtime per GPU). Fix: raise "
        "tensor_parallel_size (to 4 on this pool), or use a pool whose GPUs have more memory."),
    "fp8 KV cache on a GPU without fp8": (
        model(kv_cache_dtype="fp8"),
        "strait:models.qwen32b.kv_cache_dtype = 'fp8': T4 has no FP8 support. Fix: use kv_cache_dtype: auto, or "
        "an Ada/Hopper GPU."),
    "unknown blueprint": (
        lambda r: r.update(blueprint="phase9"),
        "strait:blueprint = 'phase9': not a known blueprint. Fix: set strait:blueprint to one of: "
        f"{', '.join(sorted(CONFIG_MODELS))}."),
    "replicas beyond the pool": (
        model(replicas=4),
        "strait:models.qwen32b.replicas = 4: each replica needs its own node but pool 't4x4' has max_size 3. "
        "Fix: raise gpu_pools.t4x4.max_size to at least 4, or lower replicas."),
    "tier naming a missing model": (
        lambda r: r["gateway"]["tiers"]["self-hosted"].update(models=["qwen72b"]),
        "strait:gateway.tiers.self-hosted.models[0] = 'qwen72b': no model has this name. Fix: use one of: qwen32b."),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_the_exact_error(case):
    mutate, expected = CASES[case]
    assert _errors(mutate) == [expected]


def test_one_sequence_must_fit_the_kv_cache():
    def mutate(raw):
        raw["gpu_pools"]["t4x1"] = {"instance_types": ["g4dn.xlarge"], "min_size": 1, "max_size": 1}
        raw["models"]["qwen14b"] = {"model": "qwen2.5-14b-instruct", "quantization": "awq", "pool": "t4x1",
                                    "max_model_len": 32768}
    [error] = _errors(mutate)
    assert error.startswith("strait:models.qwen14b.max_model_len = 32768: one sequence of this length needs 6.00 GiB "
                            "of KV cache but only ")
    assert "Fix: set max_model_len to " in error


def test_all_errors_are_reported_together():
    def mutate(raw):
        raw["region"] = "ap-southeast-9"
        raw["models"]["qwen32b"]["max_model_len"] = 99999
    assert _errors(mutate) == [
        "strait:region = 'ap-southeast-9': not an AWS region in the catalog. Fix: did you mean 'ap-southeast-7'? "
        "use one of: ap-southeast-1, ap-southeast-3, ap-southeast-5, ap-southeast-7.",
        "strait:models.qwen32b.max_model_len = 99999: exceeds the native context of qwen2.5-32b-instruct (32768 "
        "tokens). Fix: set max_model_len to 32768 or less.",
    ]


def test_several_field_errors_are_reported_together():
    errors = _errors(lambda r: (r["models"]["qwen32b"].update(replicas=0, max_num_seqs="many"), r.update(colour="x")))
    assert sorted(e.split(" = ")[0] for e in errors) == [
        "strait:colour", "strait:models.qwen32b.max_num_seqs", "strait:models.qwen32b.replicas"]


def test_provider_key_must_be_set_as_a_secret():
    assert _errors(lambda r: None, secrets=frozenset()) == [
        "strait:gateway.tiers.commercial.providers[0].provider = 'anthropic': needs the secret "
        "strait:anthropic_api_key, which is not set. Fix: run `pulumi config set --secret strait:anthropic_api_key <key>`."]


def test_a_credential_in_plain_text_is_refused_without_echoing_it():
    errors = _errors(lambda r: r.update(anthropic_api_key="sk-ant-live-123"), secrets=frozenset(),
                     plaintext={"anthropic_api_key"})
    assert errors == [
        "strait:anthropic_api_key = <plain text>: this key holds a credential but is not stored as a secret. "
        "Fix: run `pulumi config set --secret strait:anthropic_api_key <value>`."]
    assert "sk-ant-live-123" not in "\n".join(errors)
