"""Stack files Strait cannot read give the file, the line and a fix (exit 2 in the CLI), never a traceback."""
from __future__ import annotations

import pytest

from strait.plan.stackfile import StackFileError, load_stack_config
from tests.conftest import ROOT

LAYOUT = ("Fix: start the file with a `config:` line and indent `strait:<key>: <value>` lines under it, as in "
          "stacks/Pulumi.phase1-sg.yaml")


def project(tmp_path, body: bytes | str, stack: str = "bad"):
    (tmp_path / "stacks").mkdir(exist_ok=True)
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    path = tmp_path / "stacks" / f"Pulumi.{stack}.yaml"
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    return tmp_path


CASES = {
    "a YAML list": (
        "- strait:region: x\n- b\n",
        f"stacks/Pulumi.bad.yaml is a list, not a mapping with a `config:` section. {LAYOUT}"),
    "a scalar": (
        "phase1_mvp\n",
        f"stacks/Pulumi.bad.yaml is a single value, not a mapping with a `config:` section. {LAYOUT}"),
    "config as a list": (
        "config:\n  - strait:region: ap-southeast-1\n",
        "Invalid stacks/Pulumi.bad.yaml (1 error):\n  - `config:` is a list (its entries start with '- '), not a "
        "mapping. Fix: remove the '- ' so that each line reads `strait:<key>: <value>`"),
    "no config wrapper": (
        "strait:blueprint: phase1_mvp\nstrait:region: ap-southeast-1\n",
        "Invalid stacks/Pulumi.bad.yaml (1 error):\n  - strait:blueprint, strait:region are at the top level of the "
        "file, outside the `config:` wrapper, so Pulumi would not read them. Fix: put a `config:` line first and "
        "indent these keys under it"),
    "a key beside the config wrapper": (
        "strait:region: ap-southeast-1\nconfig:\n  strait:blueprint: phase1_mvp\n",
        "Invalid stacks/Pulumi.bad.yaml (1 error):\n  - strait:region is at the top level of the file, outside the "
        "`config:` wrapper, so Pulumi would not read it. Fix: indent this key under `config:`"),
    "non-UTF-8 bytes": (
        b"config:\n  strait:cost_center: caf\xe9\n",
        "stacks/Pulumi.bad.yaml line 2, column 26: byte 0xe9 is not UTF-8. Fix: save the file as UTF-8 (Latin-1 or "
        "Windows-1252 text is the usual cause)"),
    "duplicate keys": (
        "config:\n  strait:region: ap-southeast-1\n  strait:models:\n    a: 1\n    a: 2\n  strait:region: us-east-1\n",
        "Invalid stacks/Pulumi.bad.yaml (2 errors):\n"
        "  - line 5: key 'a' repeats the key at line 4; YAML would silently keep only the last. Fix: keep one of them\n"
        "  - line 6: key 'strait:region' repeats the key at line 2; YAML would silently keep only the last. Fix: keep "
        "one of them"),
    "YAML syntax error": (
        "config:\n  strait:cost_center: team: ai\n",
        "stacks/Pulumi.bad.yaml line 2, column 27: not valid YAML (mapping values are not allowed in this context). "
        "Fix: a value that contains ': ' must be quoted, or the key is indented wrongly; quote the value or line the "
        "key up with its siblings"),
    "a tab": (
        "config:\n\tstrait:region: x\n",
        "stacks/Pulumi.bad.yaml line 2, column 1: not valid YAML (while scanning for the next token found character "
        "that cannot start any token (a tab character)). Fix: YAML indents with spaces only; replace the tab with "
        "spaces"),
    "nesting deeper than libyaml allows": (
        "config:\n  strait:tags: " + "[" * 2000 + "]" * 2000 + "\n",
        "stacks/Pulumi.bad.yaml line 2, column 1014: not valid YAML (while increasing flow level exceeded maximum "
        "nesting depth). Fix: the value is nested more deeply than any config needs; flatten it"),
    "a key without a namespace": (
        "config:\n  region: ap-southeast-1\n",
        "Invalid stacks/Pulumi.bad.yaml (1 error):\n  - config key 'region' is not of the form <namespace>:<name>, "
        "which Pulumi requires. Fix: write it as strait:region"),
    "an empty file": (
        "",
        f"stacks/Pulumi.bad.yaml is empty, not a mapping with a `config:` section. {LAYOUT}"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_unreadable_stack_file_gives_the_exact_error(tmp_path, case):
    body, expected = CASES[case]
    with pytest.raises(StackFileError) as exc:
        load_stack_config(project(tmp_path, body), "bad")
    assert str(exc.value) == expected


def test_project_dir_without_pulumi_yaml(tmp_path):
    with pytest.raises(StackFileError) as exc:
        load_stack_config(tmp_path, "phase1-sg")
    assert str(exc.value) == (
        f"no Pulumi.yaml in {tmp_path}. Fix: pass --project-dir the folder that holds Pulumi.yaml (the root of the "
        "Strait checkout), or leave it out to search upwards from the current folder")


def test_a_huge_file_is_refused_before_parsing(tmp_path):
    import time

    body = "config:\n  strait:tags:\n" + "".join(f"    k{i}: v\n" for i in range(100_000))
    proj = project(tmp_path, body)
    start = time.perf_counter()
    with pytest.raises(StackFileError) as exc:
        load_stack_config(proj, "bad")
    assert time.perf_counter() - start < 0.5
    assert str(exc.value).startswith(f"stacks/Pulumi.bad.yaml is {len(body):,} bytes, more than a stack file can be "
                                     "(131,072).")


def test_secure_values_become_secret_placeholders(tmp_path):
    cfg = load_stack_config(project(tmp_path, "config:\n  strait:hf_token:\n    secure: v1:abc\n"), "bad")
    assert cfg.secret_keys == {"strait:hf_token"}
    assert cfg.values["strait:hf_token"].startswith("offline-placeholder-")


def test_cli_reports_duplicate_keys_together_with_config_errors(tmp_path):
    from tests.conftest import run_cli

    body = (ROOT / "stacks" / "Pulumi.phase1-sg.yaml").read_text().replace(
        "  strait:region: ap-southeast-1\n", "  strait:region: ap-southeast-1\n  strait:region: ap-southeast-9\n")
    body = body.replace("      quantization: awq\n", "      quantization: awq\n      revision: ''\n")
    proc = run_cli("plan", "--stack", "bad", "--project-dir", str(project(tmp_path, body)), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = body.splitlines().index("  strait:region: ap-southeast-9") + 1
    assert (f"error: Invalid stacks/Pulumi.bad.yaml (1 error):\n  - line {line}: key 'strait:region' repeats the key at "
            f"line {line - 1}; YAML would silently keep only the last. Fix: keep one of them\n") in proc.stderr
    assert "strait:models.qwen32b.revision = '': an empty revision names nothing" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_list_items_are_written_with_brackets():
    import copy

    from strait.config import ConfigError, validate_stack
    from tests.conftest import load_stack_raw

    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["gateway"]["tiers"]["self-hosted"]["models"] = ["Bad_Name"]
    with pytest.raises(ConfigError) as exc:
        validate_stack(raw, "phase1-sg", secrets_set={"anthropic_api_key"})
    assert exc.value.render().splitlines()[1].startswith(
        "  - strait:gateway.tiers.self-hosted.models[0] = 'Bad_Name': not a valid name")


def test_billion_laughs_fails_fast(tmp_path):
    """Nested YAML aliases expand to 10^9 values from a 600-byte file: refused before anything walks them all."""
    import time

    from tests.conftest import run_cli

    levels = ["  strait:tags:\n    l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"]
    for i in range(1, 9):
        levels.append(f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n")
    body = "config:\n" + "".join(levels)
    start = time.perf_counter()
    proc = run_cli("plan", "--stack", "bad", "--project-dir", str(project(tmp_path, body)), "--out", str(tmp_path / "o"))
    elapsed = time.perf_counter() - start
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert ("strait:tags = <not shown>: expands to more than 100,000 values (YAML aliases repeating each other?); "
            "nothing was validated further. Fix: write the values out, without nested aliases.") in proc.stderr
    assert elapsed < 20, elapsed  # measured ~1 s, most of it interpreter start; unbounded it never ends


@pytest.mark.parametrize("stack", ["../../etc/passwd", "a b", "x" * 101])
def test_stack_names_pulumi_would_refuse(tmp_path, stack):
    with pytest.raises(StackFileError) as exc:
        load_stack_config(project(tmp_path, "config: {}\n"), stack)
    assert str(exc.value) == (f"--stack {stack!r} is not a Pulumi stack name. Fix: use letters, digits, '-', '_' and "
                              "'.' only (at most 100), e.g. phase1-sg")
