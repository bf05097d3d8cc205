"""Every test's course secret: a fixed one of its own, never a file in the repository.

Set in the environment, so `grader run` in a subprocess reads it too, and no test writes
`rubrics/dl-hw1.secret` (two suites at once would race to create it; a developer's own
secret would change the sample class's hidden cases). Tests of the secret itself unset it.
"""

import os

#: 256 bits, as `grader init-course` writes; fixed so that hidden cases repeat run to run.
TEST_SECRET = "5eed" * 16

os.environ["GRADER_SECRET"] = TEST_SECRET
os.environ.pop("GRADER_SECRET_FILE", None)
