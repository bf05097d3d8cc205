"""Grade many submissions at once: a local process pool (the default) or a Dask cluster.

Each worker process builds one `Grader` (one sandbox zygote plus the loaded answer key) the
first time it sees a `Settings`, keeps it for every later submission, and sends results back
as plain data (`grader/stages/workers.py`: the task a worker runs).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from grader.errors import SandboxError, UsageError
from grader.models import GradingFault, SubmissionResult
from grader.stages.workers import close_graders, fault_data, from_data, grade_entry, grade_shipped, read_entry_files, start_worker

if TYPE_CHECKING:
    from grader.stages.pipeline import Settings
    from grader.sandbox.template import ZygoteTemplate

__all__ = ["DaskExecutor", "Executor", "LocalExecutor", "make_executor", "read_entry_files"]

#: Tasks kept in flight per worker: enough to hide the round trip, few enough that memory
#: stays flat however large the class (a 50,000-entry class never holds 50,000 futures).
IN_FLIGHT_PER_WORKER = 4

# --------------------------------------------------------------------------- executors


class Executor(Protocol):
    """Grades many submissions; yields each result as soon as it is ready."""

    def grade(self, settings: Settings, entries: Iterable[Path]) -> Iterator[SubmissionResult | GradingFault]:
        """Results in completion order, one per entry (a fault where the grader failed on it)."""
        ...

    def close(self) -> None:
        """Release workers and their sandboxes."""
        ...


class LocalExecutor:
    """A pool of `jobs` worker processes on this machine, each with its own Grader.

    A hanging submission holds one worker for its timeout; the others keep grading.
    """

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise UsageError(f"--jobs must be at least 1, not {jobs}")
        self.jobs = jobs
        self._pool: ProcessPoolExecutor | None = None
        self._pool_settings: Settings | None = None
        self._template: ZygoteTemplate | None = None

    def _ensure_pool(self, settings: Settings) -> ProcessPoolExecutor:
        if self._pool is not None and self._pool_settings == settings:
            return self._pool
        self._close_pool()
        # Never "fork": the parent may hold torch's thread pool or a loaded answer key, and a
        # forked child inherits both (a deadlock on torch's locks, the key in a worker's
        # memory). forkserver forks from a clean exec'd server, spawn execs each worker.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self._pool = ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=context,
            initializer=start_worker,
            initargs=(os.getpid(),),
        )
        self._pool_settings = settings
        return self._pool

    def grade(self, settings: Settings, entries: Iterable[Path]) -> Iterator[SubmissionResult | GradingFault]:
        """Results in completion order; jobs=1 grades in this process, without a pool."""
        if self.jobs == 1:
            for entry in entries:  # through the workers' own task, faults and errors alike
                yield from_data(grade_entry(settings, Path(entry)))
            return
        if self._template is None:
            # One torch import forked into every worker's zygote, instead of one per worker.
            from grader.sandbox import zygote_environment
            from grader.sandbox.template import ZygoteTemplate

            self._template = ZygoteTemplate(zygote_environment())
        settings = replace(settings, zygote_template=self._template.address)
        pool = self._ensure_pool(settings)
        pending: set[Future[dict[str, Any]]] = set()
        limit = self.jobs * IN_FLIGHT_PER_WORKER
        try:
            for entry in entries:
                pending.add(pool.submit(grade_entry, settings, Path(entry)))
                if len(pending) >= limit:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    yield from (from_data(future.result()) for future in done)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (from_data(future.result()) for future in done)
        except BrokenProcessPool as error:
            # A worker died outside the sandbox (the machine's OOM killer, a signal): a fault
            # of the machine or the grader, never of one student, whose code runs in a child.
            self.close()
            raise SandboxError(
                "a grading worker process died unexpectedly",
                hint="check the system log for the OOM killer; rerun `grader run` to resume",
            ) from error
        finally:
            for future in pending:
                future.cancel()

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._pool_settings = None

    def close(self) -> None:
        """Shut the pool down (each worker closes its Grader and zygote as it exits), then the
        template the zygotes were forked from."""
        self._close_pool()
        if self._template is not None:
            self._template.close()
            self._template = None
        if self.jobs == 1:
            close_graders()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskExecutor:
    """The same grading over a Dask cluster; each Dask worker process keeps its own Graders.

    The rubric (and, unless `ship_files`, each submission) must be readable by every worker at
    the same path: a shared filesystem. With `ship_files=True` the client reads each
    submission and sends its bytes with the task, so only the rubric must be shared.
    """

    def __init__(self, address: str, *, ship_files: bool = False) -> None:
        try:
            from distributed import Client
        except ImportError as error:
            raise UsageError(
                "--scheduler needs Dask, which is not installed",
                hint="pip install 'grader[cluster]'",
            ) from error
        self.address = address
        self.ship_files = ship_files
        try:
            self._client = Client(address)
        except OSError as error:
            raise UsageError(
                f"cannot reach the Dask scheduler at {address}: {error}",
                hint="start one with `dask scheduler` and workers with `dask worker ADDRESS`",
            ) from error

    def _submit(self, settings: Settings, entry: Path) -> Any:
        if self.ship_files:
            return self._client.submit(
                grade_shipped, settings, read_entry_files(entry), entry.absolute(), pure=False
            )
        # Absolute, because a worker's working folder is not the client's.
        return self._client.submit(grade_entry, settings, entry.absolute(), pure=False)

    def grade(self, settings: Settings, entries: Iterable[Path]) -> Iterator[SubmissionResult | GradingFault]:
        """Results in completion order; at most a few tasks per worker thread in flight."""
        from distributed import as_completed

        threads = sum(self._client.nthreads().values()) or 1
        limit = threads * IN_FLIGHT_PER_WORKER
        iterator = iter(entries)
        entries_of: dict[str, Path] = {}

        def submit(entry: Path) -> Any:
            future = self._submit(settings, entry)
            entries_of[future.key] = entry
            return future

        first = [submit(Path(entry)) for _, entry in zip(range(limit), iterator)]
        completed = as_completed(first)
        for future in completed:
            entry = entries_of.pop(future.key)
            try:
                data = future.result()
            except Exception as error:  # KilledWorker, a task that raised: this entry's, not the run's
                data = fault_data(entry, error, f"the Dask task of {entry} failed: {error!r}")
            future.release()  # the client stores results only until they are read
            yield from_data(data)
            following = next(iterator, None)
            if following is not None:
                completed.add(submit(Path(following)))

    def close(self) -> None:
        """Disconnect from the cluster (the workers, and their Graders, stay up)."""
        self._client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(jobs: int, scheduler: str | None) -> LocalExecutor | DaskExecutor:
    """The executor `grader run` asked for: Dask when a scheduler address is given, else local.

    `jobs` 0 means one worker per CPU this process may use.
    """
    if scheduler:
        return DaskExecutor(scheduler)
    if jobs == 0:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return LocalExecutor(jobs)
