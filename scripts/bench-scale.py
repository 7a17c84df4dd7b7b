#!/usr/bin/env python3
"""`make bench` (scale step): the partitioned commit on local disk at several sizes.

For each size in BENCH_SCALE_OBJECTS (default "10000000 50000000"), `inventory-import
dev bench-scale` commits a base tree of that many objects, then the next day's objects
(2 % added, 5 % changed, 2 % deleted) with each partition count in BENCH_PARTITIONS
(default "1,2,4"), every partition's commit a process of its own, all started at once.
The join checks the summed counts against what changed. Adds the figures to
bench/results.json under "scale" and prints them beside the targets: peak RSS per
partition commit <= 512 MiB; CPU per million objects within 20 % from the smallest to
the largest size; with 2 partitions, wall time <= 0.6 x one partition's.
"""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "target" / "release" / "inventory-import"
RESULTS = ROOT / "bench" / "results.json"


def main():
    sizes = [int(n) for n in os.environ.get("BENCH_SCALE_OBJECTS", "10000000 50000000").split()]
    partitions = os.environ.get("BENCH_PARTITIONS", "1,2,4")
    reports = []
    for objects in sizes:
        print(f"Partitioned commit, {objects:,} objects, K = {partitions} ...", flush=True)
        out = subprocess.run(
            [str(CLI), "--json", "dev", "bench-scale", "--objects", str(objects),
             "--partitions", partitions, "--dir", str(ROOT / "bench" / "data" / "scale")],
            check=True, capture_output=True, text=True)
        reports.append(json.loads(out.stdout))

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["scale"] = reports
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    print()
    print(f"{'objects':>12} {'K':>3} {'wall s':>8} {'CPU s/M':>8} {'peak RSS MiB':>13} {'ranges read':>12} {'written':>8}")
    for report in reports:
        for run in report["runs"]:
            print(f"{report['objects']:>12,} {run['partitions']:>3} {run['seconds']:>8.1f} "
                  f"{run['cpu_seconds_per_million']:>8.2f} {run['peak_rss_bytes'] / 2**20:>13,.0f} "
                  f"{run['ranges_read']:>12,} {run['ranges_written']:>8,}")
    print()
    peak = max(run["peak_rss_bytes"] for r in reports for run in r["runs"]) / 2**20
    print(f"peak RSS of any partition commit: {peak:,.0f} MiB (target <= 512): {'met' if peak <= 512 else 'NOT met'}")
    single = [next(run for run in r["runs"] if run["partitions"] == 1) for r in reports]
    if len(single) > 1:
        cpu = [run["cpu_seconds_per_million"] for run in single]
        growth = cpu[-1] / cpu[0] - 1
        print(f"CPU per million, K = 1, {reports[0]['objects']:,} -> {reports[-1]['objects']:,}: "
              f"{cpu[0]:.2f} -> {cpu[-1]:.2f} ({growth:+.0%}; target within 20 %): "
              f"{'met' if abs(growth) <= 0.2 else 'NOT met'}")
    for report in reports:
        runs = {run["partitions"]: run for run in report["runs"]}
        if 1 in runs and 2 in runs:
            ratio = runs[2]["seconds"] / runs[1]["seconds"]
            print(f"{report['objects']:,} objects: K = 2 wall / K = 1 wall = {ratio:.2f} "
                  f"(target <= 0.6): {'met' if ratio <= 0.6 else 'NOT met'}")
        for k, run in sorted(runs.items()):
            extra = run["ranges_written"] - runs.get(1, run)["ranges_written"]
            if k > 1:
                print(f"{report['objects']:,} objects, K = {k}: {extra:+} ranges written by the next day's diff "
                      f"against K = 1 (at most {2 * (k - 1)} allowed)")


if __name__ == "__main__":
    main()
