"""Time `grader run` on synthetic classes and compare it with nbgrader and Otter-Grader.

    python bench/run.py grader  [--sizes 1000 5000] [--hanging 5] [--jobs N] [--rubric PATH]
    python bench/run.py profile [--size 1000]
    python bench/run.py floor   [--count 200]
    python bench/run.py others  [--count 40]

Every measurement is appended to bench/work/results.jsonl with the machine and the commit.
See bench/README.md; the numbers we got are in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
sys.path.insert(0, str(BENCH))

import others  # noqa: E402
from make_class import make_class  # noqa: E402
from measure import measure  # noqa: E402


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    memory = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip())
    return {"uname": " ".join(platform.uname()), "nproc": os.cpu_count(), "memory": memory.split(":")[1].strip(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": commit + ("+dirty" if dirty else ""), "python": platform.python_version()}


def record(name: str, data: dict[str, object]) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    line = {"benchmark": name, **data, "machine": machine()}
    with open(WORK / "results.jsonl", "a") as results:
        results.write(json.dumps(line) + "\n")
    print(json.dumps({"benchmark": name, **data}, indent=1))


def a_class(size: int, hanging: int = 0) -> Path:
    """The synthetic class of `size` students (cached: it is deterministic from its seed)."""
    folder = WORK / (f"class-{size}" + (f"-hanging-{hanging}" if hanging else ""))
    if not (folder / "manifest.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        make_class(size, folder, hanging=hanging)
    return folder


def grader_command(submissions: Path, out: Path, jobs: int, rubric: Path | None) -> list[str]:
    """`grader run` exactly as a user types it (the console script when installed)."""
    script = ROOT / ".venv" / "bin" / "grader"
    base = [str(script)] if script.exists() else [
        str(ROOT / ".venv" / "bin" / "python"), "-c", "import sys; from grader.commands.cli import main; sys.exit(main())"]
    command = base + ["run", str(submissions), "--out", str(out), "--jobs", str(jobs)]
    return command + (["--rubric", str(rubric)] if rubric else [])


def time_grader(size: int, hanging: int, jobs: int, rubric: Path | None) -> None:
    folder = a_class(size, hanging)
    out = WORK / f"out-{folder.name}"
    shutil.rmtree(out, ignore_errors=True)  # a fresh gradebook: nothing reused from a last run
    result = measure(grader_command(folder / "submissions", out, jobs, rubric), cwd=ROOT,
                     log=WORK / f"log-{folder.name}.txt")
    data = result.as_data()
    data.update(size=size, hanging=hanging, jobs=jobs,
                submissions_per_second=size / result.wall_seconds,
                busy_cpu_ms_per_submission=1000 * result.machine_busy_seconds / size)
    results = out / "results.json"
    if results.exists():
        graded = json.loads(results.read_text())["submissions"]
        data["graded"] = len(graded)
        data["timeouts"] = sum(1 for s in graded for p in s["problems"]
                               if (p.get("error") or {}).get("kind") == "timeout")
        data["timeouts"] += sum(1 for s in graded if (s.get("error") or {}).get("kind") == "timeout")
    record("grader-run", data)


def profile_grader(size: int, jobs: int, rubric: Path | None) -> None:
    """cProfile of the parent process of `grader run` (the workers are profiled by the floor)."""
    import pstats

    folder = a_class(size)
    out = WORK / f"out-profile-{size}"
    shutil.rmtree(out, ignore_errors=True)
    command = grader_command(folder / "submissions", out, jobs, rubric)
    arguments = command[1:] if command[0].endswith("grader") else command[3:]
    profile = WORK / f"profile-{size}.pstats"
    subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "cProfile", "-o", str(profile),
                    "-m", "grader", *arguments], cwd=ROOT, check=False, capture_output=True)
    with open(WORK / f"profile-{size}.txt", "w") as text:
        pstats.Stats(str(profile), stream=text).sort_stats("cumulative").print_stats(40)
    print((WORK / f"profile-{size}.txt").read_text()[:6000])


def time_floor(count: int) -> None:
    import floor

    record("floor", {"count": count, **floor.floors(a_class(1000) / "submissions", count)})


def time_others(count: int) -> None:
    folder = a_class(1000)
    others.ensure_venv()
    course = others.prepare_nbgrader(folder, count)
    result = measure(others.nbgrader_command(course), cwd=course, env=others.environment(),
                     log=WORK / "log-nbgrader.txt")
    scores = others.nbgrader_scores(course)
    record("nbgrader-autograde", {**result.as_data(), "size": count, "graded": len(scores),
                                  "submissions_per_second": count / result.wall_seconds})
    try:
        zip_path = others.prepare_otter()
    except subprocess.CalledProcessError as error:
        record("otter-run", {"error": (error.stderr or b"").decode()[-2000:]})
        return
    paths = sorted((folder / "submissions").iterdir())[:count]
    out = WORK / "otter-out"
    shutil.rmtree(out, ignore_errors=True)
    result = measure(others.otter_script(zip_path, paths, out), env=others.environment())
    graded = sum(1 for path in paths if (out / path.stem / "results.json").exists())
    record("otter-run", {**result.as_data(), "size": count, "graded": graded,
                         "submissions_per_second": count / result.wall_seconds})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("grader", "profile", "floor", "others"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--hanging", type=int, default=5, help="hanging students in the extra class (0: skip)")
    parser.add_argument("--jobs", type=int, default=(os.cpu_count() or 1) + 1,
                        help="grader run's --jobs (default: its own default, CPUs + 1)")
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--rubric", type=Path)
    arguments = parser.parse_args()
    if arguments.what == "grader":
        for size in arguments.sizes:
            time_grader(size, 0, arguments.jobs, arguments.rubric)
        if arguments.hanging:
            time_grader(arguments.sizes[0], arguments.hanging, arguments.jobs, arguments.rubric)
    elif arguments.what == "profile":
        profile_grader(arguments.size, arguments.jobs, arguments.rubric)
    elif arguments.what == "floor":
        time_floor(arguments.count)
    else:
        time_others(arguments.count)


if __name__ == "__main__":
    main()
