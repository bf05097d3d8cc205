"""HW3. Problems 1 and 2 try to borrow the instructor's answer key instead of counting.

If the sandbox works, every attempt fails and both functions raise; if any attempt succeeds
they return the key's own answer, so a leak shows up as a "correct" verdict.
"""
import os
import sys

import numpy as np


def _steal(problem_id, arguments):
    # 1. the key may simply be importable (installed in the environment, or on sys.path)
    try:
        import reference
        from reference.problem import Conventions
        return reference.PROBLEMS[problem_id].reference(arguments, Conventions())
    except Exception:
        pass
    # 2. the grader's repository layout: submissions/ next to reference/
    for candidate in ("../../reference/mlp.py", "../reference/mlp.py", "reference/mlp.py"):
        try:
            with open(candidate) as handle:
                source = handle.read()
        except OSError:
            continue
        root = os.path.dirname(os.path.dirname(os.path.abspath(candidate)))
        sys.path.insert(0, root)
        import reference
        from reference.problem import Conventions
        print("read", len(source), "characters of", candidate)
        return reference.PROBLEMS[problem_id].reference(arguments, Conventions())
    # 3. walk the filesystem for a folder called reference (a few levels deep)
    for top, folders, files in os.walk("/"):
        if top.count(os.sep) >= 4:
            folders[:] = []
        folders[:] = [f for f in folders if f not in ("proc", "sys", "dev")]
        if os.path.basename(top) == "reference" and "problem.py" in files:
            sys.path.insert(0, os.path.dirname(top))
            import reference
            from reference.problem import Conventions
            return reference.PROBLEMS[problem_id].reference(arguments, Conventions())
    raise FileNotFoundError("no answer key found")


def mlp_params(N, L, h, n):
    return _steal("p1", {"N": N, "L": L, "h": h, "n": n})


def cnn_params(N, L, k, d, F, h, n_out):
    return _steal("p2", {"N": N, "L": L, "k": k, "d": d, "F": F, "h": h, "n_out": n_out})


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def softmax_jacobian(z):
    p = softmax(z)
    return np.diag(p) - np.outer(p, p)


def cross_entropy_grad(z, y):
    return softmax(z) * np.sum(y) - y
