"""Input the audit found silently accepted: each case gives the exact error (issue 8, section 2)."""
from __future__ import annotations

import copy
import time

import pytest

from strait.config import ConfigError, validate_stack
from tests.conftest import load_stack_raw

PROVIDER_KEYS = {"anthropic_api_key", "openai_api_key", "deepseek_api_key"}


def errors(mutate=lambda r: None, foreign=None, **kw) -> list[str]:
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    mutate(raw)
    with pytest.raises(ConfigError) as exc:
        validate_stack(raw, "phase1-sg", secrets_set=PROVIDER_KEYS, foreign=foreign, **kw)
    return [line.removeprefix("  - ") for line in exc.value.render().splitlines()[1:]]


def model(**kw):
    return lambda raw: raw["models"]["qwen32b"].update(kw)


def gateway(**kw):
    return lambda raw: raw["gateway"].update(kw)


REV_FIX = "Fix: use a branch or tag name (main, v1.0) or a 40-hex commit id."
CASES = {
    "namespace typo": (
        {"foreign": {"strat:monthly_budget_usd": 5000}},
        ["strat:monthly_budget_usd = <not shown>: unknown namespace 'strat' (a typo of 'strait'?), so this key would "
         "be silently ignored. Fix: rename it to strait:monthly_budget_usd."]),
    "wrong-case namespace": (
        {"foreign": {"Strait:models": {"x": {}}}},
        ["Strait:models = <not shown>: namespace 'Strait' is not 'strait' (config namespaces are case-sensitive), so "
         "Strait would never read this key. Fix: rename it to strait:models."]),
    "a provider namespace": (
        {"foreign": {"aws:region": "us-east-1", "pulumi:tags": {"a": "b"}}},
        ["aws:region = <not shown>: Strait reads no 'aws:' keys: default providers are disabled and every provider "
         "is configured from strait:* keys, so this key would be silently ignored. Fix: remove it; Strait's keys are "
         "listed in docs/config-reference.md#top-level-keys."]),
    "infinite budget": (
        {"mutate": lambda r: r.update(monthly_budget_usd=float("inf"))},
        ["strait:monthly_budget_usd = inf: input should be a finite number. Fix: give a finite number: .inf and .nan "
         "are not allowed (to leave a limit off, remove the key)."]),
    "NaN anywhere": (
        {"mutate": model(gpu_memory_utilization=float("nan"))},
        ["strait:models.qwen32b.gpu_memory_utilization = nan: input should be a finite number. Fix: give a finite "
         "number: .inf and .nan are not allowed (to leave a limit off, remove the key)."]),
    "empty revision": (
        {"mutate": model(revision="")},
        ["strait:models.qwen32b.revision = '': an empty revision names nothing: the seeding Job would fail and the "
         f"model pods wait forever. {REV_FIX}"]),
    "shell in revision": (
        {"mutate": model(revision='main"; touch /tmp/pwned; echo "')},
        ["strait:models.qwen32b.revision = 'main\"; touch /tmp/pwned; echo \"': contains ' ', '\"', ';': a revision "
         f"holds only letters, digits and . _ / - (no spaces or shell metacharacters). {REV_FIX}"]),
    "path traversal in revision": (
        {"mutate": model(revision="../../other-model/main")},
        ["strait:models.qwen32b.revision = '../../other-model/main': contains '..', which would reach outside the "
         f"model's folder in the weight cache. {REV_FIX}"]),
    "slash at the end of a revision": (
        {"mutate": model(revision="main/")},
        ["strait:models.qwen32b.revision = 'main/': starts or ends with '/' or has an empty part between two '/'. "
         f"{REV_FIX}"]),
    "gateway memory request above its limit and CPU request 0": (
        {"mutate": gateway(memory_request="4Gi", cpu_request="0")},
        ["strait:gateway.cpu_request = '0': a CPU request of 0 reserves no CPU: under load the gateway is throttled "
         "first and its probes time out. Fix: request at least 100m (default 500m).",
         "strait:gateway.memory_limit = '2Gi': below memory_request (4Gi); Kubernetes rejects a request larger than "
         "its limit. Fix: raise memory_limit to 4Gi or more, or lower memory_request."]),
    "AWS tag limits": (
        {"mutate": lambda r: r.update(tags={**{f"team{i}": "x" for i in range(35)}, "aws:owner": "me", "k" * 129: "v",
                                            "note": "v" * 257, "kubernetes.io/cluster/x": "owned"})},
        ["strait:tags = <not shown>: 39 tags, but AWS allows 50 per resource and Strait puts up to 15 of its own on "
         "some (GPU node groups). Fix: keep at most 35 tags.",
         "strait:tags.aws:owner = 'me': the aws: prefix is reserved for AWS. Fix: remove the prefix.",
         f"strait:tags.{'k' * 129} = <not shown>: a tag key of 129 characters; AWS allows 1-128. Fix: shorten the key.",
         "strait:tags.note = <not shown>: a tag value of 257 characters; AWS allows up to 256. Fix: shorten the value.",
         "strait:tags.kubernetes.io/cluster/x = 'owned': Strait sets this tag itself (cluster discovery, autoscaling, "
         "cost attribution). Fix: remove it; use cost_center for cost-center."]),
    "a name that cannot become a Kubernetes name": (
        {"mutate": lambda r: r.update(models={"Qwen_32B": r["models"]["qwen32b"]})},
        ["strait:models.Qwen_32B = 'Qwen_32B': not a valid name: Strait derives Kubernetes and AWS names from it, "
         "which must be DNS-1123 labels of at most 63 characters including Strait's prefixes and suffixes. Fix: use "
         "1-30 lower-case letters, digits and '-', starting with a letter and ending with a letter or digit (e.g. "
         "qwen32b); see docs/config-reference.md#names."]),
    "a served model name that would inject into alert rules": (
        {"mutate": model(served_model_name='x"} or vector(1) #{{ .Value }}')},
        ["strait:models.qwen32b.served_model_name = 'x\"} or vector(1) #{{ .Value }}': string should match pattern "
         "'^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$'. Fix: see docs/config-reference.md#models-served-model-name."]),
    "a name too long for Strait's suffixes": (
        {"mutate": lambda r: r["gpu_pools"].update({"p" * 31: r["gpu_pools"]["t4x4"]})},
        [f"strait:gpu_pools.{'p' * 31} = '{'p' * 31}': not a valid name: Strait derives Kubernetes and AWS names "
         "from it, which must be DNS-1123 labels of at most 63 characters including Strait's prefixes and suffixes. "
         "Fix: use 1-30 lower-case letters, digits and '-', starting with a letter and ending with a letter or digit "
         "(e.g. qwen32b); see docs/config-reference.md#names."]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_the_exact_error(case):
    kw, expected = CASES[case]
    assert errors(**kw) == expected


@pytest.mark.parametrize("revision", ["main", "v1.0", "refs/pr/12", "0123456789abcdef0123456789abcdef01234567"])
def test_real_hugging_face_refs_pass(revision):
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["models"]["qwen32b"]["revision"] = revision
    assert validate_stack(raw, "phase1-sg", secrets_set=PROVIDER_KEYS).models["qwen32b"].revision == revision


def test_all_errors_across_layers_come_together():
    got = errors(lambda r: (r.update(regoin="x"), r["models"]["qwen32b"].update(revision="")),
                 foreign={"strat:monthly_budget_usd": 1})
    assert [e.split(" = ")[0] for e in got] == ["strat:monthly_budget_usd", "strait:models.qwen32b.revision",
                                                "strait:regoin"]


def test_100k_tags_fail_fast():
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["tags"] = {f"k{i}": "v" for i in range(100_000)}
    start = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        validate_stack(raw, "phase1-sg", secrets_set=PROVIDER_KEYS)
    elapsed = time.perf_counter() - start
    assert [i.render() for i in exc.value.issues] == [
        "strait:tags = <not shown>: has 100,000 entries, more than Strait accepts anywhere (1,000); nothing was "
        "validated further. Fix: remove the extra entries (a generated file?)."]
    assert elapsed < 0.1, f"{elapsed:.3f} s"  # measured: under 1 ms (was 156 s and 3 GiB before the cap)
