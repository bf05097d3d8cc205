"""The course secret: the seed every student's hidden cases are drawn from.

It used to be `seed = 20240901` in the rubric. The case generator ships with the package and a
rubric may be published, so a small or public seed lets a student search seeds until the
public cases match and then compute everyone's hidden cases (issue 11, point 6). The secret
is drawn by `secrets` (256 bits) when a course is set up, kept in a file of its own beside the
rubric (`dl-hw1.toml` -> `dl-hw1.secret`, which the sandbox hides like the rubric), and never
written into the rubric or the public bundle.

Where `grader run` takes it from, first found first:

1. `--seed N`: an explicit seed (to reproduce an old run, or in tests); warned about when
   shorter than 128 bits.
2. `--secret-file PATH`.
3. the environment variable `GRADER_SECRET` (the secret's hex digits).
4. the environment variable `GRADER_SECRET_FILE` (a path).
5. the file beside the rubric, `<rubric name>.secret`.
6. none of these: `grader run` creates 5 (as `grader init-course` does) and says so.

A secret read from a file or `GRADER_SECRET` shorter than 128 bits (32 hex digits) is refused.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError

SECRET_VARIABLE = "GRADER_SECRET"
SECRET_FILE_VARIABLE = "GRADER_SECRET_FILE"
SECRET_SUFFIX = ".secret"
MINIMUM_BITS = 128
GENERATED_BITS = 256
HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")

FILE_HEADER = """\
# The course secret of {rubric}: every student's hidden cases are drawn from it.
# Keep it private: anyone who has it (and the public rubric) can compute every hidden case.
# Never commit it to a repository students can read, nor publish it with the rubric.
# Keep a copy: without it a later run draws other hidden cases and regrades everyone.
# Written by `grader init-course`; a new one: `grader init-course --force`.
"""


@dataclass(frozen=True)
class CourseSecret:
    """The seed a run uses, where it came from, and what the instructor must be told."""

    seed: int
    source: str  # "--seed", "GRADER_SECRET", or the file it was read from
    created: Path | None = None  # the file this call created, if it did
    warnings: tuple[str, ...] = ()


def default_secret_path(rubric_path: Path) -> Path:
    """`rubrics/dl-hw1.toml` -> `rubrics/dl-hw1.secret`."""
    return Path(rubric_path).with_name(Path(rubric_path).stem + SECRET_SUFFIX)


def create_secret(path: Path, rubric_path: Path, *, force: bool = False) -> Path:
    """Write a new random secret to `path` (readable by its owner only); an existing one is
    kept unless `force`: replacing it changes every hidden case."""
    path = Path(path)
    text = FILE_HEADER.format(rubric=Path(rubric_path).name) + secrets.token_hex(GENERATED_BITS // 8) + "\n"
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already holds a course secret; it was kept",
                         hint="--force writes a new one (every student's hidden cases then change)") from None
    except OSError as error:
        raise UsageError(f"cannot write the course secret {path} ({error.strerror})",
                         hint="choose a writable place with --secret-file PATH") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(path, 0o600)  # O_TRUNC keeps an old file's mode
    return path


def parse_secret(text: str, where: str, hint: str = "write a new one with `grader init-course --force`") -> int:
    """The secret's value from its hex digits (lines starting with # are comments); a short
    or malformed one is a UsageError naming `where`."""
    digits = "".join(line.strip() for line in text.splitlines() if not line.strip().startswith("#"))
    if not HEX_DIGITS.fullmatch(digits):
        raise UsageError(f"{where}: a course secret is hexadecimal digits (0-9, a-f), not {digits[:20]!r}",
                         hint=hint)
    bits = 4 * len(digits)
    if bits < MINIMUM_BITS:
        raise UsageError(f"{where}: the course secret has {bits} bits; it needs {MINIMUM_BITS} or more "
                         f"({MINIMUM_BITS // 4} hex digits), or a student can search it from their public cases",
                         hint=hint)
    return int(digits, 16)


def read_secret_file(path: Path, how: str) -> int:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise UsageError(f"{path} (the course secret, from {how}): cannot read it ({reason})",
                         hint="`grader init-course` writes one beside the rubric") from None
    return parse_secret(text, str(path))


def legacy_seed_warning(rubric_path: Path, legacy_seed: int, secret_path: str) -> str:
    """What a rubric that still carries `seed = N` is told, with how to move it."""
    return (f"{rubric_path}: `seed = {legacy_seed}` is ignored. Hidden cases are now drawn from a course "
            f"secret kept out of the rubric ({secret_path}), because a rubric may be published and a "
            "seed in it gives away every hidden case. Delete the line; to grade once more with the "
            f"old cases, pass --seed {legacy_seed}.")


def resolve_secret(rubric_path: Path, *, seed: int | None = None, secret_file: Path | None = None,
                   environ: Mapping[str, str] = os.environ, create: bool = False,
                   legacy_seed: int | None = None) -> CourseSecret:
    """The seed of a run, by the precedence in this module's docstring; `create` writes the
    default file when nothing names a secret, else that is a UsageError."""
    default = default_secret_path(rubric_path)
    warnings: list[str] = []
    if seed is not None:
        value, source = seed, "--seed"
        if seed.bit_length() < MINIMUM_BITS:
            warnings.append(f"--seed {seed} has {seed.bit_length()} bits, under the {MINIMUM_BITS} a course secret "
                            "needs: a student can search it from their public cases. Use it to reproduce an old "
                            "run, never for a class whose rubric or generator students can read.")
    elif secret_file is not None:
        value, source = read_secret_file(secret_file, "--secret-file"), str(secret_file)
    elif environ.get(SECRET_VARIABLE):
        hint = (f"set {SECRET_VARIABLE} to the hex digits of a file `grader init-course --secret-file PATH` "
                "writes, or unset it to use the file beside the rubric")
        value, source = parse_secret(environ[SECRET_VARIABLE], SECRET_VARIABLE, hint), SECRET_VARIABLE
    elif environ.get(SECRET_FILE_VARIABLE):
        path = Path(environ[SECRET_FILE_VARIABLE])
        value, source = read_secret_file(path, SECRET_FILE_VARIABLE), str(path)
    elif default.exists():
        value, source = read_secret_file(default, "beside the rubric"), str(default)
    elif create:
        created = create_secret(default, rubric_path)
        value = read_secret_file(created, "just written")
        if legacy_seed is not None:
            warnings.append(legacy_seed_warning(rubric_path, legacy_seed, str(created)))
        return CourseSecret(value, str(created), created, tuple(warnings))
    else:
        raise UsageError(f"no course secret for {rubric_path}: hidden cases are drawn from one",
                         hint=f"run `grader init-course --rubric {rubric_path}` (it writes {default}), or set "
                              f"{SECRET_VARIABLE} or {SECRET_FILE_VARIABLE}")
    if legacy_seed is not None:
        warnings.append(legacy_seed_warning(rubric_path, legacy_seed, source))
    return CourseSecret(value, source, None, tuple(warnings))


def fingerprint(seed: int) -> str:
    """A short name for a secret that shows which one a run used without revealing it."""
    import hashlib

    return hashlib.sha256(f"grader-course-secret:{seed}".encode()).hexdigest()[:12]
