"""No secret value reaches an error, stdout, stderr or the out dir: mistyped, misplaced or secure-form keys."""
from __future__ import annotations

import copy

import pytest
import yaml

from strait.config import ConfigError, validate_stack
from tests.conftest import ROOT, load_stack_raw, run_cli

CANARY = "sk-ant-api03-CANARY0123456789abcdef"
CANARY2 = "hf_CANARYtoken0123456789"
CANARY3 = "plainCANARYvalue42"  # no credential shape: only its key's name marks it as secret


def _render(mutate, foreign=None, secret_paths=frozenset()) -> str:
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    mutate(raw)
    with pytest.raises(ConfigError) as exc:
        validate_stack(raw, "phase1-sg", secrets_set={"anthropic_api_key"}, foreign=foreign or {},
                       secret_paths=secret_paths)
    return exc.value.render()


CASES = {
    "mistyped top-level key": (lambda r: r.update(antropic_api_key=CANARY), None, frozenset()),
    "secret under gateway": (lambda r: r["gateway"].update(anthropic_api_key=CANARY), None, frozenset()),
    "secret under a tier's provider": (
        lambda r: r["gateway"]["tiers"]["commercial"]["providers"][0].update(api_key=CANARY3), None, frozenset()),
    "namespace typo": (lambda r: None, {"strat:anthropic_api_key": CANARY}, frozenset()),
    "secure form of an unknown key": (lambda r: r.update(hf_tokn=CANARY3), None, {"hf_tokn"}),
    "secret-shaped value in a known field": (lambda r: r.update(cost_center=CANARY + "!"), None, frozenset()),
    "a section held as a secret": (lambda r: r["gateway"].update(cpu_request=CANARY3), None, {"gateway"}),
    "a nested secure value": (lambda r: r["gateway"].update(master={"secure": CANARY2}), None, frozenset()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_error_shows_a_secret(case):
    mutate, foreign, secret_paths = CASES[case]
    text = _render(mutate, foreign, secret_paths)
    assert "Invalid Strait config" in text
    for canary in (CANARY, CANARY2, CANARY3, "CANARY"):
        assert canary not in text


def test_a_mistyped_secret_is_named_and_the_closest_key_suggested():
    text = _render(lambda r: r["gateway"].update(antropic_api_key=CANARY))
    assert ("strait:gateway.antropic_api_key = <not shown>: unknown key 'antropic_api_key' (it looks like a "
            "credential). Fix: did you mean 'anthropic_api_key'? remove it and run `pulumi config set --secret "
            "strait:anthropic_api_key <value>`; secrets are top-level keys, never inside a section; secret keys: "
            "anthropic_api_key, deepseek_api_key, hf_token, langfuse_public_key, langfuse_secret_key, "
            "litellm_database_url, litellm_master_key, openai_api_key, pagerduty_routing_key, slack_webhook_url.") in text


def test_cli_output_and_out_dir_hold_no_canary(tmp_path):
    proj = tmp_path / "proj"
    (proj / "stacks").mkdir(parents=True)
    (proj / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.phase1-sg.yaml").read_text())
    doc["config"]["strait:antropic_api_key"] = CANARY
    doc["config"]["strat:hf_token"] = CANARY2
    doc["config"]["strait:gateway"]["openai_api_key"] = {"secure": CANARY3}
    doc["config"]["strait:gateway"]["password"] = CANARY3 + "x"
    (proj / "stacks" / "Pulumi.bad.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path / "out"
    proc = run_cli("plan", "--stack", "bad", "--project-dir", str(proj), "--out", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "strait:antropic_api_key = <not shown>: unknown key 'antropic_api_key'" in proc.stderr
    written = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()) if out.exists() else ""
    for text in (proc.stdout, proc.stderr, written):
        assert "CANARY" not in text


def test_pulumi_up_run_error_holds_no_canary():
    """The `pulumi up` path: the loader's RunError (which Pulumi logs) never carries a secret."""
    import contextvars
    import json

    import pulumi
    from pulumi.runtime import config as runtime_config

    from blueprints.loader import load_stack

    values = {f"strait:{k}": (json.dumps(v) if isinstance(v, (dict, list)) else str(v))
              for k, v in load_stack_raw("phase1-sg").items()}
    values["strait:antropic_api_key"] = CANARY
    values["strait:anthropic_api_key"] = "sk-ant-realkey-0123456789"
    values["strat:openai_api_key"] = CANARY2

    def attempt():  # in a copy of the context, so the config set here does not leak into other tests
        runtime_config.set_all_config(values, ["strait:antropic_api_key", "strait:anthropic_api_key"])
        with pytest.raises(pulumi.RunError) as exc:
            load_stack()
        return exc

    exc = contextvars.copy_context().run(attempt)
    text = str(exc.value)
    assert "strait:antropic_api_key = <not shown>: unknown key" in text
    assert "CANARY" not in text and "realkey" not in text
