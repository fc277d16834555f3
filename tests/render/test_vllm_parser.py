"""Every rendered `vllm serve` argv parses with vLLM 0.33.0's own parser (.venv-vllm, CPU torch).

The judge (tests/judges/vllm_argcheck.py) runs vLLM's serve parser, its serve-arg validation and
EngineArgs.from_cli_args; it is set up by scripts/setup-judges.sh.
"""
import json
import subprocess
import tempfile
from pathlib import Path

import pytest

import dataclasses

from strait.catalog import load_catalog
from strait.engines import ServingFeatures, resolve_features
from strait.render.vllm import KV_CONNECTORS, KV_ROLES, KvTransferSpec, VllmSpec, render_vllm_args
from tests.conftest import ROOT, STACKS

JUDGE_PY = ROOT / ".venv-vllm" / "bin" / "python"
JUDGE = ROOT / "tests" / "judges" / "vllm_argcheck.py"
#: The vllm/vllm-openai image's WORKDIR is /vllm-workspace and it copies the repo's examples/ there
#: (docker/Dockerfile, stage vllm-base); the catalog's chat templates live in it.
IMAGE_EXAMPLES = "/vllm-workspace/examples/"
_STAGED = Path(tempfile.mkdtemp(prefix="strait-vllm-image-"))


def _catalog_templates() -> set[str]:
    templates = {f.chat_template for a in load_catalog().models.values() for f in a.engines.values() if f.chat_template}
    assert all(t.startswith(IMAGE_EXAMPLES) for t in templates), templates
    return templates


def _stage_image_paths(argv: list[str]) -> list[str]:
    """vLLM checks that a path-like --chat-template exists. The templates are files of the pinned
    image, not of this machine: stand a one-line template in for each, so the parser judges the rest
    of the line. (Whether the image holds the file is the Dockerfile's fact, cited in the catalog.)"""
    out = list(argv)
    for i, a in enumerate(out[:-1]):
        if a == "--chat-template" and out[i + 1] in _catalog_templates():
            stand_in = _STAGED / out[i + 1][len(IMAGE_EXAMPLES):]
            stand_in.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
            out[i + 1] = str(stand_in)
    return out


def judge(items: list[dict]) -> dict[str, dict]:
    if not JUDGE_PY.exists():
        pytest.fail("the vLLM judge venv is missing; run scripts/setup.sh --test")
    items = [{**it, "argv": _stage_image_paths(it["argv"])} for it in items]
    proc = subprocess.run([str(JUDGE_PY), str(JUDGE)], input=json.dumps(items), capture_output=True, text=True,
                          timeout=600, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["id"]: r for r in json.loads(proc.stdout)}


def _rendered_argvs(planned) -> list[dict]:
    items = []
    for stack in STACKS:
        for path, m in planned[stack].manifests():
            if m["kind"] != "Deployment":
                continue
            for c in m["spec"]["template"]["spec"]["containers"]:
                if c.get("command") == ["vllm", "serve"]:
                    items.append({"id": f"{stack}/{path.name}/{c['name']}", "engine": "vllm", "argv": c["args"]})
    return items


VARIANTS = {
    "tp1-bf16": VllmSpec(model="s3://b/m", served_model_name="m", max_model_len=8192),
    "tp8-fp8kv-awq": VllmSpec(model="s3://b/m", served_model_name="m", max_model_len=131072, tensor_parallel_size=8,
                              kv_cache_dtype="fp8", quantization="awq", max_num_seqs=256, gpu_memory_utilization=0.95),
    "no-prefix-cache-hub": VllmSpec(model="Qwen/Qwen2.5-7B-Instruct", served_model_name="q", max_model_len=4096,
                                    enable_prefix_caching=False, load_format=None, shutdown_timeout_seconds=0),
}
# Tools, n-gram speculation and LoRA together, as the golden file has them.
from tests.render.test_vllm_render import AGENT_SPEC  # noqa: E402

VARIANTS["agent-all-features"] = AGENT_SPEC
# Tool calling and reasoning exactly as the catalog resolves them for every model vLLM serves.
_CAT = load_catalog()
for _key, _arch in sorted(_CAT.models.items()):
    _f = resolve_features(_arch, "vllm", tool_calling=None, reasoning=None)
    if _f != ServingFeatures():
        VARIANTS[f"catalog-{_key}"] = VllmSpec(model="s3://b/m", served_model_name=_key, max_model_len=8192,
                                               **dataclasses.asdict(_f))


def test_every_planned_and_variant_argv_parses(planned):
    items = _rendered_argvs(planned)
    assert items, "no vLLM Deployment in any planned stack"
    items += [{"id": k, "engine": "vllm", "argv": render_vllm_args(v)} for k, v in VARIANTS.items()]
    results = judge(items)
    bad = {k: r["error"] for k, r in results.items() if not r["ok"]}
    assert bad == {}
    q = results["tp8-fp8kv-awq"]["parsed"]
    assert q["max_model_len"] == 131072 and q["tensor_parallel_size"] == 8 and q["kv_cache_dtype"] == "fp8"
    assert results["no-prefix-cache-hub"]["parsed"]["enable_prefix_caching"] is False
    for key, spec in VARIANTS.items():
        if spec.tool_call_parser:
            parsed = results[key]["parsed"]
            assert parsed["tool_call_parser"] == spec.tool_call_parser and parsed["enable_auto_tool_choice"] is True, key
    assert {k for k, v in VARIANTS.items() if v.reasoning_parser} == {
        "catalog-deepseek-r1-distill-qwen-14b", "catalog-deepseek-r1-distill-qwen-32b"}
    planned_sg = [it for it in items if it["id"].startswith("phase1-sg/")]
    assert planned_sg and all("--enable-auto-tool-choice" in it["argv"] for it in planned_sg), \
        "phase1-sg serves agents: its model must render the tool-call parser"


def test_the_judge_rejects_flags_that_no_longer_exist():
    base = render_vllm_args(VARIANTS["tp1-bf16"])
    bad = {"swap-space": ["--swap-space", "4"], "speculative-model": ["--speculative-model", "x"],
           "num-scheduler-steps": ["--num-scheduler-steps", "8"], "quantization-gguf": ["--quantization", "gguf"],
           "unknown-tool-parser": ["--enable-auto-tool-choice", "--tool-call-parser", "qwen25"],
           "unknown-reasoning-parser": ["--reasoning-parser", "deepseek-r1"],
           "template-not-in-image": ["--chat-template", "/vllm-workspace/examples/no-such-template.jinja"]}
    results = judge([{"id": k, "engine": "vllm", "argv": base + v} for k, v in bad.items()])
    assert {k: r["ok"] for k, r in results.items()} == {k: False for k in bad}


KV_JUDGE = ROOT / "tests" / "judges" / "kv_transfer_check.py"


def kv_judge(items: list[dict]) -> dict[str, dict]:
    """vLLM's own KVTransferConfig built from each parsed argv (tests/judges/kv_transfer_check.py)."""
    if not JUDGE_PY.exists():
        pytest.fail("the vLLM judge venv is missing; run scripts/setup.sh --test")
    proc = subprocess.run([str(JUDGE_PY), str(KV_JUDGE)], input=json.dumps(items), capture_output=True, text=True,
                          timeout=600, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["id"]: r for r in json.loads(proc.stdout)}


def _pd_argv(role: str, connector: str) -> list[str]:
    return render_vllm_args(dataclasses.replace(VARIANTS["tp1-bf16"],
                                                kv_transfer=KvTransferSpec(role=role, connector=connector)))


def test_kv_transfer_config_passes_vllms_parser_and_builds_its_kv_transfer_config():
    items = [{"id": f"{r}-{c}", "argv": _pd_argv(r, c)} for r in KV_ROLES for c in KV_CONNECTORS]
    assert all(sum(a == "--kv-transfer-config" for a in it["argv"]) == 1 for it in items)
    parsed = judge([{**it, "engine": "vllm"} for it in items])
    assert {k: r["error"] for k, r in parsed.items() if not r["ok"]} == {}
    built = kv_judge(items)
    assert {k: r["error"] for k, r in built.items() if not r["ok"]} == {}
    for c, cls in KV_CONNECTORS.items():
        assert built[f"prefill-{c}"]["kv_role"] == "kv_producer" and built[f"prefill-{c}"]["is_kv_producer"]
        assert built[f"decode-{c}"]["kv_role"] == "kv_consumer" and built[f"decode-{c}"]["is_kv_consumer"]
        assert not built[f"decode-{c}"]["is_kv_producer"] and not built[f"prefill-{c}"]["is_kv_consumer"]
        assert built[f"prefill-{c}"]["kv_connector"] == cls and built[f"prefill-{c}"]["kv_buffer_device"] == "cuda"


def test_the_kv_judge_rejects_what_vllm_rejects():
    base = render_vllm_args(VARIANTS["tp1-bf16"])
    bad = {"unregistered-connector": '{"kv_connector":"P2pNcclConnectorX","kv_role":"kv_producer"}',
           "unknown-role": '{"kv_connector":"NixlConnector","kv_role":"producer"}',
           "connector-without-role": '{"kv_connector":"NixlConnector"}',
           "not-json": "kv_connector=NixlConnector"}
    results = kv_judge([{"id": k, "argv": [*base, "--kv-transfer-config", v]} for k, v in bad.items()])
    assert {k: r["ok"] for k, r in results.items()} == {k: False for k in bad}
    assert "not registered" in results["unregistered-connector"]["error"]
    with pytest.raises(ValueError, match="role 'both'"):
        KvTransferSpec(role="both").json()
    with pytest.raises(ValueError, match="connector 'moriio'"):
        KvTransferSpec(role="prefill", connector="moriio").json()
