#!/usr/bin/env python3
"""`make model`: what an import of 100 M and 1 B objects costs in AWS, and how long it
takes, from the figures `make bench` measured (bench/results.json) and AWS's published
prices (us-east-1, on-demand).

Usage: scripts/model.py [--workers N] [--partitions K] [--objects N ...] [--json]

Every input is printed with its source: "measured" (a key of bench/results.json, which
`make bench` writes; without it the model stops and says so), "template"
(infra/template.yaml), "AWS" (a published quota) or "price" (AWS's price pages).

The model, per import of N objects (one row per object; a versioned bucket's extra
rows scale the worker terms):
- Workers decode, sort and stage at `worker_rows_per_second` each (decode and packing
  measured on one core; a 2,048 MB Lambda function has about 1.2 vCPU). W workers run
  at once, but staging is also bounded by the staging table's write throughput:
  write units per entry x entries per second <= the table's limit.
- K partition commits run at once, each over N / K objects at the commit rate measured
  by the scale step (one partition, wall seconds per million objects); the join adds
  a metarange write.
- DynamoDB: staging writes (write units per million entries, measured by the item-size
  rules) and the committers' reads of the same bytes (one read unit per 4 KB, strongly
  consistent); the job and shard items are a few hundred writes, counted.
- S3: a GET per data file and per footer at planning, a PUT and a HEAD per range
  written (N / entries per range), the base tree's ranges read by the next day's diff.
- SQS: one message per shard and per partition, each sent, received and deleted.
- Lambda: GB-seconds of workers and committers, and requests.
"""

import argparse
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"

# AWS's published prices, us-east-1 (pages of Lambda, DynamoDB, S3 and SQS pricing).
PRICES = {
    "lambda_gb_second_arm64": (0.0000133334, "price: Lambda, Arm, first 6 B GB-s per month"),
    "lambda_request": (0.20 / 1e6, "price: Lambda, per request"),
    "dynamodb_write_unit": (0.625 / 1e6, "price: DynamoDB on-demand, per write request unit"),
    "dynamodb_read_unit": (0.125 / 1e6, "price: DynamoDB on-demand, per read request unit"),
    "s3_put": (0.005 / 1000, "price: S3 Standard, PUT/COPY/POST/LIST per request"),
    "s3_get": (0.0004 / 1000, "price: S3 Standard, GET/HEAD per request"),
    "sqs_request": (0.40 / 1e6, "price: SQS standard queue, per request"),
}

# Limits and sizes.
LIMITS = {
    "table_write_units_per_second": (40_000, "AWS: on-demand table default throughput quota, write units/s"),
    "lambda_timeout_seconds": (900, "AWS: Lambda's longest timeout"),
    "worker_gb": (2.0, "template: worker MemorySize 2048"),
    "committer_gb": (2.9375, "template: committer MemorySize 3008"),
    "data_file_rows": (2_500_000, "assumed: rows per S3 Inventory data file"),
    "shard_files": (1, "template: SHARD_TARGET_BYTES of 256 MiB is about one data file"),
}

def measured(results):
    """The model's measured inputs: each (value, source)."""
    out = {}
    stages = results.get("stages", {})
    decode = stages.get("decode", {})
    staging = stages.get("staging", {})

    def take(name, value, source):
        if not value:
            raise SystemExit(f"bench/results.json has no {source or name}: run `make bench` first")
        out[name] = (value, f"measured: {source}")

    take("decode_rows_per_second", decode.get("rows_per_second"), "stages.decode.rows_per_second")
    pack = staging.get("pack_seconds"), staging.get("entries")
    take("pack_seconds_per_million", pack[0] / pack[1] * 1e6 if all(pack) else None,
         "stages.staging.pack_seconds / entries")
    take("write_units_per_million", staging.get("write_units_per_million"),
         "stages.staging.write_units_per_million")
    take("staged_bytes_per_entry", staging.get("bytes_per_entry"), "stages.staging.bytes_per_entry")
    scale = results.get("scale") or []
    single = [(r, run) for r in scale for run in r["runs"] if run["partitions"] == 1]
    if single:
        report, run = max(single, key=lambda pair: pair[0]["objects"])
        millions = report["next_objects"] / 1e6
        take("commit_seconds_per_million", run["seconds"] / millions,
             f"scale, {report['objects']:,} objects, K = 1, wall")
        take("commit_cpu_seconds_per_million", run["cpu_seconds_per_million"],
             f"scale, {report['objects']:,} objects, K = 1, CPU")
        take("entries_per_range", report["next_objects"] / max(1, run["ranges_written"]),
             f"scale, {report['objects']:,} objects, entries per range written")
    else:
        take("commit_seconds_per_million", None, "scale step (K = 1)")
    return out


def model(objects, workers, partitions, m):
    v = {name: value for name, (value, _) in m.items()}
    p = {name: value for name, (value, _) in PRICES.items()}
    lim = {name: value for name, (value, _) in LIMITS.items()}
    millions = objects / 1e6

    # Workers.
    per_worker = 1 / (1 / v["decode_rows_per_second"] + v["pack_seconds_per_million"] / 1e6)
    write_units = v["write_units_per_million"] * millions
    staging_cap = lim["table_write_units_per_second"] / (v["write_units_per_million"] / 1e6)
    files = math.ceil(objects / lim["data_file_rows"])
    shards = math.ceil(files / lim["shard_files"])
    useful_workers = min(workers, shards)
    staging_rate = min(per_worker * useful_workers, staging_cap)
    staging_seconds = objects / staging_rate
    worker_seconds = objects / per_worker
    shard_seconds = lim["data_file_rows"] * lim["shard_files"] / per_worker

    # Committers.
    partition_seconds = (objects / partitions) / 1e6 * v["commit_seconds_per_million"]
    committer_seconds = partition_seconds * partitions
    ranges = objects / v["entries_per_range"]
    staged_bytes = objects * v["staged_bytes_per_entry"]
    read_units = staged_bytes / 4096
    planning_seconds = 5 + files / 32 * 0.05  # manifest, checksum, footers 32 at a time
    join_seconds = 2 + ranges / 50_000
    total_seconds = planning_seconds + staging_seconds + partition_seconds + join_seconds

    gb_seconds = worker_seconds * lim["worker_gb"] + committer_seconds * lim["committer_gb"]
    requests = 1 + shards + partitions
    sqs = 3 * (shards + partitions)
    s3_gets = 2 * files + 2 + ranges  # data files and footers, manifest; base ranges read
    s3_puts = ranges + partitions + 1
    s3_heads = ranges
    job_writes = 10 + 3 * shards + 3 * partitions
    cost = {
        "lambda": gb_seconds * p["lambda_gb_second_arm64"] + requests * p["lambda_request"],
        "dynamodb_writes": (write_units + job_writes) * p["dynamodb_write_unit"],
        "dynamodb_reads": read_units * p["dynamodb_read_unit"],
        "s3": s3_puts * p["s3_put"] + (s3_gets + s3_heads) * p["s3_get"],
        "sqs": sqs * p["sqs_request"],
    }
    return {
        "objects": objects,
        "workers": workers,
        "partitions": partitions,
        "data_files": files,
        "shards": shards,
        "worker_rows_per_second": per_worker,
        "staging_limited_by": "table write units" if staging_cap < per_worker * useful_workers else "workers",
        "seconds": {
            "planning": planning_seconds,
            "staging": staging_seconds,
            "partition_commit": partition_seconds,
            "join": join_seconds,
            "total": total_seconds,
        },
        "shard_seconds": shard_seconds,
        "partition_fits_lambda": partition_seconds < lim["lambda_timeout_seconds"],
        "usage": {
            "lambda_gb_seconds": gb_seconds,
            "lambda_requests": requests,
            "dynamodb_write_units": write_units + job_writes,
            "dynamodb_read_units": read_units,
            "s3_gets": s3_gets + s3_heads,
            "s3_puts": s3_puts,
            "sqs_requests": sqs,
        },
        "cost_usd": cost,
        "total_usd": sum(cost.values()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=400, help="workers at once (default 400)")
    parser.add_argument("--partitions", type=int, default=0,
                        help="partitions of the commit (default: one per 25 M objects)")
    parser.add_argument("--objects", type=float, nargs="*", default=[1e8, 1e9])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    m = measured(results)
    rows = []
    for objects in args.objects:
        k = args.partitions or max(1, math.ceil(objects / 25e6))
        rows.append(model(int(objects), args.workers, k, m))
    if args.json:
        print(json.dumps({"inputs": {k: {"value": v, "source": s} for k, (v, s) in {**m, **PRICES, **LIMITS}.items()},
                          "imports": rows}, indent=2))
        return
    print("Inputs")
    for name, (value, source) in {**m, **LIMITS, **PRICES}.items():
        print(f"  {name:<34} {value:>14,.10g}   {source}")
    print()
    header = f"{'objects':>14} {'workers':>7} {'K':>3} {'staging s':>9} {'commit s':>9} {'total':>8} {'GB-s':>10} {'write units':>13} {'Lambda $':>9} {'DynamoDB $':>10} {'S3 $':>7} {'SQS $':>6} {'total $':>8}"
    print(header)
    for r in rows:
        s, c, u = r["seconds"], r["cost_usd"], r["usage"]
        print(f"{r['objects']:>14,} {r['workers']:>7} {r['partitions']:>3} {s['staging']:>9,.0f} "
              f"{s['partition_commit']:>9,.0f} {s['total'] / 60:>6.1f} m {u['lambda_gb_seconds']:>10,.0f} "
              f"{u['dynamodb_write_units']:>13,.0f} {c['lambda']:>9.2f} "
              f"{c['dynamodb_writes'] + c['dynamodb_reads']:>10.2f} {c['s3']:>7.2f} {c['sqs']:>6.3f} {r['total_usd']:>8.2f}")
    print()
    for r in rows:
        s = r["seconds"]
        goal_time = s["total"] <= 15 * 60
        goal_cost = r["total_usd"] <= 30
        dominant = max(r["cost_usd"], key=r["cost_usd"].get)
        print(f"{r['objects']:,} objects: {s['total'] / 60:.1f} min ({'under' if goal_time else 'OVER'} 15), "
              f"${r['total_usd']:.2f} ({'under' if goal_cost else 'OVER'} $30); staging limited by "
              f"{r['staging_limited_by']}; the largest cost is {dominant.replace('_', ' ')}; "
              f"each partition commit {s['partition_commit']:.0f} s "
              f"({'fits' if r['partition_fits_lambda'] else 'does NOT fit'} Lambda's 900 s)")


if __name__ == "__main__":
    main()
