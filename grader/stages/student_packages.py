"""The packages a submission may import, and the folders the sandbox must let it read for them.

The course's scientific stack (`OFFERED`) is installed with the grader (pyproject.toml) and a
rubric may add more (`packages = [...]`). None of them is imported by the grader or preloaded
by the sandbox's zygote: a student who imports none of them pays nothing. The Landlock
allow-list gets each package's folders and those of everything it requires, found from the
installed distributions' metadata (importlib.metadata), not by importing anything.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from collections.abc import Iterable
from functools import cache

#: What a course's notebooks import, by the name students write after `import`.
OFFERED = ("scipy", "matplotlib", "pandas", "tqdm", "IPython")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@cache
def top_level_modules() -> dict[str, tuple[str, ...]]:
    """Every importable top-level name an installed distribution provides -> its distributions."""
    return {name: tuple(dict.fromkeys(dists)) for name, dists in importlib.metadata.packages_distributions().items()}


def installed(module: str) -> bool:
    """Whether `import module` can work here (a top-level name; nothing is imported)."""
    if not NAME.match(module):
        return False
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def requirement_names(distribution: importlib.metadata.Distribution) -> list[str]:
    """The distributions `distribution` requires at run time (extras and other platforms left out)."""
    from packaging.requirements import InvalidRequirement, Requirement

    names = []
    for text in distribution.requires or []:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(requirement.name)
    return names


def distribution_folders(distribution: importlib.metadata.Distribution) -> set[str]:
    """The top-level files and folders a distribution installed (`scipy/`, `scipy.libs/`,
    `six.py`, its `.dist-info`), never a path outside its site folder (`../../bin/f2py`)."""
    roots: set[str] = set()
    for file in distribution.files or []:
        first = file.parts[0] if file.parts else ""
        if not first or first in ("..", "__pycache__") or first.startswith("."):
            continue
        roots.add(str(distribution.locate_file(first)))
    return roots


def read_roots(modules: Iterable[str]) -> list[str]:
    """The folders the child must be able to read to import `modules` and what they require."""
    pending = [dist for module in modules for dist in top_level_modules().get(module, ())]
    seen: set[str] = set()
    roots: set[str] = set()
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        roots |= distribution_folders(distribution)
        pending.extend(requirement_names(distribution))
    return sorted(roots)
