#!/bin/bash
# What one hostile submission costs the grader's own processes (bench/RESULTS.md).
# usage: bench/hostile_cost.sh LABEL [ATTACKER_PATH...]
# Grades the attacker(s) beside two honest students with `grader run --jobs 1` and prints a
# table row: exit status, wall time, peak RSS of the run, size of results.json.
set -u
label=$1; shift
work=$(cd "$(dirname "$0")" && pwd)/work/hostile
class=$work/$label; rm -rf "$class" "$work/out"; mkdir -p "$class"
root=$(cd "$(dirname "$0")/.." && pwd)
for attacker in "$@"; do cp -r "$attacker" "$class/"; done
cp "$root/tests/fixtures/loading/honest_solution.py" "$class/zed.py"
cp "$root/tests/fixtures/loading/honest_solution.py" "$class/zoe.py"
cd "$root" && /usr/bin/time -f "%e %M" -o "$work/time" .venv/bin/python -m grader run "$class" --out "$work/out" \
    --jobs 1 > "$work/log" 2>&1
rc=$?
read -r wall rss < "$work/time"
size=$(du -k "$work/out/results.json" 2>/dev/null | cut -f1)
echo "| $label | $rc | $wall s | $((rss/1024)) MB | ${size} KiB |"
