"""The pinned engines' own registries, read from their installed source in .venv-vllm (AST, no import).

Importing the parser modules would pull CUDA kernels; the registries are plain dict literals, so the
keys are read from the syntax tree of the files the engines themselves import them from:

* vLLM 0.33.0: ``_TOOL_PARSERS_TO_REGISTER`` in ``vllm/tool_parsers/__init__.py`` and
  ``_REASONING_PARSERS_TO_REGISTER`` in ``vllm/reasoning/__init__.py`` (lazily registered names);
* SGLang 0.5.23: ``FunctionCallParser.ToolCallParserEnum`` in
  ``sglang/srt/function_call/function_call_parser.py`` and ``ReasoningParser.DetectorMap`` in
  ``sglang/srt/parser/reasoning_parser.py``.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

from tests.conftest import ROOT


def site_packages() -> Path:
    found = sorted((ROOT / ".venv-vllm" / "lib").glob("python3*/site-packages"))
    if not found or not (found[0] / "vllm").is_dir():
        pytest.fail("the engine judge venv (.venv-vllm) is missing; run scripts/setup.sh --test")
    return found[0]


def _dict_keys(path: Path, name: str) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == name and isinstance(value, ast.Dict):
            keys = frozenset(k.value for k in value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))
            if keys:
                return keys
    raise AssertionError(f"{name} not found as a dict literal in {path}: the engine moved its registry")


@lru_cache(maxsize=None)
def registry(engine: str, kind: str) -> frozenset[str]:
    """Names the pinned ``engine`` ('vllm' | 'sglang') accepts for ``kind`` ('tool' | 'reasoning')."""
    sp = site_packages()
    where = {
        ("vllm", "tool"): (sp / "vllm" / "tool_parsers" / "__init__.py", "_TOOL_PARSERS_TO_REGISTER"),
        ("vllm", "reasoning"): (sp / "vllm" / "reasoning" / "__init__.py", "_REASONING_PARSERS_TO_REGISTER"),
        ("sglang", "tool"): (sp / "sglang" / "srt" / "function_call" / "function_call_parser.py", "ToolCallParserEnum"),
        ("sglang", "reasoning"): (sp / "sglang" / "srt" / "parser" / "reasoning_parser.py", "DetectorMap"),
    }
    path, name = where[(engine, kind)]
    return _dict_keys(path, name)
