"""`python -m bench`: run every benchmark, print one table, write bench/results/latest.json and regenerate
docs/benchmarks.md from it.

    python -m bench [--quick] [--only startup,ddp,jobs,latency,logs,scheduler,serving,kubernetes,cluster]
    python -m bench --docs-only      # regenerate docs/benchmarks.md from bench/results/latest.json

`--only` runs write bench/results/partial.json instead and leave the doc alone. A part that fails shows its
error in its row and the run goes on; the exit status is 1 when a part failed, 0 otherwise (a missed target
is a finding, not a failure of the command).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LATEST = RESULTS / "latest.json"
PARTIAL = RESULTS / "partial.json"
DOCS = ROOT / "docs" / "benchmarks.md"
NOTES = ROOT / "bench" / "notes.md"


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}".strip().rstrip(":")


def run(parts: list[Any], quick: bool, only: list[str]) -> dict[str, Any]:
    from bench import bench_local, figures, machine

    bench_local.compile_bytecode()
    started = datetime.datetime.now(datetime.timezone.utc)
    results: dict[str, Any] = {"command": "python -m bench", "quick": quick, "only": only,
                               "started": started.strftime("%Y-%m-%d %H:%M UTC"), "machine": machine.describe(),
                               "parts": [], "figures": []}
    t0 = time.perf_counter()
    for part in parts:
        print(f"bench: {part.name}: {part.title} ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        error = None
        try:
            got = part.run(quick)
        except Exception as exc:  # one part's failure is one row; the others still run
            error = one_line(exc)
            got = [figures.failure(part.name, part.title, error)]
        seconds = time.perf_counter() - t
        results["parts"].append({"name": part.name, "title": part.title, "about": part.about,
                                 "seconds": round(seconds, 1), "error": error})
        results["figures"] += got
        print(f"bench: {part.name}: {'failed: ' + error if error else 'done'} in {seconds:.0f} s",
              file=sys.stderr, flush=True)
    results["duration_s"] = round(time.perf_counter() - t0, 1)
    results["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["machine"]["loop_ms_end"] = machine.loop_ms()
    return results


def main(argv: list[str] | None = None) -> int:
    from bench import parts as registry
    from bench import report

    ap = argparse.ArgumentParser(prog="python -m bench", description="Run every benchmark of the project and print "
                                 "one table; write bench/results/latest.json and docs/benchmarks.md.")
    ap.add_argument("--only", default="", help=f"comma-separated parts: {','.join(p.name for p in registry.PARTS)}")
    ap.add_argument("--quick", action="store_true", help="fewer runs and jobs: a few minutes in all")
    ap.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone (as --only always does)")
    ap.add_argument("--docs-only", action="store_true", help="regenerate docs/benchmarks.md from latest.json")
    args = ap.parse_args(argv)
    if args.docs_only:
        if not LATEST.is_file():
            print(f"bench: --docs-only: {LATEST.relative_to(ROOT)} does not exist; run python -m bench first",
                  file=sys.stderr)
            return 2
        results = json.loads(LATEST.read_text())
        report.write_docs(results, DOCS, NOTES)
        print(f"wrote {DOCS.relative_to(ROOT)}")
        return 0
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    try:
        chosen = registry.named(only) if only else list(registry.PARTS)
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    results = run(chosen, args.quick, only)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = PARTIAL if only else LATEST  # latest.json (and the doc made from it) always holds a whole run
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    print(f"wrote {out.relative_to(ROOT)}")
    if only or args.no_docs:  # a partial run must not replace the whole doc
        print(f"left {DOCS.relative_to(ROOT)} alone ({'--only' if only else '--no-docs'})")
    else:
        report.write_docs(results, DOCS, NOTES)
        print(f"wrote {DOCS.relative_to(ROOT)}")
    return 1 if any(p["error"] for p in results["parts"]) else 0


if __name__ == "__main__":
    sys.exit(main())
