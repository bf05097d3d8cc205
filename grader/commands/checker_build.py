"""`grader build-checker`: the student checker as a wheel of its own, with no answer key in it.

The wheel `grader-checker` holds `grader_checker` (the student's `grader check`/`replay` and
the notebook's `check()`), the public bundle, and exactly the modules of `grader` those import
when loaded: found by following their imports (those run at load time, not those inside
functions nor under TYPE_CHECKING), so a new module is shipped only when the checker needs it,
and the build stops if that set ever reaches the answer key or the case generator. Its version
carries the bundle's digest: one wheel, one bundle.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from grader import __version__
from grader.outputs.bundle import read_bundle
from grader.errors import GraderError, UsageError

SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the repository: grader/commands/ is two folders down
DISTRIBUTION = "grader-checker"
#: What the student runs: the checker, what its commands import when they run, and the
#: sandbox's zygote and template (started with `python -m`).
ROOTS = ("grader_checker", "grader_checker.cli", "grader_checker.__main__", "grader.commands.student_check",
         "grader.commands.replay", "grader.commands.console", "grader.outputs.bundle", "grader.sandbox.zygote",
         "grader.sandbox.template", "grader.sandbox.child")
#: The answer key, the case generator (with the seed it draws every hidden case) and the
#: instructor's tools on it: a student who installs the checker must not get them.
FORBIDDEN = ("reference", "grader.stages.cases", "grader.commands.reference_tools", "grader.commands.answer_key")
#: Data files a shipped package reads beside its modules (grader/formulas/problems.toml: the
#: default headings and aliases for reading written answers; no answer is in them).
DATA_SUFFIXES = (".toml",)
#: Installed apart, only where a problem needs it (a CPU build, from PyTorch's index).
NOT_REQUIRED = {"torch"}
#: Zip timestamps of 1980: the same bundle and grader give the same wheel, byte for byte.
SOURCE_DATE_EPOCH = "315532800"


def module_path(name: str) -> Path | None:
    """The source file of one of this checkout's modules, or None for any other module."""
    base = SOURCE_ROOT.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def load_time_imports(name: str, path: Path) -> set[str]:
    """Modules `name` imports when it is loaded (absolute names, submodules included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names if module_path(f"{base}.{alias.name}"))
            elif isinstance(node, ast.If):
                if not is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


def shipped_modules() -> dict[str, Path]:
    """Every module of this checkout the checker loads, with its package folders; a
    GraderError naming the import chain when that reaches a forbidden module."""
    shipped: dict[str, Path] = {}
    importer: dict[str, str] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in shipped:
            continue
        if any(name == secret or name.startswith(secret + ".") for secret in FORBIDDEN):
            chain = [name]
            while chain[-1] in importer:
                chain.append(importer[chain[-1]])
            raise GraderError(f"the student checker would ship {name}: imported at load time by "
                              + " <- ".join(chain[1:]),
                              hint="import it inside the function that needs it (instructors only)")
        path = module_path(name)
        if path is None:
            continue  # the standard library or a dependency
        shipped[name] = path
        parents = [name.rsplit(".", depth)[0] for depth in range(1, name.count(".") + 1)]
        for imported in sorted(load_time_imports(name, path)) + parents:
            importer.setdefault(imported, name)
            todo.append(imported)
    return shipped


def requirements(modules: dict[str, Path]) -> list[str]:
    """The grader's own requirements (as pyproject.toml bounds them) for the third-party
    packages the shipped modules import anywhere, torch excepted."""
    imported: set[str] = set()
    for path in modules.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
    providers = importlib.metadata.packages_distributions()
    wanted = {normalized(dist) for module in imported - set(sys.stdlib_module_names)
              for dist in providers.get(module, ())} - NOT_REQUIRED
    return sorted(requirement for requirement in declared_requirements()
                  if normalized(re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0]) in wanted)


def declared_requirements() -> list[str]:
    """The grader's requirements as installed from pyproject.toml (extras left out)."""
    try:
        declared = importlib.metadata.requires("grader") or []
    except importlib.metadata.PackageNotFoundError:
        raise UsageError("the grader is not installed, so its requirements are unknown",
                         hint="run `make setup` and use .venv/bin/grader") from None
    return [line.split(";")[0].strip() for line in declared if "extra ==" not in line]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def checker_version(bundle_bytes: bytes) -> str:
    """The grader's version with the bundle's digest as its local label: 0.1.0+bundle.3f2a..."""
    return f"{__version__}+bundle.{hashlib.sha256(bundle_bytes).hexdigest()[:16]}"


def pyproject(version: str, title: str, packages: list[str], dependencies: list[str]) -> str:
    listed = ", ".join(f'"{name}"' for name in packages)
    required = ", ".join(f'"{requirement}"' for requirement in dependencies)
    return f"""[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "{DISTRIBUTION}"
version = "{version}"
description = {title!r}
requires-python = ">=3.11"
dependencies = [{required}]

[project.scripts]
grader = "grader_checker.cli:main"

[tool.setuptools]
packages = [{listed}]

[tool.setuptools.package-data]
grader_checker = ["public.json"]
"*" = [{", ".join(f'"*{suffix}"' for suffix in DATA_SUFFIXES)}]
"""


def build_checker(bundle_path: Path, output: Path) -> Path:
    """Build the checker wheel for a public bundle into `output`; return the wheel's path."""
    bundle = read_bundle(bundle_path)  # a damaged or foreign file is refused before any build
    data = bundle_path.read_bytes()
    modules = shipped_modules()
    version = checker_version(data)
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grader-checker-") as work:
        project = Path(work)
        for path in modules.values():
            target = project / path.relative_to(SOURCE_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        (project / "grader_checker" / "public.json").write_bytes(data)
        packages = sorted(name for name, path in modules.items() if path.name == "__init__.py")
        for name in packages:
            folder = SOURCE_ROOT.joinpath(*name.split("."))
            for data_file in sorted(folder.iterdir()):
                if data_file.suffix in DATA_SUFFIXES and data_file.is_file():
                    shutil.copyfile(data_file, project / data_file.relative_to(SOURCE_ROOT))
        title = f"Student checker for {bundle.title} (public bundle only, no answer key)"
        (project / "pyproject.toml").write_text(
            pyproject(version, title.replace("'", ""), packages, requirements(modules)), encoding="utf-8")
        for path in project.rglob("*"):
            os.utime(path, (int(SOURCE_DATE_EPOCH),) * 2)
        built = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
             "--disable-pip-version-check", "--quiet", "--wheel-dir", str(output), str(project)],
            capture_output=True, text=True, env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH})
        if built.returncode != 0:
            raise UsageError(f"building the checker wheel failed: {(built.stderr or built.stdout).strip()[-800:]}",
                             hint="it needs pip and setuptools>=70.1 in the grader's environment")
    wheels = sorted(output.glob(f"grader_checker-{version}-*.whl"))
    if not wheels:
        raise GraderError(f"pip reported success but wrote no grader_checker-{version} wheel into {output}")
    return wheels[-1]
