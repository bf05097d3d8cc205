"""Formula answers: find, read and evaluate what students write as formulas in a write-up.

finding (where the answer is) -> normalise + grammar (what was written) -> symbols (what it
means in the problem) -> evaluate, in a bounded worker (its value on each case) -> grading
(an outcome like code's, or `review`). mathml shows the reading on the student's page.
"""
