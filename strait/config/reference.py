"""Generate docs/config-reference.md from the pydantic config models.

    python -m strait.config.reference            # print the reference
    python -m strait.config.reference --write    # rewrite docs/config-reference.md
    python -m strait.config.reference --check    # exit 1 when the committed file is stale

Every field of every blueprint's model is listed with its type, default, constraints and
description, under the anchor that error messages cite (``strait.config.errors.anchor``).
The generator reads the models only; a field added to a model appears here on the next run.
"""
from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from strait.config.errors import NAMESPACE, REFERENCE_DOC, anchor

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / REFERENCE_DOC

#: Fixed sections error messages point at.
NAMES_ANCHOR = "names"
SECRETS_ANCHOR = "secrets"
STACK_FILE_ANCHOR = "stack-file"


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _strip_optional(ann: Any) -> tuple[Any, bool]:
    if get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return ann, False


def _is_name(ann: Any) -> bool:
    """The ``Name`` annotated type (a user-chosen DNS-1123 label)."""
    from strait.config.sections import Name

    return ann is Name or (get_origin(ann) is typing.Annotated and get_args(ann)[1:] == get_args(Name)[1:])


def _type(ann: Any, sections: dict[str, str]) -> str:
    ann, optional = _strip_optional(ann)
    text = _type_inner(ann, sections)
    return f"{text} or null" if optional else text


def _type_inner(ann: Any, sections: dict[str, str]) -> str:
    if _is_name(ann):
        return f"[name](#{NAMES_ANCHOR})"
    origin = get_origin(ann)
    if origin is typing.Annotated:
        return _type_inner(get_args(ann)[0], sections)
    if origin is Literal:
        return "one of " + ", ".join(f"`{json.dumps(a)}`" for a in get_args(ann))
    if origin in (list, tuple, set, frozenset):
        return f"list of {_type(get_args(ann)[0], sections)}"
    if origin is dict:
        k, v = get_args(ann)
        return f"map of {_type(k, sections)} to {_type(v, sections)}"
    if _is_model(ann):
        target = sections.get(ann.__name__)
        return f"[{ann.__name__}](#{target})" if target else ann.__name__
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(ann, getattr(ann, "__name__", str(ann)))


def _constraints(field: FieldInfo) -> str:
    out: list[str] = []
    metas = list(field.metadata)
    inner = field.annotation
    inner, _ = _strip_optional(inner)
    if get_origin(inner) is typing.Annotated:
        metas += list(get_args(inner)[1:])
    for m in metas:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sym} {v}")
        unit = "characters" if _strip_optional(field.annotation)[0] is str else "entries"
        for attr, word in (("min_length", "at least {} "), ("max_length", "at most {} ")):
            v = getattr(m, attr, None)
            if v is not None:
                out.append(word.format(v) + unit)
        p = getattr(m, "pattern", None)
        if p:
            out.append(f"matches `{p}`")
    if field.annotation is float or _strip_optional(field.annotation)[0] is float:
        out.append("finite")
    return "; ".join(dict.fromkeys(out)) or "-"


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "every key's default"
        return f"`{json.dumps(value)}`"
    if field.default is PydanticUndefined:
        return "**required**"
    if isinstance(field.default, BaseModel):
        return "every key's default"
    return f"`{json.dumps(field.default)}`"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _sections(model: type[BaseModel], chain: tuple[str, ...], found: list[tuple[tuple[str, ...], type[BaseModel]]]) -> None:
    found.append((chain, model))
    for name, f in model.model_fields.items():
        inner = f.annotation
        for _ in range(4):  # through Optional, dict and list to the section model
            inner, _opt = _strip_optional(inner)
            if get_origin(inner) in (dict, list):
                inner = get_args(inner)[-1]
        if _is_model(inner) and all(inner is not m for _, m in found):
            _sections(inner, (*chain, name), found)


def _key(chain: tuple[str, ...], model_for: dict[tuple[str, ...], Any]) -> str:
    """How a section is written in a stack file: ``strait:models.<name>``."""
    parts: list[str] = []
    for i, name in enumerate(chain):
        parts.append(name)
        holder = model_for[chain[:i]].model_fields[name].annotation
        holder, _ = _strip_optional(holder)
        if get_origin(holder) is dict:
            parts.append("<name>")
        elif get_origin(holder) is list:
            parts[-1] += "[]"
    return f"{NAMESPACE}:" + ".".join(parts) if parts else f"{NAMESPACE}:<key>"


def render() -> str:
    from strait.config.registry import config_models

    CONFIG_MODELS = config_models()
    from strait.config import MAX_DEPTH, MAX_ITEMS, MAX_STRING_CHARS, SECRET_KEYS
    from strait.config.sections import NAME_MAX_CHARS, NAME_PATTERN
    from strait.plan.stackfile import MAX_FILE_BYTES

    lines = [
        "# Strait config reference",
        "",
        "<!-- Generated by `python -m strait.config.reference --write` from the pydantic models; do not edit by hand. "
        "tests/config/test_reference.py fails when this file is stale. -->",
        "",
        f"Every key lives in the `{NAMESPACE}:` namespace of a stack file (`stacks/Pulumi.<stack>.yaml`), under "
        "`config:`. Unknown keys are errors, every error names the key, the value given (never a secret's) and a fix, "
        "and all errors are reported together before any resource exists.",
        "",
        f'<a id="{STACK_FILE_ANCHOR}"></a>',
        "## Stack files",
        "",
        "- UTF-8 YAML, one mapping with a `config:` section; keys are `<namespace>:<name>`.",
        f"- Only `{NAMESPACE}:` keys (and Pulumi's own `pulumi:` keys) are read. Another namespace (`strat:`, `Strait:`, "
        "`aws:`) is an error: default providers are disabled, so such a key would be silently ignored.",
        "- A key written twice is an error (YAML would keep only the last).",
        "- Numbers are finite: `.inf` and `.nan` are refused.",
        f"- Size caps, checked before anything else: a file of at most {MAX_FILE_BYTES:,} bytes, at most "
        f"{MAX_ITEMS:,} entries in any map or list, strings of at most {MAX_STRING_CHARS:,} characters, nesting at "
        f"most {MAX_DEPTH} levels deep.",
        "",
        f'<a id="{NAMES_ANCHOR}"></a>',
        "## Names",
        "",
        "Keys of `gpu_pools`, `models` and `gateway.tiers` (and the lists that refer to them) are names you choose. "
        "Strait derives Kubernetes and AWS names from them (`seed-<name>`, `<name>-api-key`, `<stack>-<pool>`), which "
        "must be DNS-1123 labels of at most 63 characters including those prefixes and suffixes. So a name is "
        f"1-{NAME_MAX_CHARS} lower-case letters, digits and `-`, starts with a letter and ends with a letter or digit "
        f"(`{NAME_PATTERN}`).",
        "",
        f'<a id="{SECRETS_ANCHOR}"></a>',
        "## Secrets",
        "",
        "Set with `pulumi config set --secret strait:<key> <value>`; never written in plain text, and never shown in "
        "an error. A secret under a section (`gateway:`) or a mistyped secret key is reported as unknown, without "
        "its value.",
        "",
        "| Key | Description |",
        "| --- | --- |",
    ]
    lines += [f"| `{NAMESPACE}:{k}` | {_cell(d)} |" for k, d in sorted(SECRET_KEYS.items())]
    seen: set[str] = set()
    for bp, model in sorted(CONFIG_MODELS.items()):
        found: list[tuple[tuple[str, ...], type[BaseModel]]] = []
        _sections(model, (), found)
        model_for = {chain: m for chain, m in found}
        sections = {m.__name__: anchor(list(chain)) for chain, m in found}
        lines += ["", f"## Blueprint `{bp}`", ""]
        for chain, m in found:
            sec_anchor = anchor(list(chain))
            title = "Top-level keys" if not chain else f"`{_key(chain, model_for)}`"
            lines += [""]
            if sec_anchor not in seen:
                lines.append(f'<a id="{sec_anchor}"></a>')
                seen.add(sec_anchor)
            lines += [f"### {title} ({m.__name__})", "", _cell(m.__doc__ or ""), "",
                      "| Key | Type | Default | Constraints | Description |", "| --- | --- | --- | --- | --- |"]
            for name, f in m.model_fields.items():
                fa = anchor([*chain, name])
                is_section = (*chain, name) in model_for
                tag = "" if is_section or fa in seen else f'<a id="{fa}"></a>'
                if tag:
                    seen.add(fa)
                desc = f.description or ""
                if is_section:
                    desc = f"{desc} See [below](#{fa}).".strip()
                lines.append(f"| {tag}`{name}` | {_cell(_type(f.annotation, sections))} | {_cell(_default(f))} | "
                             f"{_cell(_constraints(f))} | {_cell(desc)} |")
    return "\n".join(lines) + "\n"


def anchors(text: str) -> set[str]:
    import re

    return set(re.findall(r'<a id="([^"]+)"></a>', text))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m strait.config.reference", description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help=f"rewrite {REFERENCE_DOC}")
    p.add_argument("--check", action="store_true", help=f"exit 1 when {REFERENCE_DOC} is stale")
    args = p.parse_args(argv)
    text = render()
    if args.write:
        DOC_PATH.write_text(text)
        return 0
    if args.check:
        stale = not DOC_PATH.is_file() or DOC_PATH.read_text() != text
        if stale:
            print(f"{REFERENCE_DOC} is stale: run `python -m strait.config.reference --write`", file=sys.stderr)
        return 1 if stale else 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
