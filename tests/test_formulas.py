"""Formula answers (grader/formulas): finding, reading, bounded evaluation, grading, review.

The corpus (fixtures/formulas/corpus.toml) is graded on a real student's cases through the
same checking, diagnosis and scoring as code; the seed write-up is found and graded from its
formulas alone; hostile formulas end within their bounds with a reason.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import reference
from grader.stages import cases, checking, diagnosis
from grader.formulas import grading, worker
from grader.formulas.finding import Found, Piece, find
from grader.formulas.grammar import FormulaError, parse
from grader.formulas.mathml import to_mathml
from grader.formulas.reading import read
from grader.formulas.settings import SettingsError, default_settings, with_overrides
from grader.models import ProblemKey, Verdict
from grader.stages.pipeline import written_verdict
from grader.rubric import Rubric, default_rubric_path, load_rubric
from grader.stages.submissions import load

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "fixtures" / "formulas" / "corpus.toml"
SEED = ROOT / "submissions" / "write_up_markdown_only" / "homework-writeup.md"
PROBLEM_IDS = ("p1", "p2", "p3a", "p3b", "p3c")


@lru_cache(maxsize=1)
def rubric() -> Rubric:
    return load_rubric(default_rubric_path())


@lru_cache(maxsize=None)
def key_for(problem_id: str, student: str = "formula_corpus_student") -> ProblemKey:
    policy = rubric().problem(problem_id)
    return cases.build_key(reference.PROBLEMS[problem_id], policy, rubric().conventions, student_id=student,
                           seed=2026_1204)


def grade_texts(entries: Sequence[tuple[str, str]], settings_override: dict[str, Any] | None = None) -> list[Verdict]:
    """Grade (problem id, written answer) pairs in one worker call, as the pipeline does."""
    jobs = []
    for index, (problem_id, text) in enumerate(entries):
        settings = default_settings(problem_id)
        assert settings is not None
        if settings_override:
            settings = with_overrides(settings, settings_override)
        jobs.append({"problem_id": f"{index}", "pieces": [text], "spec": worker.spec_data(settings.spec),
                     "cases": [worker.plain_case(case.arguments) for case in grading.formula_key(key_for(problem_id)).cases]})
    results = worker.run_jobs(jobs)
    verdicts = []
    for index, (problem_id, text) in enumerate(entries):
        key = grading.formula_key(key_for(problem_id))
        found = Found(problem_id, (Piece("", "corpus", index + 1, text),), True)
        answer = grading.written_answer(key, found, results[f"{index}"])
        policy = rubric().problem(problem_id)
        if answer.outcome is None:
            verdicts.append(written_verdict(policy, key, checking.check(key, key_outcome_placeholder(key)), diagnosis.Diagnosis(), answer))
            continue
        check = checking.check(key, answer.outcome)
        verdicts.append(written_verdict(policy, key, check, diagnosis.diagnose(key, check), answer))
    return verdicts


def key_outcome_placeholder(key: ProblemKey) -> Any:
    from grader.models import ProblemOutcome
    return ProblemOutcome(key.problem_id, None, ())


def corpus() -> list[dict[str, Any]]:
    return tomllib.loads(CORPUS.read_text(encoding="utf-8"))["answer"]


@lru_cache(maxsize=1)
def corpus_verdicts() -> tuple[Verdict, ...]:
    return tuple(grade_texts([(entry["problem"], entry["text"]) for entry in corpus()]))


# --------------------------------------------------------------------------- the corpus


def test_corpus_is_large_and_varied() -> None:
    entries = corpus()
    assert len(entries) >= 40
    notations = {entry["notation"] for entry in entries}
    assert {"latex", "plain", "x-notation", "lost-superscript", "cases", "prose-cases", "matrix",
            "vector-dots", "unicode", "unreadable"} <= notations
    assert {entry["problem"] for entry in entries} == set(PROBLEM_IDS)


@pytest.mark.parametrize("index", range(len(corpus())))
def test_corpus_answer_gets_its_verdict(index: int) -> None:
    entry = corpus()[index]
    verdict = corpus_verdicts()[index]
    described = f"{entry['problem']} {entry['text']!r}: {verdict.status} {verdict.misconceptions} {verdict.explanation} {verdict.notes}"
    assert verdict.status == entry["verdict"], described
    assert set(verdict.misconceptions) == set(entry.get("misconceptions", ())), described
    assert verdict.formula is not None
    if verdict.status == "review":
        # Never a guessed zero: no score, and the raw text, the reason (and the best reading) kept.
        assert verdict.score == 0.0 and verdict.formula.reason and verdict.formula.raw == entry["text"]


def test_a_lossy_reading_that_matches_nothing_goes_to_review_not_incorrect() -> None:
    """The same wrong formula, written with and without a lost superscript: only the guess is review."""
    guessed, written = grade_texts([("p1", "(3N2+1)h + (L-1)(h2+h) + (h+1)n + 1"),
                                    ("p1", "(3N^2+1)h + (L-1)(h^2+h) + (h+1)n + 1")])
    assert guessed.status == "review" and "N2 as N^2" in guessed.formula.reason  # type: ignore[union-attr]
    assert written.status == "incorrect"


def test_a_rubric_alias_teaches_the_reader_a_notation() -> None:
    """S for softmax output is unreadable by default; the rubric's alias `S = "p"` makes it correct."""
    default, taught = grade_texts([("p3b", r"S_i(\delta_{ij} - S_j)")]), grade_texts(
        [("p3b", r"S_i(\delta_{ij} - S_j)")], {"aliases": {"S": "p"}})
    assert default[0].status == "review" and "'S'" in default[0].formula.reason  # type: ignore[union-attr]
    assert taught[0].status == "correct" and "read S as p" in taught[0].notes


def test_overflow_misconceptions_do_not_apply_to_formulas() -> None:
    """The naive softmax formula is the softmax: 50-digit evaluation never overflows on 757."""
    key = key_for("p3a")
    assert any("naive-exp-overflow" in combination for combination in key.combinations)
    assert not any("naive-exp-overflow" in combination for combination in grading.formula_key(key).combinations)
    assert any(np.isclose(case.arguments["z"], 757).any() for case in key.cases)  # type: ignore[union-attr]
    [verdict] = grade_texts([("p3a", r"\frac{e^{z_i}}{\sum_j e^{z_j}}")])
    assert verdict.status == "correct"


# --------------------------------------------------------------------------- reading


def spec(problem_id: str):  # type: ignore[no-untyped-def]
    settings = default_settings(problem_id)
    assert settings is not None
    return settings.spec


def test_case_matters_and_pi_is_p_sub_i() -> None:
    """N and n stay distinct (converters that lowercase merge them); Pi is p_i, not π nor P·i."""
    reading = read("3N + n", spec("p1"))
    assert "<mi>N</mi>" in to_mathml(reading.tree) and "<mi>n</mi>" in to_mathml(reading.tree)
    assert "read Pi as p_i" in [note.text for note in read("Pi - Yi", spec("p3c")).notes]


def test_every_liberty_is_noted() -> None:
    notes = {note.text: note.lossy for note in read(r"J = \frac{e^{Z_i}}{\sum_{i=1}^k e^{Z_k}} \quad for all i", spec("p3a")).notes}
    assert notes["the sum runs over i but its body uses k: read it as a sum over k"] is True
    assert any(text.startswith("dropped the trailing text") for text in notes)
    assert any(text.startswith("read the right-hand side") for text in notes)
    assert read("3N2 h", spec("p1")).lossy


def test_mathml_escapes_what_the_student_wrote() -> None:
    """A word in the formula reaches the page only as escaped text inside MathML elements."""
    with pytest.raises(FormulaError):
        read("<script>alert(1)</script>", spec("p1"))
    assert grading.SAFE_MATHML.fullmatch(to_mathml(read(r"\sum_{l=1}^{L} h^2 + n", spec("p1")).tree))
    assert not grading.SAFE_MATHML.fullmatch('<math><img src=x onerror="alert(1)"></math>')


# --------------------------------------------------------------------------- hostile formulas

HOSTILE = {
    "power tower": (r"10^{10^{10}}", "2^4,096"),
    "huge factorial": (r"(10^{10})!", "factorial"),
    "huge power": ("9^{99999}", "2^4,096"),
    "deep brackets": ("(" * 900 + "N" + ")" * 900, "nested 900 deep"),
    "5,000-deep brackets": ("(" * 5000 + "N" + ")" * 5000, "characters long"),
    "huge input": ("N+" * 100_000 + "N", "characters long"),
    "huge literal": ("1" * 500, "500 digits"),
    "many nodes": ("-".join(["N"] * 700), "parts"),
    "long chain": ("/".join(["N"] * 990), "parts"),
    "deep negation": ("-" * 999 + "N", "nested too deeply"),
    "long sum": (r"\sum_{i=1}^{1000000000} i", "is not computed"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_formula_ends_within_bounds_with_a_reason(name: str) -> None:
    text, reason = HOSTILE[name]
    [verdict] = grade_texts([("p1", text)])
    assert verdict.status == "review"
    assert reason in verdict.formula.reason, verdict.formula.reason  # type: ignore[union-attr]


def test_hostile_softmax_formula_ends_within_bounds() -> None:
    [verdict] = grade_texts([("p3a", r"e^{10^{10^{10}}}")])
    assert verdict.status == "review" and "beyond the bounds" in verdict.formula.reason  # type: ignore[union-attr]


def test_a_worker_that_overruns_is_stopped_and_only_its_formula_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process bound itself: a wall clock too short for any reading stops the worker, and the
    retry one job at a time names the reason for each formula instead of stopping the run."""
    jobs = [{"problem_id": "p1", "pieces": ["N"], "spec": worker.spec_data(spec("p1")), "cases": [{"N": 2, "L": 1, "h": 1, "n": 1}]}]
    answers = worker.run_jobs(jobs, wall_seconds=0.01)
    assert "wall-clock" in answers["p1"]["failure"]


def test_the_worker_has_rlimits() -> None:
    """Memory is bounded in the worker: a job that allocates past the limit dies there."""
    import subprocess
    import sys
    code = ("from grader.formulas.worker import limit_process; limit_process(); "
            "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_CPU)[0])")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(output[0]) == worker.MEMORY_BYTES and int(output[1]) == worker.CPU_SECONDS


def test_parse_has_no_evaluation() -> None:
    """Parsing a power tower builds a tree and computes nothing (sympy's parsers hang here)."""
    tree = parse(r"10^{10^{10^{10}}}")
    assert tree is not None


# --------------------------------------------------------------------------- finding


def seed_found(problem_id: str) -> Found:
    settings = default_settings(problem_id)
    assert settings is not None
    headings = [default_settings(other).heading for other in PROBLEM_IDS]  # type: ignore[union-attr]
    return find(settings, [SEED.read_text(encoding="utf-8")], ["homework-writeup.md"], headings)


def test_the_seed_answers_are_found_with_their_lines() -> None:
    assert seed_found("p1").where == "homework-writeup.md line 17"
    pieces = seed_found("p2").pieces
    assert [piece.label for piece in pieces] == ["conv part", "FC part", "output part"]
    assert "n^{(\\circ)}" in pieces[2].raw
    assert "Pi (\\delta ik - Pk)" in seed_found("p3b").pieces[0].raw  # the last display of 3(b), not 3(c)'s
    assert "Pi - Yi" in seed_found("p3c").pieces[0].raw


def test_a_missing_heading_is_a_reason() -> None:
    settings = default_settings("p1")
    assert settings is not None
    assert "no heading" in find(settings, ["just some prose"], ["a.md"]).reason


def test_rubric_formula_settings_are_validated() -> None:
    settings = default_settings("p1")
    assert settings is not None
    with pytest.raises(SettingsError, match="not a variable"):
        with_overrides(settings, {"aliases": {"H": "hidden"}})
    with pytest.raises(SettingsError, match="unknown key"):
        with_overrides(settings, {"markerz": []})
    with pytest.raises(SettingsError, match="code, formula"):
        with_overrides(settings, {"prefer": "both"})


# --------------------------------------------------------------------------- the pipeline


def test_a_markdown_file_is_a_write_up_submission(tmp_path: Path) -> None:
    entry = tmp_path / "seed_writeup.md"
    entry.write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    submission = load(entry)
    assert submission.error is None and submission.kind == "write-up" and not submission.units
    assert submission.student_id == "seed_writeup" and submission.text_names == ("seed_writeup.md",)


def test_seed_write_up_graded_from_its_formulas_alone(tmp_path: Path) -> None:
    from grader.stages.pipeline import Grader, Settings

    entry = tmp_path / "seed_writeup.md"
    entry.write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    with Grader(Settings(rubric_path=default_rubric_path())) as grader:
        result = grader.grade(entry)
    verdicts = {verdict.problem_id: verdict for verdict in result.verdicts}
    assert verdicts["p1"].misconceptions == ("input-as-layer",)
    assert set(verdicts["p2"].misconceptions) == {"conv-ignores-input-channels", "flatten-is-filter-params",
                                                  "fc-no-bias", "fc-F-minus-2", "fc-weights-linear-in-h",
                                                  "output-no-bias"}
    assert verdicts["p3b"].status == "correct" and verdicts["p3c"].status == "correct"
    assert all(verdict.formula is not None for verdict in result.verdicts)
    assert verdicts["p1"].formula.where == "seed_writeup.md line 17"  # type: ignore[union-attr]


def test_code_counts_where_a_submission_has_both(tmp_path: Path) -> None:
    """A folder with code and a write-up: the code's verdict by default, the formula's when the
    rubric says `prefer = "formula"`."""
    from grader.stages.pipeline import Grader, Settings

    folder = tmp_path / "both"
    folder.mkdir()
    (folder / "answers.md").write_text("# Problem 1\n\nFinal formula: $$3N^2 + Lh + n$$\n", encoding="utf-8")
    (folder / "solution.py").write_text(
        "def mlp_params(N, L, h, n):\n    return (3*N*N + 1)*h + (L - 1)*(h + 1)*h + (h + 1)*n\n", encoding="utf-8")
    with Grader(Settings(rubric_path=default_rubric_path(), only=("p1",))) as grader:
        code = grader.grade(folder).verdicts[0]
    assert code.status == "correct" and code.formula is None
    rubric_text = default_rubric_path().read_text(encoding="utf-8").replace(
        "[problems.p1.cases]", '[problems.p1.formula]\nprefer = "formula"\n\n[problems.p1.cases]')
    rubric_path = tmp_path / "prefer_formula.toml"
    rubric_path.write_text(rubric_text, encoding="utf-8")
    with Grader(Settings(rubric_path=rubric_path, only=("p1",))) as grader:
        written = grader.grade(folder).verdicts[0]
    assert written.status == "incorrect" and written.formula is not None


def test_review_is_shown_distinctly_in_results_csv_and_dashboard(tmp_path: Path) -> None:
    from grader.models import RunSummary, SubmissionResult
    from grader.outputs.reports.exports import write_grades_csv, write_results_json
    from grader.outputs.reports.html import render_site
    from grader.outputs.reports.serialize import verdict_from_data, verdict_to_data

    [review, correct] = grade_texts([("p1", "the number of weights"), ("p3c", "p - y")])
    result = SubmissionResult("writer", (review, correct))
    assert verdict_from_data(verdict_to_data(review)) == review
    summary = RunSummary(rubric={}, seed=1, results=(result,))
    write_results_json(summary, tmp_path / "results.json")
    assert '"status": "review"' in (tmp_path / "results.json").read_text(encoding="utf-8")
    write_grades_csv(summary, tmp_path / "grades.csv")
    assert "writer,review," in (tmp_path / "grades.csv").read_text(encoding="utf-8")
    render_site(summary, tmp_path / "site")
    page = (tmp_path / "site" / "students" / "writer.html").read_text(encoding="utf-8")
    assert "Needs review" in page and "<math" in page and "the number of weights" in page
    assert "Needs review" in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert result.total == 10.0  # the review problem is not scored



def test_symbolic_equality_is_shown_as_evidence(tmp_path: Path) -> None:
    """sympy's word beside the verdict: equal for a right formula, the difference for a wrong one."""
    entry = tmp_path / "writer.md"
    entry.write_text("# Problem 1\n\nFinal formula: $(3N^2+1)h + (L-2)(h^2+h) + (h+1)n$\n\n"
                     "# Problem 3(b)\n\nFinal answer: $\\mathrm{diag}(p) - pp^T$\n", encoding="utf-8")
    from grader.stages.pipeline import Grader, Settings

    with Grader(Settings(rubric_path=default_rubric_path(), only=("p1", "p3b"))) as grader:
        p1, p3b = grader.grade(entry).verdicts
    assert p1.misconceptions == ("input-as-layer",)
    assert p1.formula is not None and "differs" in p1.formula.symbolic and "h*(h + 1)" in p1.formula.symbolic
    assert p3b.status == "correct" and p3b.formula is not None
    assert p3b.formula.symbolic == "sympy: equal to the answer's closed form"


def test_no_written_answer_is_missing_beside_code_and_review_in_a_write_up(tmp_path: Path) -> None:
    """A code submission's prose with no formula leaves the code's `missing`; a write-up that
    never answers a problem goes to a person, with the reason."""
    from grader.stages.pipeline import Grader, Settings

    with Grader(Settings(rubric_path=default_rubric_path(), only=("p2",))) as grader:
        notebook = grader.grade(ROOT / "submissions" / "syntax_error_in_cell.ipynb").verdicts[0]
        entry = tmp_path / "only_p1.md"
        entry.write_text("# Problem 1\n\nFinal formula: $(3N^2+1)h$\n", encoding="utf-8")
        write_up = grader.grade(entry).verdicts[0]
    assert notebook.status == "missing"
    assert write_up.status == "review" and "no heading" in write_up.formula.reason  # type: ignore[union-attr]


def test_notebook_markdown_cells_answer_what_the_code_does_not(tmp_path: Path) -> None:
    """A notebook whose code defines mlp_params only: 3(b) comes from its markdown cell."""
    import nbformat
    from grader.stages.pipeline import Grader, Settings

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("def mlp_params(N, L, h, n):\n    return (3*N*N + 1)*h + (L - 1)*(h + 1)*h + (h + 1)*n"),
        nbformat.v4.new_markdown_cell("## Problem 3(b)\n\nThe Jacobian:\n\n$$J = \\mathrm{diag}(p) - pp^T$$"),
    ]
    entry = tmp_path / "mixed.ipynb"
    entry.write_text(nbformat.writes(notebook), encoding="utf-8")
    with Grader(Settings(rubric_path=default_rubric_path(), only=("p1", "p3b"))) as grader:
        p1, p3b = grader.grade(entry).verdicts
    assert p1.status == "correct" and p1.formula is None
    assert p3b.status == "correct" and p3b.formula is not None and "markdown cell 1" in p3b.formula.where


def test_a_wrong_formula_table_in_a_rubric_names_its_key(tmp_path: Path) -> None:
    from grader.errors import RubricError

    text = default_rubric_path().read_text(encoding="utf-8").replace(
        "[problems.p1.cases]", '[problems.p1.formula]\naliases = { H = "hidden" }\n\n[problems.p1.cases]')
    path = tmp_path / "bad_alias.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RubricError, match=r"problems\.p1\.formula\.aliases\.H.*not a variable of p1"):
        load_rubric(path)


def test_a_hostile_formula_reaches_the_page_as_text(tmp_path: Path) -> None:
    from grader.models import RunSummary, SubmissionResult
    from grader.outputs.reports.html import render_site

    [verdict] = grade_texts([("p1", "<script>alert(1)</script> + N")])
    render_site(RunSummary(rubric={}, seed=1, results=(SubmissionResult("mallory", (verdict,)),)), tmp_path)
    page = (tmp_path / "students" / "mallory.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_a_person_decides_an_answer_awaiting_review_until_the_answer_changes(tmp_path: Path) -> None:
    """grade -> p2 unreadable (review) -> `report --manual` awards 7/15 -> counted, shown as
    partial with the person's note; a rerun keeps it; a changed file drops it with a note."""
    import csv
    import json

    from click.testing import CliRunner

    from grader.commands.cli import main
    from grader.commands.runs import run_class
    from grader.stages.pipeline import Settings

    submissions, out = tmp_path / "class", tmp_path / "out"
    submissions.mkdir()
    write_up = submissions / "writer.md"
    p1 = "# Problem 1\n\nFinal formula: $$(3N^2 + 1)h + (L-1)(h^2 + h) + (h+1)n$$\n\n"
    write_up.write_text(p1 + "# Problem 2\n\nFinal formula: $$\\text{weights of every layer}$$\n", encoding="utf-8")
    settings = Settings(rubric_path=default_rubric_path(), only=("p1", "p2"))

    def graded() -> tuple[dict[str, Any], dict[str, str]]:
        [submission] = json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]
        with (out / "grades.csv").open(newline="", encoding="utf-8") as handle:
            [row] = list(csv.DictReader(handle))
        return {problem["id"]: problem for problem in submission["problems"]} | {"total": submission["total"]}, row

    run_class(submissions, out, settings, jobs=1)
    problems, row = graded()
    assert (problems["p1"]["status"], problems["p2"]["status"], row["p2"], row["total"]) == ("correct", "review", "review", "10")

    points = tmp_path / "points.csv"
    points.write_text("student_id,item_id,points,comment\nwriter,p1,3,\n", encoding="utf-8")
    refused = CliRunner().invoke(main, ["report", str(out), "--manual", str(points)])
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    assert "row 2: p1 was graded automatically for writer; only a problem awaiting review takes manual points" \
        in " ".join(refused.output.split())
    points.write_text("student_id,item_id,points,comment\nwriter,p2,7,counts the weights but not the biases\n",
                      encoding="utf-8")
    reported = CliRunner().invoke(main, ["report", str(out), "--manual", str(points)])
    assert reported.exit_code == 0, reported.output
    problems, row = graded()
    note = "Points awarded by a person after review: 7 of 15 (counts the weights but not the biases)"
    assert (problems["p2"]["status"], problems["p2"]["score"], row["p2"], row["total"]) == ("partial", 7.0, "7", "17")
    assert note in problems["p2"]["notes"] and problems["total"] == 17.0
    # The answer the person read stays beside the points.
    assert problems["p2"]["formula"]["raw"] == "$$\\text{weights of every layer}$$"
    assert note in (out / "students" / "writer.html").read_text(encoding="utf-8")

    run_class(submissions, out, settings, jobs=1)  # a rerun regrades nothing and keeps the decision
    problems, row = graded()
    assert (problems["p2"]["status"], row["total"]) == ("partial", "17")

    write_up.write_text(p1 + "# Problem 2\n\nFinal formula: $$\\text{parameters of every layer}$$\n", encoding="utf-8")
    run_class(submissions, out, settings, jobs=1)
    problems, row = graded()
    assert (problems["p2"]["status"], row["p2"], row["total"]) == ("review", "review", "10")
    assert problems["p2"]["notes"][-1] == ("Points a person awarded after review (7 of 15) were dropped: "
                                           "the submission changed since it was read")
