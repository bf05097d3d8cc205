"""Find submissions in a folder and read each into a `Submission`, never executing anything.

An entry is a file (`alice.py`, `alice.ipynb`) or a folder (`alice/`); the student id is
its name. In a folder the graded file is the module or notebook whose code defines the most
interface function names (parsed with `ast`), then the most near names of them
(`softmax_fn`); ties go to the first path in alphabetical order. Unreadable input becomes
`Submission.error`, never an exception.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import tokenize
import warnings
from collections.abc import Collection
from pathlib import Path

import nbformat

from grader.stages import near_names
from grader.errors import SubmissionsError
from grader.models import ExecutionError, SourceUnit, Submission
from grader.stages.submission_files import copied_digest

#: The interface of PROBLEMS.md and its usual aliases: what makes a file "the solution".
INTERFACE_NAMES = frozenset({
    "mlp_params", "count_mlp_params", "cnn_params", "count_cnn_params", "build_cnn", "softmax",
    "softmax_jacobian", "softmax_grad", "cross_entropy_grad", "ce_grad", "cross_entropy_gradient"})
CODE_SUFFIXES = (".py", ".ipynb")
#: A write-up: its formulas are the answers (grader/formulas); no code runs.
WRITE_UP_SUFFIXES = (".md",)
IGNORED_FOLDERS = {"__pycache__", ".ipynb_checkpoints", ".git"}
#: Cell magics whose body is Python (kept); any other `%%` cell (bash, html, writefile) is dropped.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}
#: `%time x = f()` and `%timeit -n 10 f()`: the statement runs once, as the notebook ran it.
TIMED_STATEMENT = re.compile(r"^\s*%time(?:it)?\s+(?:-[nrp]\s*\d+\s+|-[tcqo]\s+)*(\S.*)$")
MAGIC_LINE = re.compile(r"^(\s*)(%|!|\?)|^\s*[\w.]+\?\??\s*$|^\s*\w+\s*=\s*[%!]")


def ignored(path: Path, readme: bool = True) -> bool:
    """Dotfiles, caches and (`readme`: in the submissions folder itself) the class's README."""
    name = path.name
    return name.startswith(".") or name in IGNORED_FOLDERS or (readme and name.upper().startswith("README"))


def discover(folder: Path) -> list[Path]:
    """One entry per student, sorted by name; dotfiles, `__pycache__` and README* are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionsError(f"submissions folder {folder} does not exist or is not a folder",
                               hint="pass the folder holding one file or folder per student")
    entries = sorted((path for path in folder.iterdir() if not ignored(path)), key=lambda path: path.name)
    seen: dict[str, Path] = {}
    for entry in entries:
        try:
            entry.name.encode("utf-8")
        except UnicodeEncodeError:  # a zip unpacked with CP437 names: the id could not be stored
            shown = os.fsencode(entry.name).decode("utf-8", "backslashreplace")
            raise SubmissionsError(f"{folder / shown}: the name is not UTF-8 text, so it cannot name a student",
                                   hint="rename it (the student's id is the name without .py or .ipynb)") from None
        student = student_id(entry)
        if student in seen:
            raise SubmissionsError(f"two entries for student {student!r}: {seen[student].name} and {entry.name}",
                                   hint="keep one of them (a student's folder or their single file)")
        seen[student] = entry
    return entries


def student_id(entry: Path) -> str:
    """The entry's name without its suffix for a file; a symbolic link is named without
    following it (its target may be any file on the machine, or nothing)."""
    if entry.is_symlink():
        return entry.stem if entry.suffix in CODE_SUFFIXES + WRITE_UP_SUFFIXES else entry.name
    return entry.stem if entry.is_file() else entry.name


def unreadable(entry: Path, message: str, digest: str = "") -> Submission:
    return Submission(student_id=student_id(entry), path=entry, entry=None, kind=None, units=(), texts=(),
                      notes=(), digest=digest, error=ExecutionError("unreadable", message))


def read_text(path: Path, max_bytes: int, python: bool = False) -> str:
    """The text of a file, or ValueError with a message a student understands. UTF-8, except
    Python source that declares its encoding (`# -*- coding: latin-1 -*-`, PEP 263)."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{path.name} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit")
    data = path.read_bytes()
    if b"\0" in data:
        raise ValueError(f"{path.name} is a binary file, not Python source or a notebook")
    encoding = "utf-8-sig"
    if python:
        try:  # the interpreter's own rule: a cookie in the first two lines, a BOM agreeing with it
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError as error:
            if "unknown encoding" in str(error.msg):  # a cookie naming no codec
                raise ValueError(f"{path.name}: {error.msg} (its coding line names no known encoding)") from None
            # Otherwise bytes that are not UTF-8 and no cookie: said below, in the same words as always.
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        declared = "" if encoding.startswith("utf-8") else f" in its declared encoding {encoding}"
        raise ValueError(f"{path.name} is not readable{declared}: not UTF-8 text (byte {error.start}); "
                         "save it as UTF-8") from None


def clean_cell(source: str, label: str, notes: list[str]) -> str | None:
    """A code cell without IPython syntax, its line numbers kept: magics and shell lines become
    `pass` (keeping indentation valid), `%time stmt` keeps its statement, a Python cell magic
    (`%%time`) keeps the cell's code, any other cell magic drops the cell. None when nothing is left."""
    stripped = source.lstrip()
    if stripped.startswith("%%"):
        magic = stripped[2:].split(None, 1)[0] if len(stripped) > 2 else ""
        if magic not in PYTHON_CELL_MAGICS:
            notes.append(f"{label}: skipped a %%{magic} cell (not Python: it does not run when grading)")
            return None
        notes.append(f"{label}: ran the cell's code without its %%{magic} line")
        leading = source[: len(source) - len(stripped)].count("\n")
        body = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        source = "\n" * (leading + 1) + body  # line numbers stay those of the notebook
    lines = []
    for number, line in enumerate(source.splitlines(), start=1):
        indent = line[: len(line) - len(line.lstrip())]
        timed = TIMED_STATEMENT.match(line)
        if timed:
            notes.append(f"{label}, line {number}: ran `{line.strip()[:60]}` once, without timing it")
            lines.append(indent + timed.group(1))
        elif MAGIC_LINE.match(line):
            what = ("a shell command" if re.match(r"\s*(\w+\s*=\s*)?!", line) else
                    "IPython help" if line.rstrip().endswith("?") else "an IPython magic")
            notes.append(f"{label}, line {number}: skipped `{line.strip()[:60]}` ({what}: it does nothing when grading)")
            lines.append(indent + "pass")
        else:
            lines.append(line)
    return "\n".join(lines)


def is_text(source: object) -> bool:
    """A cell source as nbformat writes it: a string or a list of strings."""
    return isinstance(source, str) or (isinstance(source, list) and all(isinstance(line, str) for line in source))


def blank_non_text_sources(text: str, notes: list[str]) -> str:
    """The notebook's JSON with every cell source that is not text emptied, and a note each.

    nbformat either crashes on such a cell (`["x = 1", 3]` fails its line joining, losing the
    whole notebook) or keeps it (`12` became the code "12"); a hand-edited or generated
    notebook deserves its other cells graded and a word about the broken one."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: '[' * 100000, nested too deep
        return text  # nbformat words the JSON error itself
    if not isinstance(data, dict):
        return text
    if isinstance(data.get("cells"), list):
        cells = data["cells"]
    else:  # nbformat 3: cells inside worksheets, code in "input"
        worksheets = data.get("worksheets")
        cells = [cell for sheet in worksheets if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list)
                 for cell in sheet["cells"]] if isinstance(worksheets, list) else []
    changed = False
    for position, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict):
            continue
        for key in ("source", "input"):
            if key in cell and not is_text(cell[key]):
                notes.append(f"cell {position}: its source is not text; skipped")
                cell[key], changed = "", True
    return json.dumps(data) if changed else text


def read_notebook(path: Path, max_bytes: int) -> tuple[list[SourceUnit], list[str], list[str]]:
    """Code cells (as units, labelled by position in the notebook), markdown texts, notes."""
    units: list[SourceUnit] = []
    texts: list[str] = []
    notes: list[str] = []
    text = blank_non_text_sources(read_text(path, max_bytes), notes)
    try:
        # nbformat warns on stderr (MissingIDFieldWarning for every old notebook without cell
        # ids, validation and upgrade warnings) in the middle of the grader's progress output;
        # none is the student's fault or the instructor's business.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(text, as_version=4, capture_validation_error={})
    except Exception as error:  # nbformat raises NotJSONError, ValueError, KeyError, ...
        raise ValueError(f"{path.name} is not a readable notebook: {str(error)[:200]}") from None
    for position, cell in enumerate(notebook.get("cells", []), start=1):
        source = cell.get("source", "")
        label = f"cell {position}"
        if not is_text(source):  # emptied above already; kept so nothing non-text is ever run
            continue
        source = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "markdown":
            texts.append(source)
        elif cell.get("cell_type") == "code" and source.strip():
            cleaned = clean_cell(source, label, notes)
            if cleaned is not None and cleaned.strip():
                units.append(SourceUnit(label, cleaned))
    return units, texts, notes


#: Code larger than this is scanned line by line for top-level names, not parsed: `ast` of a
#: 4.8 MB module of `x=1` lines took 25 s and 2.7 GB of the grader's memory.
MAX_PARSED_CHARACTERS = 200_000
TOP_LEVEL_NAME = re.compile(r"^(?:async[ \t]+def|def|class)[ \t]+(\w+)|^(\w+)[ \t]*=(?!=)", re.MULTILINE)


def defined_names(units: list[SourceUnit]) -> set[str]:
    """Top-level function (and assigned) names in the units; cells that do not parse count nothing."""
    names: set[str] = set()
    for unit in units:
        if len(unit.code) > MAX_PARSED_CHARACTERS:
            names.update(first or second for first, second in TOP_LEVEL_NAME.findall(unit.code))
            continue
        try:
            tree = ast.parse(unit.code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # the last two: '+1' * 200000 or '-' * 100000, nested beyond the parser
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


def read_file(path: Path, max_bytes: int) -> tuple[str, list[SourceUnit], list[str], list[str]]:
    if path.suffix == ".ipynb":
        units, texts, notes = read_notebook(path, max_bytes)
        return "notebook", units, texts, notes
    if path.suffix == ".py":
        return "module", [SourceUnit(path.name, read_text(path, max_bytes, python=True))], [], []
    if path.suffix.lower() in WRITE_UP_SUFFIXES:
        return "write-up", [], [read_text(path, max_bytes)], []
    raise ValueError(f"{path.name} is neither a Python module (.py), a notebook (.ipynb) nor a write-up (.md)")


def load(entry: Path, max_bytes: int = 5_000_000, *, interface: Collection[str] = INTERFACE_NAMES) -> Submission:
    """Read one student's entry; unreadable input gives `Submission.error`, never an exception."""
    # Absolute from here on: `grader check .` must name the student after the folder (not ""),
    # and the sandbox, which works in its own temp folder, must not resolve "." against it.
    entry = Path(entry).absolute()
    digest = ""
    if entry.is_symlink():
        # Never followed: `alice.py -> /etc/passwd` (or -> another student's work) would be read
        # here, outside the sandbox, and its text graded and shown in reports.
        return unreadable(entry, f"{entry.name} is a symbolic link; submissions must be real files")
    try:
        # Before reading: a file changed in between is then graded newer than its digest, and
        # the next run regrades it; the other way round it would keep a stale grade.
        digest = copied_digest(entry)
        if entry.is_file():
            kind, units, texts, notes = read_file(entry, max_bytes)
            notes = [f"graded {entry.name}"] + notes
            graded = entry
            names = [entry.name] * len(texts) if kind == "write-up" else [f"markdown cell {n}" for n in range(1, len(texts) + 1)]
        elif entry.is_dir():
            graded, kind, units, texts, notes, names = load_folder(entry, max_bytes, interface)
        else:
            return unreadable(entry, f"{entry.name} is neither a file nor a folder")
    except (OSError, ValueError) as error:
        return unreadable(entry, str(error), digest)
    except (RecursionError, MemoryError):  # read in the grader's process: it must not stop the run
        return unreadable(entry, f"{entry.name} is nested too deeply or too large to read (a JSON "
                          "array in 100,000 brackets, an expression of 200,000 terms)", digest)
    return Submission(student_id=student_id(entry), path=entry, entry=graded, kind=kind,  # type: ignore[arg-type]
                      units=tuple(units), texts=capped_texts(texts), notes=capped_notes(notes),
                      digest=digest, text_names=tuple(names[:len(capped_texts(texts))]))


#: Written text kept per submission (markdown cells, .md and .txt files), and notes about it.
#: Written answers are pages; a student's 20 MB of markdown took seconds and a gigabyte to
#: split into lines in the grader, and a notebook of a million magic lines made a million notes.
MAX_TEXT_CHARACTERS = 1_000_000
MAX_NOTES = 50


def capped_texts(texts: list[str]) -> tuple[str, ...]:
    """The texts in order, cut where they pass `MAX_TEXT_CHARACTERS` in all."""
    kept: list[str] = []
    room = MAX_TEXT_CHARACTERS
    for text in texts:
        if room <= 0:
            break
        kept.append(text[:room])
        room -= len(text)
    return tuple(kept)


def capped_notes(notes: list[str]) -> tuple[str, ...]:
    """The first `MAX_NOTES` notes, then how many more there were."""
    if len(notes) <= MAX_NOTES:
        return tuple(notes)
    return tuple(notes[:MAX_NOTES]) + (f"... and {len(notes) - MAX_NOTES:,} more notes like these",)


def load_folder(folder: Path, max_bytes: int, interface: Collection[str]):
    """Choose the graded file of a folder, and read its written answers."""
    files = sorted(path for path in folder.rglob("*") if path.is_file() and not path.is_symlink()
                   and not any(ignored(Path(part), readme=False) for part in path.relative_to(folder).parts))
    notes: list[str] = []
    candidates = []
    texts: list[str] = []
    text_names: list[str] = []
    total = 0
    for path in files:
        relative = path.relative_to(folder)
        total += path.stat().st_size
        if total > 4 * max_bytes:
            raise ValueError(f"folder {folder.name} holds more than {4 * max_bytes / 1e6:.0f} MB")
        if path.suffix in CODE_SUFFIXES:
            try:
                kind, units, cell_texts, cell_notes = read_file(path, max_bytes)
            except ValueError as error:
                notes.append(f"ignored {relative}: {error}")
                continue
            names = defined_names(units)
            score = len(names & set(interface))
            # A tie (none defines an interface name) goes to the file of near names
            # (softmax_fn, count_cnn_parameters), not to helpers.py for coming first.
            # At most 200 names: a module of 100,000 assignments must not cost seconds here.
            near = sum(1 for name in sorted(names - set(interface))[:200]
                       if near_names.is_near(name, tuple(interface)))
            candidates.append((-score, -near, str(relative), path, kind, units, cell_texts, cell_notes))
        elif path.suffix.lower() in (".md", ".txt"):
            try:
                texts.append(read_text(path, max_bytes))
                text_names.append(str(relative))
            except ValueError as error:
                notes.append(f"ignored {relative}: {error}")
    if not candidates and any(name.lower().endswith(WRITE_UP_SUFFIXES) for name in text_names):
        notes.insert(0, "graded the write-up " + ", ".join(text_names) + " (no .py or .ipynb file)")
        return folder, "write-up", [], texts, notes, text_names
    if not candidates:
        raise ValueError(f"folder {folder.name} holds no readable .py or .ipynb file")
    candidates.sort(key=lambda candidate: candidate[:3])
    score, _, graded_name, path, kind, units, cell_texts, cell_notes = candidates[0]
    others = ", ".join(str(candidate[2]) for candidate in candidates[1:])
    notes.insert(0, f"graded {graded_name} (defines {-score} interface function(s))" + (f"; ignored {others}" if others else ""))
    cell_names = [f"{graded_name} markdown cell {n}" for n in range(1, len(cell_texts) + 1)]
    return path, kind, units, cell_texts + texts, notes + cell_notes, cell_names + text_names
