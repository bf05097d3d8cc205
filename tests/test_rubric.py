"""The rubric loader: the default rubric loads, and every kind of typo names file, key, value and a fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.errors import RubricError
from grader.models import Limits
from grader.stages.precision import PRECISIONS
from grader.rubric import default_rubric_path, load_rubric, validate_rubric
from reference import PROBLEMS

DEFAULT = default_rubric_path().read_text()
#: The commented-out precision line of each array problem in the default rubric.
PER_PROBLEM_PRECISION = '# precision = "float64"   # this problem only; the top-level precision otherwise'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "course.toml"
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> RubricError:
    with pytest.raises(RubricError) as caught:
        load_rubric(write(tmp_path, text))
    return caught.value


def test_the_default_rubric_loads_with_every_catalog_id_priced() -> None:
    rubric = load_rubric(default_rubric_path())
    assert [problem.problem_id for problem in rubric.problems] == ["p1", "p2", "p3a", "p3b", "p3c"]
    assert [item.item_id for item in rubric.manual] == ["p3a-proof"]
    for problem in rubric.problems:
        assert set(problem.misconceptions) == {entry.id for entry in PROBLEMS[problem.problem_id].catalog}
        assert all(0 <= policy.deduction < 1 for policy in problem.misconceptions.values())
        assert problem.points > 0 and problem.function == PROBLEMS[problem.problem_id].function
    assert rubric.limits == Limits() and rubric.device == "auto" and len(rubric.digest) == 64
    data = rubric.to_data()
    assert json.loads(json.dumps(data)) == data and data["total_points"] == 55
    # The rubric may be published: it carries no seed (the course secret is a file of its own).
    assert "seed" not in rubric.raw and "seed" not in data and rubric.legacy_seed is None


def test_validate_summarises_the_rubric() -> None:
    lines = validate_rubric(default_rubric_path())
    assert "valid" in lines[0] and any(line.strip().startswith("p2 ") and "cnn_params" in line for line in lines)


@pytest.mark.parametrize(("change", "key", "words"), [
    (("[problems.p1]\n", "[problems.p1]\npionts = 3\n"), "problems.p1.pionts", 'did you mean "points"'),
    (('fc-F-minus-2 = { deduction = 0.15 }', 'fc-F-minus2 = { deduction = 0.15 }'),
     "problems.p2.misconceptions.fc-F-minus2", 'did you mean "fc-F-minus-2"'),
    (("[problems.p3c]\n", "[problems.p3d]\n"), "problems.p3d", 'did you mean "p3c"'),
    (("points = 10\nfunction = \"mlp_params\"", "points = \"ten\"\nfunction = \"mlp_params\""),
     "problems.p1.points", "expected a number, got 'ten'"),
    (("input-as-layer = { deduction = 0.3 }", "input-as-layer = { deduction = 1.5 }"),
     "problems.p1.misconceptions.input-as-layer.deduction", "1.5 is out of range"),
    (('padding = "same"', 'padding = "sam"'), "conventions.padding", 'did you mean "same"'),
    (("timeout_seconds = 5.0", "timeout_secs = 5.0"), "limits.timeout_secs", 'did you mean "timeout_seconds"'),
    (("n = [1, 20]", "n = [20, 1]"), "problems.p1.domain.n", "low bound is above"),
    (("N = [2, 64]", "NN = [2, 64]"), "problems.p1.domain.NN", 'did you mean "N"'),
    (('aliases = ["count_mlp_params"', 'aliases = ["count mlp params"'), "problems.p1.aliases",
     "not a Python function name"),
    (("hidden = 20", "hidden = true"), "problems.p1.cases.hidden", "expected a whole number, got True"),
    (("schema_version = 1", "schema_version = 2"), "schema_version", "not supported"),
    # Each of these passed, then graded every student wrongly, or stopped the run as a "bug":
    (("timeout_seconds = 5.0", "timeout_seconds = inf"), "limits.timeout_seconds", "out of range"),
    (("memory_mib = 2048", "memory_mib = 99999999999999"), "limits.memory_mib", "out of range"),
    (("hidden = 20\nstress = true", "hidden = 0\nstress = false"), "problems.p1.cases", "no case would be checked"),
    (('function = "softmax_jacobian"', 'function = "softmax"'), "problems.p3b.function", "also a name of p3a"),
    (("[manual.p3a-proof]", "[manual.p3a]"), "manual.p3a", "not a problem's id"),
    (("N = [4, 96]\nL = [1, 4]", "N = [4, 5]\nL = [4, 4]"), "problems.p2.domain", "no case can be drawn"),
    (("points = 10\nfunction", "pionts = 10\nfunction"), "problems.p1.pionts", 'did you mean "points"'),
    (("[problems.p3b]\n", "[problems.p3B]\n"), "problems.p3B", 'did you mean "p3b"'),
    (("N = [2, 64]", "N = [3000000000, 3000000000]"), "problems.p1.domain", "past the 9.2e18"),
    (("k = [1, 7]", "k = [2, 2]"), "problems.p2.domain", "no case can be drawn"),  # drew k = 1 before
])
def test_each_kind_of_typo_names_file_key_value_and_fix(tmp_path: Path, change: tuple[str, str],
                                                        key: str, words: str) -> None:
    old, new = change
    assert old in DEFAULT
    error = error_for(tmp_path, DEFAULT.replace(old, new, 1))
    message = str(error)
    assert "course.toml" in message and key in message and words in message, message


def test_broken_toml_and_missing_files_are_rubric_errors(tmp_path: Path) -> None:
    assert "not valid TOML" in str(error_for(tmp_path, "schema_version = = 1"))
    with pytest.raises(RubricError, match="cannot read"):
        load_rubric(tmp_path / "absent.toml")


def test_a_disabled_problem_is_left_out_and_can_be_enabled(tmp_path: Path) -> None:
    text = DEFAULT.replace("[problems.p2-torch]\nenabled = false", "[problems.p2-torch]\nenabled = true", 1)
    rubric = load_rubric(write(tmp_path, text))
    assert "p2-torch" in [problem.problem_id for problem in rubric.problems]
    assert rubric.problem("p2-torch").domain["N"] == (4.0, 48.0)


def test_unlisted_misconceptions_take_the_default_deduction(tmp_path: Path) -> None:
    text = DEFAULT.replace("grayscale-input = { deduction = 0.25 }\n", "", 1).replace(
        "[problems.p1]\n", "[problems.p1]\ndefault_deduction = 0.4\n", 1)
    rubric = load_rubric(write(tmp_path, text))
    assert rubric.problem("p1").misconceptions["grayscale-input"].deduction == 0.4
    assert rubric.problem("p1").misconceptions["input-as-layer"].deduction == 0.3


def test_feedback_overrides_and_conventions_are_read(tmp_path: Path) -> None:
    text = DEFAULT.replace('padding = "same"', 'padding = "literal"').replace(
        "targets_sum_to_one = true", "targets_sum_to_one = false").replace(
        "output-no-bias = { deduction = 0.1 }", 'output-no-bias = { deduction = 0.1, feedback = "Biases!" }')
    rubric = load_rubric(write(tmp_path, text))
    assert rubric.conventions.padding == "literal" and not rubric.conventions.targets_sum_to_one
    assert rubric.problem("p2").misconceptions["output-no-bias"].feedback == "Biases!"


@pytest.mark.parametrize("original, replacement, complaint", [
    (PER_PROBLEM_PRECISION, "tolerance = [nan, 1e-9]", "finite"),
    ("h = [1, 256]", "h = [1.5, 256]", "whole numbers"),
    ("N = [2, 64]", "N = [0, 0]", "at least 1"),
])
def test_a_domain_or_tolerance_that_cannot_work_is_refused(tmp_path: Path, original: str, replacement: str,
                                                          complaint: str) -> None:
    text = default_rubric_path().read_text()
    assert original in text
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace(original, replacement, 1))
    with pytest.raises(RubricError) as raised:
        load_rubric(broken)
    assert "broken.toml" in str(raised.value) and complaint in str(raised.value)


def test_degenerate_networks_may_be_drawn_once_the_convention_allows_them(tmp_path: Path) -> None:
    text = default_rubric_path().read_text()
    lowered = text.replace("L = [1, 6]", "L = [0, 6]", 1)
    refused = tmp_path / "refused.toml"
    refused.write_text(lowered)
    with pytest.raises(RubricError, match="allow_degenerate"):
        load_rubric(refused)
    allowed = tmp_path / "allowed.toml"
    allowed.write_text(lowered.replace("allow_degenerate = false", "allow_degenerate = true", 1))
    assert load_rubric(allowed).problem("p1").domain["L"] == (0, 6)


def test_a_rubric_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "course.toml"
    path.write_bytes(b"\xef\xbb\xbf" + DEFAULT.encode())  # Windows editors add one
    assert load_rubric(path).to_data() | {"path": "", "digest": ""} == \
        load_rubric(default_rubric_path()).to_data() | {"path": "", "digest": ""}


def test_mistakes_in_several_tables_are_reported_together(tmp_path: Path) -> None:
    text = (DEFAULT.replace('padding = "same"', 'padding = "sam"', 1)
            .replace("timeout_seconds = 5.0", "timeout_secs = 5.0", 1)
            .replace('points = 10\nfunction = "mlp_params"', 'points = "ten"\nfunction = "mlp_params"', 1))
    message = str(error_for(tmp_path, text))
    assert message.count("\n  - ") == 3 and "3 mistakes" in message
    for key, words in (("conventions.padding", 'did you mean "same"'), ("limits.timeout_secs", "timeout_seconds"),
                       ("problems.p1.points", "expected a number, got 'ten'")):
        assert key in message and words in message, message



def test_packages_a_rubric_adds_must_be_installed(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, 'packages = ["click", "jinja2"]\n' + DEFAULT))
    assert rubric.packages == ("click", "jinja2") and rubric.to_data()["packages"] == ["click", "jinja2"]
    assert load_rubric(default_rubric_path()).packages == ()
    error = error_for(tmp_path, 'packages = ["scipi"]\n' + DEFAULT)
    assert error.key == "packages" and "'scipi' is not an installed package" in str(error)
    assert 'did you mean "scipy"' in str(error) and "course.toml" in str(error)
    error = error_for(tmp_path, 'packages = ["scikit-learn"]\n' + DEFAULT)
    assert error.key == "packages" and "sklearn, not scikit-learn" in str(error)


def test_near_name_and_imported_deductions_are_read_with_defaults_of_none(tmp_path: Path) -> None:
    default = load_rubric(default_rubric_path()).problem("p3a")
    assert (default.near_name_deduction, default.imported_deduction) == (0.0, 0.0)
    text = DEFAULT.replace("[problems.p3a]\n", "[problems.p3a]\nnear_name_deduction = 0.1\nimported_deduction = 1\n")
    changed = load_rubric(write(tmp_path, text)).problem("p3a")
    assert (changed.near_name_deduction, changed.imported_deduction) == (0.1, 1.0)
    error = error_for(tmp_path, DEFAULT.replace("[problems.p3a]\n", "[problems.p3a]\nimported_deduction = 2\n"))
    assert error.key == "problems.p3a.imported_deduction" and "out of range" in str(error)


# --------------------------------------------------------------------------- precision


def test_the_default_precision_is_float32_and_a_problem_may_ask_for_float64(tmp_path: Path) -> None:
    rubric = load_rubric(default_rubric_path())
    for problem_id in ("p3a", "p3b", "p3c"):
        assert rubric.problem(problem_id).precision == "float32"
        assert rubric.problem(problem_id).tolerance == PRECISIONS["float32"]
    strict = load_rubric(write(tmp_path, DEFAULT.replace(
        PER_PROBLEM_PRECISION, 'precision = "float64"', 1)))
    assert strict.problem("p3a").tolerance == PRECISIONS["float64"]
    assert strict.problem("p3b").precision == "float32"
    everywhere = load_rubric(write(tmp_path, DEFAULT.replace('\nprecision = "float32"', '\nprecision = "float64"', 1)))
    assert {everywhere.problem(p).precision for p in ("p3a", "p3b", "p3c")} == {"float64"}
    assert everywhere.to_data()["problems"][3]["precision"] == "float64"


@pytest.mark.parametrize("original, replacement, key, words", [
    ('\nprecision = "float32"', '\nprecision = "float46"', "precision", 'did you mean "float64"'),
    (PER_PROBLEM_PRECISION, 'precision = "flaot32"', "problems.p3a.precision",
     'did you mean "float32"'),
    (PER_PROBLEM_PRECISION, 'precision = "float64"\ntolerance = [1e-6, 1e-9]',
     "problems.p3a.tolerance", "not both"),
    ('[problems.p1]\n', '[problems.p1]\nprecision = "float64"\n', "problems.p1.precision", "compared exactly"),
])
def test_precision_mistakes_are_named(tmp_path: Path, original: str, replacement: str, key: str, words: str) -> None:
    assert original in DEFAULT
    message = str(error_for(tmp_path, DEFAULT.replace(original, replacement, 1)))
    assert f"{key}:" in message and words in message, message


def test_a_tolerance_so_loose_that_a_catalogued_mistake_passes_is_refused(tmp_path: Path) -> None:
    # At rtol 0.3 a Jacobian's diagonal alone passes for the whole matrix on every shared case.
    text = DEFAULT.replace("[problems.p3b.cases]", "tolerance = [0.3, 0.3]\n\n[problems.p3b.cases]", 1)
    message = str(error_for(tmp_path, text))
    assert "problems.p3b.tolerance" in message and "diagonal-only" in message and "graded right" in message
