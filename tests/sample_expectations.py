"""What grading `submissions/` under the default rubric must give, derived by hand from PROBLEMS.md.

Student ids are the sample names without their extension (a folder's name for a folder). Each
problem maps to (status, misconception ids). Every non-hostile sample was also checked by
importing it and comparing its functions with the formulas of PROBLEMS.md written
independently; the hostile ones were never run outside a sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping

Expectation = tuple[str, frozenset[str]]

#: The automatically graded problems of the default rubric.
PROBLEM_IDS: tuple[str, ...] = ("p1", "p2", "p3a", "p3b", "p3c")

CORRECT: Expectation = ("correct", frozenset())
INCORRECT: Expectation = ("incorrect", frozenset())
MISSING: Expectation = ("missing", frozenset())
ERROR: Expectation = ("error", frozenset())


def partial(*misconceptions: str) -> Expectation:
    """A named misconception combination; the default deductions are below 1, so "partial"."""
    return ("partial", frozenset(misconceptions))


def _student(**overrides: Expectation) -> dict[str, Expectation]:
    """Every problem correct except the ones named (keyword `p3a` etc.)."""
    unknown = set(overrides) - set(PROBLEM_IDS)
    if unknown:
        raise KeyError(f"not a problem id: {sorted(unknown)}")
    return {problem_id: overrides.get(problem_id, CORRECT) for problem_id in PROBLEM_IDS}


NAIVE = "naive-exp-overflow"

#: The seed write-up's answers: input-as-layer, the six Problem 2 ids, and a naive softmax
#: reused in 3(b) and 3(c). Its 3(c) is p − y, right under the default rubric but NaN on the
#: stress logits because p comes from the naive softmax.
_WRITE_UP = _student(
    p1=partial("input-as-layer"),
    # Six deductions add up past the problem's points and floor at zero: named, but no credit.
    p2=("incorrect", frozenset({"conv-ignores-input-channels", "flatten-is-filter-params", "fc-no-bias",
                                "fc-F-minus-2", "fc-weights-linear-in-h", "output-no-bias"})),
    p3a=partial(NAIVE), p3b=partial(NAIVE), p3c=partial(NAIVE),
)

_SINGLE_MISTAKES: dict[str, dict[str, Expectation]] = {
    # Problem 1
    "mistake_p1_input_as_layer": _student(p1=partial("input-as-layer")),
    "mistake_p1_extra_hidden_transition": _student(p1=partial("extra-hidden-transition")),
    "mistake_p1_input_no_bias": _student(p1=partial("input-no-bias")),
    "mistake_p1_hidden_no_bias": _student(p1=partial("hidden-no-bias")),
    "mistake_p1_output_no_bias": _student(p1=partial("output-no-bias")),
    "mistake_p1_grayscale_input": _student(p1=partial("grayscale-input")),
    "mistake_p1_unsquared_input": _student(p1=partial("unsquared-input")),
    # Problem 2
    "mistake_p2_conv_ignores_input_channels": _student(p2=partial("conv-ignores-input-channels")),
    "mistake_p2_first_conv_uses_d": _student(p2=partial("first-conv-uses-d")),
    "mistake_p2_conv_no_bias": _student(p2=partial("conv-no-bias")),
    "mistake_p2_flatten_is_filter_params": _student(p2=partial("flatten-is-filter-params")),
    "mistake_p2_flatten_ignores_pooling": _student(p2=partial("flatten-ignores-pooling")),
    # Only a literal-padding rubric shows it: under "same" padding N / 2^L is right.
    "mistake_p2_same_size_for_any_k": _student(),
    "mistake_p2_fc_F_minus_2": _student(p2=partial("fc-F-minus-2")),
    "mistake_p2_fc_weights_linear_in_h": _student(p2=partial("fc-weights-linear-in-h")),
    "mistake_p2_fc_no_bias": _student(p2=partial("fc-no-bias")),
    "mistake_p2_output_no_bias": _student(p2=partial("output-no-bias")),
    # Problem 3(a); 3(b) and 3(c) use the student's own stable softmax
    "mistake_3a_naive_exp_overflow": _student(p3a=partial(NAIVE)),
    "mistake_3a_linear_normalisation": _student(p3a=partial("linear-normalisation")),
    "mistake_3a_no_normalisation": _student(p3a=partial("no-normalisation")),
    "mistake_3a_log_softmax_returned": _student(p3a=partial("log-softmax-returned")),
    "mistake_3a_sigmoid_instead": _student(p3a=partial("sigmoid-instead")),
    # Problem 3(b)
    "mistake_3b_naive_exp_overflow": _student(p3b=partial(NAIVE)),
    "mistake_3b_sign_flipped": _student(p3b=partial("sign-flipped")),
    "mistake_3b_off_diagonal_sign": _student(p3b=partial("off-diagonal-sign")),
    "mistake_3b_diagonal_only": _student(p3b=partial("diagonal-only")),
    "mistake_3b_logits_for_probs": _student(p3b=partial("logits-for-probs")),
    # Problem 3(c)
    "mistake_3c_naive_exp_overflow": _student(p3c=partial(NAIVE)),
    "mistake_3c_sign_flipped": _student(p3c=partial("sign-flipped")),
    "mistake_3c_forgot_softmax": _student(p3c=partial("forgot-softmax")),
    "mistake_3c_unnormalised_softmax": _student(p3c=partial("unnormalised-softmax")),
    "mistake_3c_stopped_at_dL_dp": _student(p3c=partial("stopped-at-dL-dp")),
    # p − y: only a rubric whose targets need not sum to one shows it.
    "mistake_3c_assumes_sum_one": _student(),
}

EXPECTED: dict[str, dict[str, Expectation]] = {
    # correct work in every form the loader and converter must accept
    "ada_lovelace": _student(),
    "grace_hopper": _student(),  # notebook: %matplotlib and !pip lines, stored outputs
    "alan_turing_torch": _student(),  # torch tensors, autograd
    "alias_names_student": _student(),  # count_mlp_params and ce_grad (rubric aliases)
    "integral_floats_and_lists": _student(),  # integral floats for counts, lists for arrays
    # notebooks as students write them: Colab (!pip, drive.mount, %matplotlib, plots, tqdm,
    # display, input()), near names, an imported softmax: each statement costs only itself
    "colab_notebook_with_plots": _student(),
    "renamed_functions": _student(),  # count_cnn_parameters, softmax_fn, ...: near names, graded
    "imports_scipy_softmax": _student(),  # scipy's softmax, graded with a note (imported, not written)
    "float32_torch_student": _student(),  # Problem 3 in torch float32: right at the default precision
    # p1 counted by building nn.Linear layers: right on every case but the N = 224, h = 4096
    # stress case, whose 2.3 GiB first layer the sandbox's memory refuses: a resource limit.
    "p1_counts_by_building_linear_layers": _student(p1=("partial", frozenset())),
    # the seed write-up, as a notebook and as a folder (markdown + solution.py)
    "write_up_student": _WRITE_UP,
    "write_up_student_folder": _WRITE_UP,
    # The same write-up as markdown alone, graded from its formulas (grader/formulas): no
    # code, so no float overflow; 3(a)'s `\sum_{i=1}^k e^{Z_k}` is read as a sum over k.
    "write_up_markdown_only": _student(p1=_WRITE_UP["p1"], p2=_WRITE_UP["p2"]),
    **_SINGLE_MISTAKES,
    # several catalogued mistakes at once
    "combo_p1_forgot_every_bias": _student(
        p1=partial("input-no-bias", "hidden-no-bias", "output-no-bias")),
    "combo_p2_fc_layers_and_3c_sign": _student(
        p2=partial("fc-F-minus-2", "fc-weights-linear-in-h"), p3c=partial("sign-flipped")),
    "combo_p2_conv_no_bias_no_pooling": _student(
        p2=partial("conv-no-bias", "flatten-ignores-pooling", "output-no-bias")),
    "combo_naive_softmax_diagonal_jacobian": _student(
        p3a=partial(NAIVE), p3b=partial(NAIVE, "diagonal-only"), p3c=partial(NAIVE)),
    # wrong in ways the catalog does not name, or broken
    "unexplained_output_counted_twice": _student(p1=INCORRECT),  # output weights counted twice
    "missing_return_mlp": _student(p1=ERROR),  # returns None: an invalid output
    "assumes_batch_softmax": _student(p3a=ERROR, p3b=ERROR, p3c=ERROR),  # AxisError, reused
    "missing_cnn_params": _student(p2=MISSING),
    # The cell defining cnn_params does not compile; the other cells still run, so the
    # function is absent ("missing"), and the load notes say which cell failed.
    "syntax_error_in_cell": _student(p2=MISSING),
    # hostile: each costs only its own problem(s)
    "hostile_endless_softmax": _student(p3a=ERROR),
    "hostile_memory_bomb": _student(p1=ERROR),
    # Fails (error) while the answer key is out of reach; a leak would make p1/p2 "correct".
    "hostile_answer_key_thief": _student(p1=ERROR, p2=ERROR),
    "hostile_prints_50mb": _student(),  # printed output is capped, not fatal
    "hostile_writes_into_submissions": _student(),  # writes land in its private copy only
    "hostile_forged_equality": _student(p1=ERROR),  # an object that is not a number
}

#: The error kind (DESIGN.md) behind each "error" above, where the sample makes it certain.
EXPECTED_ERROR_KINDS: dict[str, dict[str, str]] = {
    "missing_return_mlp": {"p1": "invalid-output"},
    "assumes_batch_softmax": {"p3a": "exception", "p3b": "exception", "p3c": "exception"},
    "hostile_endless_softmax": {"p3a": "timeout"},
    "hostile_memory_bomb": {"p1": "memory"},
    "hostile_answer_key_thief": {"p1": "exception", "p2": "exception"},
    "hostile_forged_equality": {"p1": "invalid-output"},
}

#: The name the report must say was used, where a student used an alias.
EXPECTED_FUNCTIONS: dict[str, dict[str, str]] = {
    "alias_names_student": {"p1": "count_mlp_params", "p3c": "ce_grad"},
    "renamed_functions": {"p2": "count_cnn_parameters", "p3a": "softmax_fn", "p3b": "softmax_jacobian_matrix",
                          "p3c": "crossentropy_grad"},
    "imports_scipy_softmax": {"p3a": "softmax"},
}

#: Students that define the optional `build_cnn` (a rubric with "p2-torch" grades it: correct
#: for these, missing for everyone else).
DEFINES_BUILD_CNN: frozenset[str] = frozenset({"ada_lovelace", "grace_hopper", "alan_turing_torch"})

#: Files a hostile sample tries to plant; none may ever appear in submissions/.
PLANTED_FILES: tuple[str, ...] = ("results.json", "zz_planted_by_hostile_student.py")


def expected_statuses(student_id: str) -> Mapping[str, str]:
    """Problem id -> status for one student, for assertions that ignore misconceptions."""
    return {problem_id: status for problem_id, (status, _) in EXPECTED[student_id].items()}
