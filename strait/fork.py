"""`strait fork BLUEPRINT NEW_NAME`: copy a blueprint into ``blueprints/NEW_NAME/`` and write a stack that selects it.

The copy is the blueprint's own package only (its program, config model, README). What it imports from
``components/``, ``strait/`` and ``blueprints/shared/`` stays shared, so later fixes there reach the fork
with a plain ``git pull`` (README, "Forking a blueprint"). The package's references to itself are rewritten:
``blueprints.<old>`` imports, ``BLUEPRINT = "<old>"`` and the config model's ``Literal["<old>"]``. The
registry (blueprints/registry.py) finds the new package by itself (:func:`blueprints.registry.discover`).

The stack file is the blueprint's example stack (``EXAMPLE_STACK = "..."`` in the package, else the line
``Example stack: `<name>``` in its README, else the first stack file that selects it) with
``strait:blueprint`` changed, so the fork plans offline at once with no edits.
"""
from __future__ import annotations

import ast
import keyword
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

#: Blueprint names: a Python package name that is also a valid GCP label value and Kubernetes label value
#: (the ``blueprint`` tag/label on every resource): lowercase, starts with a letter, ends alphanumeric, <= 63.
BLUEPRINT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,61}[a-z0-9]$")
#: Stack names: they become parts of DNS-1123 resource names (EKS cluster, buckets, Kubernetes objects).
STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
#: Modules of the blueprints package that are not blueprints.
RESERVED = frozenset({"shared", "registry", "loader"})


@dataclass
class ForkError(Exception):
    field: str
    value: object
    problem: str
    fix: str

    def render(self) -> str:
        return f"error: {self.field} = {self.value!r}: {self.problem}. Fix: {self.fix}"

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class ForkResult:
    package: Path
    stack_file: Path
    stack: str
    example_stack: str


def _blueprints_in(project_dir: Path) -> list[str]:
    root = project_dir / "blueprints"
    if not root.is_dir():
        raise ForkError("--project-dir", str(project_dir), "has no blueprints/ folder",
                        "run from a Strait project, or pass --project-dir with the folder that holds Pulumi.yaml")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").is_file()
                  and (p / "config.py").is_file() and p.name not in RESERVED)


def check_name(name: str, project_dir: Path) -> None:
    """Refuse a NEW_NAME that would not work as a package, a tag/label value or a new blueprint."""
    if not BLUEPRINT_NAME.match(name) or keyword.iskeyword(name) or not name.isidentifier():
        raise ForkError("NEW_NAME", name, "is not a usable blueprint name: it must be a Python identifier that is "
                        "also a Kubernetes and GCP label value (lowercase letters, digits and _, starting with a "
                        "letter, ending with a letter or digit, at most 63 characters, not a Python keyword)",
                        f"use e.g. {_suggest(name)!r}")
    if name in RESERVED or (project_dir / "blueprints" / name).exists():
        raise ForkError("NEW_NAME", name, f"blueprints/{name} already exists", "pick another name, or delete that "
                        "folder first if it is an old fork you no longer want")


def _suggest(name: str) -> str:
    s = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    if not s or not s[0].isalpha():
        s = "my_" + s
    s = s[:63].rstrip("_")
    return s + "_bp" if keyword.iskeyword(s) else s


def check_stack_name(stack: str) -> None:
    if not STACK_NAME.match(stack):
        raise ForkError("--stack", stack, "is not a usable stack name: Strait derives DNS names (cluster, buckets, "
                        "Kubernetes objects) from it, so it must be lowercase letters, digits and -, start with a "
                        "letter, end with a letter or digit, at most 32 characters", f"use e.g. "
                        f"{re.sub(r'[^a-z0-9-]+', '-', stack.lower()).strip('-')[:32] or 'my-stack'!r}")


def _stack_selects(path: Path) -> str | None:
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        return None
    value = (doc.get("config") or {}).get("strait:blueprint") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def example_stack(project_dir: Path, blueprint: str) -> str:
    """The stack a blueprint names as its example (see the module docstring for where it is looked up)."""
    pkg = project_dir / "blueprints" / blueprint
    for mod in ("__init__.py", "config.py"):
        tree = ast.parse((pkg / mod).read_text()) if (pkg / mod).is_file() else ast.Module(body=[], type_ignores=[])
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "EXAMPLE_STACK"
                                                    for t in node.targets) \
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    readme = pkg / "README.md"
    if readme.is_file():
        m = re.search(r"^Example stack: `([^`]+)`", readme.read_text(), re.M)
        if m:
            return m.group(1)
    selecting = sorted(f.name[len("Pulumi."):-len(".yaml")] for f in (project_dir / "stacks").glob("Pulumi.*.yaml")
                       if _stack_selects(f) == blueprint)
    if not selecting:
        raise ForkError("BLUEPRINT", blueprint, "names no example stack and no stack file selects it",
                        f"add the line 'Example stack: `<stack>`' to blueprints/{blueprint}/README.md")
    return selecting[0]


def rewrite_python(text: str, old: str, new: str) -> str:
    """The package's references to itself, renamed; everything else (shared imports) untouched."""
    text = re.sub(rf"\bblueprints\.{re.escape(old)}\b", f"blueprints.{new}", text)
    text = re.sub(rf'^(BLUEPRINT\s*=\s*)(["\']){re.escape(old)}\2', rf"\g<1>\g<2>{new}\g<2>", text, flags=re.M)
    return re.sub(rf'\bLiteral\[(["\']){re.escape(old)}\1\]', rf"Literal[\g<1>{new}\g<1>]", text)


def _self_imports(text: str, old: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(text)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        found += [n for n in names if n == f"blueprints.{old}" or n.startswith(f"blueprints.{old}.")]
    return found


def rewrite_stack(text: str, old: str, new: str, source: str, stack: str) -> str:
    pattern = re.compile(rf'^(\s*strait:blueprint:\s*)(["\']?){re.escape(old)}\2(\s*(#.*)?)$', re.M)
    if len(pattern.findall(text)) != 1:
        raise ForkError("--stack", source, f"stacks/Pulumi.{source}.yaml does not set strait:blueprint: {old} on "
                        "exactly one line", "write it on one line as `strait:blueprint: <name>`")
    header = (f"# Stack {stack}: forked from stacks/Pulumi.{source}.yaml by `strait fork {old} {new}`; it selects "
              f"blueprints/{new}.\n")
    return header + pattern.sub(rf"\g<1>{new}\g<3>", text)


def fork(project_dir: Path, blueprint: str, new_name: str, stack: str | None = None) -> ForkResult:
    """Copy ``blueprints/<blueprint>`` to ``blueprints/<new_name>`` and write ``stacks/Pulumi.<stack>.yaml``.

    Every check runs before anything is written; a failure while writing removes what was written."""
    project_dir = project_dir.resolve()
    known = _blueprints_in(project_dir)
    if blueprint not in known:
        raise ForkError("BLUEPRINT", blueprint, "is not a blueprint of this project",
                        f"pick one of {', '.join(known)}")
    check_name(new_name, project_dir)
    stack = stack or new_name.replace("_", "-")
    check_stack_name(stack)
    target_stack = project_dir / "stacks" / f"Pulumi.{stack}.yaml"
    if target_stack.exists():
        raise ForkError("--stack", stack, f"stacks/Pulumi.{stack}.yaml already exists",
                        "pass another --stack name")
    source = example_stack(project_dir, blueprint)
    source_file = project_dir / "stacks" / f"Pulumi.{source}.yaml"
    if not source_file.is_file():
        raise ForkError("BLUEPRINT", blueprint, f"its example stack stacks/Pulumi.{source}.yaml does not exist",
                        f"fix the example stack named in blueprints/{blueprint}")
    stack_text = rewrite_stack(source_file.read_text(), blueprint, new_name, source, stack)

    src, dst = project_dir / "blueprints" / blueprint, project_dir / "blueprints" / new_name
    try:
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for f in sorted(dst.rglob("*.py")):
            text = rewrite_python(f.read_text(), blueprint, new_name)
            left = _self_imports(text, blueprint)
            if left:
                raise ForkError("BLUEPRINT", blueprint, f"{f.relative_to(project_dir)} still imports {left[0]} "
                                "after the rewrite", "import the package by its full name, "
                                f"`from blueprints.{blueprint}.x import y`")
            text = re.sub(r'^(EXAMPLE_STACK\s*=\s*)(["\']).*?\2', rf"\g<1>\g<2>{stack}\g<2>", text, flags=re.M)
            f.write_text(text)
        if not re.search(rf'\bLiteral\[(["\']){re.escape(new_name)}\1\]', (dst / "config.py").read_text()):
            raise ForkError("BLUEPRINT", blueprint, f"its config.py has no `blueprint: Literal[\"{blueprint}\"]` "
                            "field, so the registry could not find the fork", "give the config model that field")
        readme = dst / "README.md"
        if readme.is_file():
            text = re.sub(rf"^# Blueprint: {re.escape(blueprint)}\b", f"# Blueprint: {new_name}", readme.read_text(),
                          flags=re.M)
            text = re.sub(r"^Example stack: `[^`]+`", f"Example stack: `{stack}`", text, flags=re.M)
            readme.write_text(f"<!-- Forked from blueprints/{blueprint} by `strait fork`. -->\n" + text)
        target_stack.write_text(stack_text)
    except BaseException:
        shutil.rmtree(dst, ignore_errors=True)
        target_stack.unlink(missing_ok=True)
        raise
    return ForkResult(package=dst, stack_file=target_stack, stack=stack, example_stack=source)
