"""Read Pulumi.yaml + stacks/Pulumi.<stack>.yaml the way the CLI would (pulumi/pulumi#4472: mocks do not)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from strait.config.errors import NAMESPACE


class StackFileError(Exception):
    """A project or stack file Strait cannot read; the message names the file, the line and a fix."""

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = problems or []
        if self.problems:
            n = len(self.problems)
            message = "\n".join([f"{message} ({n} error{'s' if n != 1 else ''}):", *(f"  - {p}" for p in self.problems)])
        super().__init__(message)


#: A stack file is a few kilobytes; anything past this is not one (and would take long to parse).
MAX_FILE_BYTES = 128 * 1024
#: Top-level keys of a Pulumi stack file (pulumi/pulumi sdk/go/common/workspace/project.go, ProjectStack).
STACK_FILE_KEYS = ("config", "environment", "secretsprovider", "encryptedkey", "encryptionsalt")
_EXAMPLE = "stacks/Pulumi.phase1-sg.yaml"
#: Pulumi stack names (pulumi/pulumi sdk/go/common/tokens: alphanumerics, '-', '_' and '.', at most 100).
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loading (libyaml when present) that records duplicate keys instead of letting the last one win."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[tuple[Any, int, int]] = []

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: SafeConstructor reports it
                continue
            if first != key_node.start_mark.line + 1:
                self.duplicates.append((key, first, key_node.start_mark.line + 1))
        return super().construct_mapping(node, deep)


_YAML_HINTS = (
    ("mapping values are not allowed", "a value that contains ': ' must be quoted, or the key is indented wrongly; "
                                       "quote the value or line the key up with its siblings"),
    ("(a tab character)", "YAML indents with spaces only; replace the tab with spaces"),
    ("could not find expected ':'", "every key needs ': ' and a value; check this line and the one before it for a "
                                    "missing colon or an unclosed quote"),
    ("did not find expected key", "a line is indented less or more than its siblings; line the keys up"),
    ("did not find expected '-' indicator", "a list item is indented differently from the others; line them up"),
    ("found unexpected end of stream", "a quote or bracket is never closed; close it"),
    ("while scanning a quoted scalar", "a quote is never closed; close it"),
    ("found undefined alias", "an *alias names no &anchor; define the anchor or write the value out"),
    ("maximum nesting depth", "the value is nested more deeply than any config needs; flatten it"),
    ("could not determine a constructor", "YAML tags such as !!python/... are not allowed; write a plain value"),
)


def read_yaml(path: Path, shown: str, duplicates: list[str] | None = None) -> Any:
    """Parse one YAML file strictly: UTF-8 only, no duplicate keys, errors with line numbers and a fix.

    Duplicate keys raise, unless ``duplicates`` is given: then they are appended to it (so they can be
    reported together with the config's own errors)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise StackFileError(f"{shown} is {size:,} bytes, more than a stack file can be ({MAX_FILE_BYTES:,}). "
                                 "Fix: a stack file holds a few kilobytes of settings; remove what was generated "
                                 "into it (100,000 tags?)")
        data = path.read_bytes()
    except OSError as exc:
        raise StackFileError(f"cannot read {shown}: {exc.strerror}. Fix: check the path and its permissions") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise StackFileError(f"{shown} line {line}, column {col}: byte 0x{data[exc.start]:02x} is not UTF-8. "
                             "Fix: save the file as UTF-8 (Latin-1 or Windows-1252 text is the usual cause)") from None
    loader = _StrictLoader(text)
    try:
        doc = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = " ".join(x for x in (exc.context, exc.problem) if x)
        if mark and text.splitlines()[mark.line:mark.line + 1] and "\t" in text.splitlines()[mark.line][:mark.column + 1]:
            what += " (a tab character)"
        fix = next((h for k, h in _YAML_HINTS if k in what), "check the indentation and quoting of this line and the "
                   "one before it; quote values that contain ': ', ' #' or start with a special character")
        raise StackFileError(f"{shown}{where}: not valid YAML ({what}). Fix: {fix}") from None
    except yaml.YAMLError as exc:
        raise StackFileError(f"{shown}: not valid YAML ({exc}). Fix: check the file is a YAML document") from None
    except RecursionError:  # the pure-Python loader (no libyaml) has no nesting limit of its own
        raise StackFileError(f"{shown}: nested more deeply than Python can read. Fix: flatten it") from None
    finally:
        loader.dispose()
    found = [f"line {again}: key {key!r} repeats the key at line {first}; YAML would silently keep only the last. "
             "Fix: keep one of them" for key, first, again in sorted(loader.duplicates, key=lambda d: d[2])]
    if found and duplicates is None:
        raise StackFileError(f"Invalid {shown}", found)
    if duplicates is not None:
        duplicates.extend(found)
    return doc


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    return f"a {type(value).__name__} ({value!r})" if isinstance(value, (int, float, bool)) else "a single value"


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    project_dir: Path
    values: dict[str, Any]
    """Full keys ("strait:region") -> decoded YAML values."""
    secret_keys: frozenset[str] = field(default_factory=frozenset)
    placeholders: tuple[str, ...] = ()
    """Secret keys filled with offline placeholders (not set in the stack file)."""
    file: str = ""
    """The stack file, relative to the project ("stacks/Pulumi.phase1-sg.yaml")."""
    problems: tuple[str, ...] = ()
    """Problems that did not stop reading (duplicate keys, malformed keys); only with ``collect=True``."""

    def problems_error(self) -> StackFileError | None:
        return StackFileError(f"Invalid {self.file}", list(self.problems)) if self.problems else None

    def namespace(self, ns: str = NAMESPACE) -> dict[str, Any]:
        return {k.split(":", 1)[1]: v for k, v in self.values.items() if k.startswith(f"{ns}:")}

    def engine_config(self) -> dict[str, str]:
        """What the engine hands the language host: every value as a string, objects as JSON."""
        out = {}
        for k, v in self.values.items():
            if isinstance(v, str):
                out[k] = v
            elif isinstance(v, bool):
                out[k] = "true" if v else "false"
            elif isinstance(v, (int, float)):
                out[k] = str(v)
            else:
                out[k] = json.dumps(v)
        return out


def find_project_dir(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "Pulumi.yaml").is_file():
            return d
    raise StackFileError(f"no Pulumi.yaml in {here} or any parent. Fix: run from a Strait project, or pass "
                         "--project-dir with the folder that holds Pulumi.yaml")


def placeholder_secret(key: str) -> str:
    """A recognisable fake secret; the plan checks that none of these leaks into its outputs."""
    return f"offline-placeholder-{key.replace('_', '-')}-0123456789abcdef"


def with_placeholders(cfg: StackConfig, keys: list[str]) -> StackConfig:
    """Fill the named secret keys (namespace-less) that the stack file does not set with placeholder secrets."""
    values, secret_keys, filled = dict(cfg.values), set(cfg.secret_keys), []
    for key in sorted(keys):
        full = f"{NAMESPACE}:{key}"
        if full not in values:
            values[full] = placeholder_secret(key)
            secret_keys.add(full)
            filled.append(key)
    return StackConfig(project=cfg.project, stack=cfg.stack, project_dir=cfg.project_dir, values=values,
                       secret_keys=frozenset(secret_keys), placeholders=tuple(sorted(set(cfg.placeholders) | set(filled))),
                       file=cfg.file, problems=cfg.problems)


def _project(project_dir: Path) -> dict[str, Any]:
    if not project_dir.is_dir():
        raise StackFileError(f"--project-dir {project_dir} is not a folder. Fix: pass the folder that holds Pulumi.yaml")
    if not (project_dir / "Pulumi.yaml").is_file():
        raise StackFileError(f"no Pulumi.yaml in {project_dir}. Fix: pass --project-dir the folder that holds "
                             "Pulumi.yaml (the root of the Strait checkout), or leave it out to search upwards "
                             "from the current folder")
    proj = read_yaml(project_dir / "Pulumi.yaml", "Pulumi.yaml")
    if not isinstance(proj, dict) or not isinstance(proj.get("name"), str):
        raise StackFileError("Pulumi.yaml is not a Pulumi project file (it needs a mapping with `name:`). Fix: "
                             "restore it from the Strait checkout")
    return proj


def load_stack_config(project_dir: Path, stack: str, *, collect: bool = False) -> StackConfig:
    """Read a stack the way the Pulumi CLI would. A file that cannot be read as a stack raises StackFileError;
    smaller problems (duplicate or malformed keys) raise too, unless ``collect``: then they are returned in
    ``problems``, so the caller reports them together with the config's own errors."""
    if not _STACK_NAME.match(stack):
        raise StackFileError(f"--stack {stack!r} is not a Pulumi stack name. Fix: use letters, digits, '-', '_' and "
                             "'.' only (at most 100), e.g. phase1-sg")
    proj = _project(project_dir)
    project = proj["name"]
    stack_dir = project_dir / str(proj.get("stackConfigDir", "."))
    path = stack_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stack_dir.glob("Pulumi.*.yaml"))
        raise StackFileError(f"no stack file {path.relative_to(project_dir)}; known stacks: {', '.join(known) or '(none)'}")
    values: dict[str, Any] = {}
    project_config = proj.get("config") or {}
    if isinstance(project_config, dict):
        for key, decl in project_config.items():
            full = key if ":" in key else f"{project}:{key}"
            if isinstance(decl, dict) and ("value" in decl or "default" in decl):
                values[full] = decl.get("value", decl.get("default"))
            elif not isinstance(decl, dict):
                values[full] = decl
    shown = str(path.relative_to(project_dir))
    problems: list[str] = []
    stack_doc = read_yaml(path, shown, problems)
    config = _config_section(stack_doc, shown, problems)
    secret_keys = set()
    for key, value in config.items():
        if not isinstance(key, str) or key.count(":") != 1 or not all(key.split(":")):
            fix = (f"write it as {NAMESPACE}:{key}" if isinstance(key, str) and ":" not in key
                   else f"write keys as {NAMESPACE}:<name>")
            problems.append(f"config key {str(key)!r} is not of the form <namespace>:<name>, which Pulumi requires. "
                            f"Fix: {fix}")
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            # We cannot decrypt without the stack's secrets provider; use a placeholder, still a secret.
            value = placeholder_secret(key.split(":", 1)[1])
            secret_keys.add(key)
        values[key] = value
    if problems and not collect:
        raise StackFileError(f"Invalid {shown}", problems)
    return StackConfig(project=project, stack=stack, project_dir=project_dir, values=values,
                       secret_keys=frozenset(secret_keys), placeholders=(), file=shown, problems=tuple(problems))


def _config_section(doc: Any, shown: str, problems: list[str]) -> dict[str, Any]:
    """The ``config:`` mapping of a stack file, or an error that says what the file holds instead.

    Problems that leave a usable ``config:`` (a stray top-level key) are appended to ``problems``."""
    layout = (f"Fix: start the file with a `config:` line and indent `{NAMESPACE}:<key>: <value>` lines under it, "
              f"as in {_EXAMPLE}")
    if not isinstance(doc, dict):
        raise StackFileError(f"{shown} is {_kind(doc)}, not a mapping with a `config:` section. {layout}")
    fatal = []
    stray = sorted(str(k) for k in doc if k not in STACK_FILE_KEYS)
    namespaced = [k for k in stray if ":" in k]
    if namespaced:
        # without `config:` the file is unusable; beside one, these keys are misplaced but the rest can be checked
        (fatal if "config" not in doc else problems).append(
            f"{', '.join(namespaced)} {'is' if len(namespaced) == 1 else 'are'} at the top level of the file, outside "
            f"the `config:` wrapper, so Pulumi would not read {'it' if len(namespaced) == 1 else 'them'}. Fix: "
            + ("put a `config:` line first and indent " if "config" not in doc else "indent ")
            + f"{'this key' if len(namespaced) == 1 else 'these keys'} under {'it' if 'config' not in doc else '`config:`'}")
    for k in (k for k in stray if ":" not in k):
        problems.append(f"unknown top-level key {k!r}; a stack file holds only {', '.join(STACK_FILE_KEYS)}. "
                        f"Fix: remove it, or move it under `config:` as {NAMESPACE}:{k}")
    config = doc.get("config")
    if "config" not in doc:
        if not namespaced:
            fatal.append(f"no `config:` section. {layout}")
    elif isinstance(config, list):
        fatal.append("`config:` is a list (its entries start with '- '), not a mapping. Fix: remove the '- ' so "
                     f"that each line reads `{NAMESPACE}:<key>: <value>`")
    elif not isinstance(config, dict):
        fatal.append(f"`config:` is {_kind(config)}, not a mapping. {layout}")
    if fatal:
        raise StackFileError(f"Invalid {shown}", problems + fatal)
    return config
