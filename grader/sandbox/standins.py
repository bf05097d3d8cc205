"""What a notebook expects around it, made harmless in the sandbox child.

Real notebooks call `display(df)` without importing it, mount Google Drive, draw plots and wrap
loops in tqdm's notebook bars. When grading, none of that may cost a problem: `display` and
IPython's display functions do nothing, matplotlib draws with its non-interactive Agg backend
(`plt.show()` does nothing), `tqdm.notebook` is tqdm's plain bar, and `google.colab` (which
exists only on Colab) imports as a stand-in whose every function does nothing. The packages
themselves are imported only when the student imports them: nothing here loads one.
"""

from __future__ import annotations

import builtins
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

#: Packages that exist only on a notebook platform: imported as stand-ins that do nothing.
PLATFORM_PACKAGES = ("google.colab",)
used: list[str] = []  # the stand-ins this child handed out, for a note


def do_nothing(*arguments: Any, **keywords: Any) -> None:
    """`display(df)`, `clear_output()`, `plt.show()`: output for a person, nothing to grade."""
    return None


class StandIn(types.ModuleType):
    """A module, function and object in one: every attribute is another stand-in, and calling
    one does nothing (`drive.mount("/content/drive")`, `files.upload()`)."""

    def __getattr__(self, name: str) -> StandIn:
        if name.startswith("__"):
            raise AttributeError(name)
        value = StandIn(f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value

    def __call__(self, *arguments: Any, **keywords: Any) -> None:
        return None


def quiet_display(module: types.ModuleType) -> None:
    for name in ("display", "clear_output", "update_display"):
        if hasattr(module, name):
            setattr(module, name, do_nothing)


def plain_tqdm(module: types.ModuleType) -> None:
    """`tqdm.notebook` needs ipywidgets and a browser; its plain bar counts the same loop."""
    from tqdm import std

    module.tqdm = module.tqdm_notebook = std.tqdm  # type: ignore[attr-defined]
    module.trange = module.tnrange = std.trange  # type: ignore[attr-defined]


def quiet_pyplot(module: types.ModuleType) -> None:
    module.show = do_nothing  # type: ignore[attr-defined]


#: Modules adjusted right after the student's import runs them.
AFTER_IMPORT: dict[str, Callable[[types.ModuleType], None]] = {
    "IPython.display": quiet_display, "IPython.core.display_functions": quiet_display,
    "IPython.core.display": quiet_display,
    "tqdm.notebook": plain_tqdm, "matplotlib.pyplot": quiet_pyplot,
}


class AdjustingLoader(importlib.abc.Loader):
    """Runs the real loader, then the adjustment of `AFTER_IMPORT`."""

    def __init__(self, loader: Any, adjust: Callable[[types.ModuleType], None]) -> None:
        self.loader, self.adjust = loader, adjust

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self.loader.exec_module(module)
        self.adjust(module)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ... for tracebacks
        return getattr(self.loader, name)


class Finder(importlib.abc.MetaPathFinder):
    """First on `sys.meta_path`: wraps the loaders of `AFTER_IMPORT`, and hands out stand-ins
    for platform packages that no real finder has."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        platform = any(fullname == name or fullname.startswith(name + ".") for name in PLATFORM_PACKAGES)
        if fullname not in AFTER_IMPORT and not platform and fullname != "google":
            return None
        spec = None if platform else self.outside(fullname, path)
        if spec is not None:
            if fullname in AFTER_IMPORT and spec.loader is not None:
                spec.loader = AdjustingLoader(spec.loader, AFTER_IMPORT[fullname])
            return spec
        if platform or fullname == "google":  # `google` itself only when no real package has it
            if platform and fullname.count(".") == 1:
                used.append(fullname)
            return importlib.util.spec_from_loader(fullname, StandInLoader(), is_package=True)
        return None

    def outside(self, fullname: str, path: Sequence[str] | None) -> importlib.machinery.ModuleSpec | None:
        """The spec the other finders would give (None when the module is not installed)."""
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path)
            if spec is not None:
                return spec
        return None


class StandInLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = StandIn(spec.name)
        module.__path__ = []  # a package: `google.colab.drive` imports through this finder too
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def install(workdir: str) -> None:
    """Before the student's code runs: the finder, a `display` like Jupyter's, matplotlib's
    Agg backend with a writable configuration folder (its font cache) in the child's own folder."""
    sys.meta_path.insert(0, Finder())
    builtins.display = do_nothing  # type: ignore[attr-defined]
    os.environ["MPLBACKEND"] = "Agg"
    if workdir:
        os.environ["MPLCONFIGDIR"] = os.path.join(workdir, ".matplotlib")


def notes() -> list[str]:
    """A note per platform package the submission imported as a stand-in."""
    return [f"{name} exists only on its notebook platform: it was imported as a stand-in whose functions "
            "do nothing (drive.mount, files.upload)" for name in dict.fromkeys(used)]
