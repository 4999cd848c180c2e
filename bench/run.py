"""`make bench`: direct vs proxy-core vs the full stack, and the data side.

    python bench/run.py                 everything, full size (minutes; run it on a quiet machine)
    python bench/run.py --quick         a short run of everything (a smoke test of the bench)
    python bench/run.py --only core     one part: core, stack or data (repeatable)

Prints a table of figures beside their targets and writes the same figures as JSON to
bench/results/. docs/performance.md explains the method and each figure.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script (`python bench/run.py`): import from the repo
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data_bench, proxy_bench
from bench.procs import start_fake_upstream, start_reference, stop
from bench.report import CpuProbe, table, write_json

PARTS = ("core", "stack", "data")


def run_proxy(parts: list[str], quick: bool, work_dir: Path) -> dict[str, Any]:
    plan = proxy_bench.QUICK if quick else proxy_bench.FULL
    upstream, url = start_fake_upstream(work_dir / "logs")
    try:
        figures = proxy_bench.measure_direct(url, plan)
        reference, reference_url = start_reference(work_dir / "logs", url)
        try:
            figures |= proxy_bench.measure_reference(reference_url, figures, plan)
        finally:
            stop(reference.proc)
        for kind in parts:
            figures |= proxy_bench.measure_proxy(kind, url, figures, work_dir, plan)
        if "core" in parts:
            figures |= proxy_bench.measure_paired(url, work_dir, plan)
        return figures
    finally:
        stop(upstream.proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (seconds per part)")
    parser.add_argument("--only", action="append", choices=PARTS, help="run only this part")
    parser.add_argument("--data-requests", type=int, help="rows to fill for the data part")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    parts = args.only or list(PARTS)
    figures: dict[str, Any] = {}
    started = time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="ccp-bench-"))
    try:
        proxy_parts = [p for p in parts if p != "data"]
        if proxy_parts:
            with CpuProbe() as probe:
                figures |= run_proxy(proxy_parts, args.quick, work_dir)
            figures |= probe.figures("machine.proxy")
        if "data" in parts:
            plan = data_bench.QUICK if args.quick else data_bench.FULL
            if args.data_requests:
                plan = data_bench.DataPlan(
                    args.data_requests, plan.samples, plan.deep_pages, plan.rollup_ticks
                )
            with CpuProbe() as probe:
                figures |= data_bench.measure_data(work_dir, plan)
            figures |= probe.figures("machine.data")
    except Exception as exc:  # the figures so far are still worth printing and keeping
        traceback.print_exc()
        figures["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if args.keep:
            figures["work_dir"] = str(work_dir)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    figures["bench_seconds"] = time.monotonic() - started
    print(table(figures))
    for key in ("core.errors", "stack.errors"):
        if figures.get(key):
            print(f"{key}: {figures[key]}")
    path = write_json(figures, {"quick": args.quick, "parts": parts})
    print(f"\nfigures written to {path}")
    return 1 if "error" in figures else 0


if __name__ == "__main__":
    sys.exit(main())
