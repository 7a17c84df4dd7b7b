#!/usr/bin/env python3
"""`make bench`: the import's stages, each beside a reference measured in the same run.

1. Inventory decode: rows/s of the core reader, beside pyarrow reading the same
   columns of the same files single-threaded. The same for deliveries in the two
   other formats S3 Inventory writes, gzipped CSV and ORC (`results["formats"]`).
2. Staging: bytes per staged entry and DynamoDB write units, beside one item per object.
3. Committer: merge + diff + tree write of the next inventory's staged entries against
   the previous import's tree, storage on local disk.
4. Dry-run diff through the core library, beside DuckDB's full outer join of the two
   inventories' Parquet files; the counts must agree.
5. End to end on the local stack (moto): wall time from the delivery's notification to
   the commit, and the peak RSS of the trigger, worker and committer processes.
6. The same end-to-end figure at several sizes.

Benchmarks never fail on time; they fail when a result is wrong. Prints a table and
writes bench/results.json. BENCH_OBJECTS sets the size of steps 1-4 (default
1,000,000); BENCH_SCALE the sizes of step 6 (default "100000 1000000"). Steps 1-4 run
in BENCH_REPEAT rounds (default 3), each round ours and then the references on the
same files, so that a shared machine's changes of speed over minutes move both alike.
The best time of each is kept, the same rule for ours and the references', and each
round's own ratio is shown beside it. Within a round, the dry run is tried 3 times in
the `dev bench` process and DuckDB's join 3 times in this one; the first try of the
first round is shown as well.
"""

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "target" / "release" / "inventory-import"
VENV_BIN = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "results.json"


def cli(*args, env=None):
    out = subprocess.run([str(CLI), *args, "--json"], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))


def stages(objects):
    """Steps 1-4 in BENCH_REPEAT rounds. Each round runs `dev bench` and then the
    references on the same files (pyarrow's decode and DuckDB's join, 3 tries each), so
    that a machine which speeds up or slows down over minutes moves ours and the
    references alike. Each step's best round is kept, by the same rule for ours and
    the references'; the ratio of each round is kept too."""
    runs, arrows, ducks, rounds = [], [], [], []
    for _ in range(REPEAT):
        run = cli("dev", "bench", "--objects", str(objects), "--dir", str(ROOT / "bench" / "data" / "stages"))
        previous = [str(p) for p in run["previous"]["data_files"]]
        following = [str(p) for p in run["next"]["data_files"]]
        # `dev bench` keeps the fastest of 3 decoding passes: pyarrow gets as many.
        arrow = min((pyarrow_decode(previous) for _ in range(3)), key=lambda r: r["seconds"])
        # The dry run is tried 3 times in each `dev bench` process: DuckDB's join gets
        # as many tries in this one.
        tries = [duckdb_diff(previous, following) for _ in range(3)]
        for attempt in tries:
            if attempt["counts"] != run["dry_run"]["counts"]:
                sys.exit(f"DuckDB counts {attempt['counts']} differ from the dry run's {run['dry_run']['counts']}")
        duck = dict(min(tries, key=lambda r: r["seconds"]), first_seconds=tries[0]["seconds"])
        runs.append(run)
        arrows.append(arrow)
        ducks.append(duck)
        rounds.append({
            "decode_ratio": run["decode"]["rows_per_second"] / arrow["rows_per_second"],
            "dry_run_ratio": duck["seconds"] / run["dry_run"]["seconds"],
        })
    report = runs[0]
    report["decode"] = max((r["decode"] for r in runs), key=lambda d: d["rows_per_second"])
    report["committer"] = min((r["committer"] for r in runs), key=lambda c: c["seconds"])
    report["dry_run"] = min((r["dry_run"] for r in runs), key=lambda d: d["seconds"])
    # One first try, like DuckDB's: the first process's.
    report["dry_run"]["first_seconds"] = runs[0]["dry_run"]["first_seconds"]
    report["dry_run"]["first_cpu_seconds"] = runs[0]["dry_run"]["first_cpu_seconds"]
    report["runs"] = REPEAT
    arrow = min(arrows, key=lambda r: r["seconds"])
    # The first try is the first round's, for ours and DuckDB's alike.
    duck = dict(min(ducks, key=lambda r: r["seconds"]), first_seconds=ducks[0]["first_seconds"], tries=3 * REPEAT)
    return report, arrow, duck, rounds


def pyarrow_decode(files):
    """pyarrow reads the columns the importer reads, single-threaded."""
    import pyarrow.parquet as pq

    wanted = ["bucket", "key", "version_id", "is_latest", "is_delete_marker", "size",
              "last_modified_date", "e_tag", "storage_class"]
    rows = 0
    started = time.perf_counter()
    for path in files:
        present = set(pq.read_schema(path).names)
        table = pq.read_table(path, columns=[c for c in wanted if c in present], use_threads=False)
        rows += table.num_rows
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}


# The columns the importer reads, in S3 Inventory's names for Parquet and ORC files and
# for CSV fields, with the types they are read as.
READ_COLUMNS = [
    ("bucket", "Bucket", "string"), ("key", "Key", "string"), ("version_id", "VersionId", "string"),
    ("is_latest", "IsLatest", "bool"), ("is_delete_marker", "IsDeleteMarker", "bool"),
    ("size", "Size", "int64"), ("last_modified_date", "LastModifiedDate", "timestamp"),
    ("e_tag", "ETag", "string"), ("storage_class", "StorageClass", "string"),
]


def local_delivery(root, fmt, objects):
    """A delivery of `objects` objects in `fmt` (`csv` or `orc`) on local disk under
    `root`, shaped as step 1's Parquet one (realistic keys, unversioned, rows shuffled,
    2 data files); written by `dev generate-inventory --local-root`, or found from an
    earlier run. Returns the generator's report."""
    record = root / f"{fmt}-{objects}.json"
    if record.exists():
        found = json.loads(record.read_text())
        if all(local_file(root, f).exists() for f in found["data_files"]):
            return found
    generated = cli("dev", "generate-inventory", "--local-root", str(root),
                    "--destination", f"s3://bench-formats/{fmt}-{objects}", "--source-bucket", "bench-source",
                    "--objects", str(objects), "--files", "2", "--format", fmt, "--shuffle",
                    "--created-at", "2026-11-25T01:00:00Z")
    record.write_text(json.dumps(generated))
    return generated


def local_file(root, url):
    """Where `--local-root` keeps s3://bucket/key."""
    return root / url.removeprefix("s3://")


def our_format_decode(root, manifest):
    """`inspect` of the local delivery: the time spent decoding its data files one after
    the other, without fetching them or verifying their MD5."""
    report = cli("inspect", manifest, "--local-root", str(root))
    return {"rows": report["rows"], "seconds": report["decode_seconds"],
            "rows_per_second": report["rows"] / report["decode_seconds"]}


def pyarrow_format_decode(fmt, files, schema):
    """pyarrow reads the columns the importer reads, single-threaded: CSV with the
    manifest's fields as column names and the importer's types (keys stay URL-encoded:
    pyarrow does not decode them), ORC with the same columns projected."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.orc as orc

    types = {"string": pa.string(), "bool": pa.bool_(), "int64": pa.int64(),
             "timestamp": pa.timestamp("ms", tz="UTC")}
    rows = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    for path in files:
        if fmt == "csv":
            wanted = {field: types[kind] for _, field, kind in READ_COLUMNS if field in schema}
            table = pcsv.read_csv(
                path,
                read_options=pcsv.ReadOptions(column_names=schema, use_threads=False),
                convert_options=pcsv.ConvertOptions(column_types=wanted, include_columns=list(wanted)))
        else:
            table = orc.ORCFile(path).read(columns=[name for name, _, _ in READ_COLUMNS if name in schema])
        rows += table.num_rows
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds,
            "cpu_seconds": time.process_time() - cpu_started}


def file_schema_names(fmt, text):
    """The column names of a manifest's `fileSchema`: CSV's `Bucket, Key, …` or ORC's
    `struct<bucket:string,…>`."""
    if fmt == "csv":
        return [name.strip() for name in text.split(",")]
    return [field.split(":")[0] for field in text[len("struct<"):-1].split(",")]


def formats(objects):
    """Step 1 for CSV and ORC deliveries: in each of BENCH_REPEAT rounds, ours decodes
    the delivery's files once (`inspect`) and then pyarrow reads them once, with one
    CPU thread and one I/O thread; the best of each is kept, and each round's ratio."""
    import pyarrow as pa

    root = ROOT / "bench" / "data" / "formats"
    root.mkdir(parents=True, exist_ok=True)
    threads = pa.cpu_count(), pa.io_thread_count()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    results = {}
    try:
        for fmt in ("csv", "orc"):
            delivery = local_delivery(root, fmt, objects)
            files = [str(local_file(root, f)) for f in delivery["data_files"]]
            manifest = json.loads(local_file(root, delivery["manifest"]).read_text())
            schema = file_schema_names(fmt, manifest["fileSchema"])
            ours, theirs, rounds = [], [], []
            for _ in range(REPEAT):
                ours.append(our_format_decode(root, delivery["manifest"]))
                theirs.append(pyarrow_format_decode(fmt, files, schema))
                if ours[-1]["rows"] != theirs[-1]["rows"]:
                    sys.exit(f"{fmt}: pyarrow read {theirs[-1]['rows']} rows, ours {ours[-1]['rows']}")
                rounds.append({"ours_rows_per_second": ours[-1]["rows_per_second"],
                               "pyarrow_rows_per_second": theirs[-1]["rows_per_second"],
                               "ratio": ours[-1]["rows_per_second"] / theirs[-1]["rows_per_second"]})
            results[fmt] = {
                "objects": delivery["objects"], "rows": delivery["rows"], "files": len(files),
                "bytes": delivery["bytes"],
                "ours": max(ours, key=lambda r: r["rows_per_second"]),
                "pyarrow": max(theirs, key=lambda r: r["rows_per_second"]),
                "rounds": rounds,
            }
    finally:
        pa.set_cpu_count(threads[0])
        pa.set_io_thread_count(threads[1])
    return results


def duckdb_diff(previous, following):
    """DuckDB's full outer join of the two inventories on the key (all cores)."""
    import duckdb

    con = duckdb.connect()
    query = """
        SELECT count(*) FILTER (WHERE a.key IS NULL) AS added,
               count(*) FILTER (WHERE a.key IS NOT NULL AND b.key IS NOT NULL
                                  AND (a.e_tag <> b.e_tag OR a.size <> b.size)) AS changed,
               count(*) FILTER (WHERE b.key IS NULL) AS deleted,
               count(*) FILTER (WHERE a.e_tag = b.e_tag AND a.size = b.size) AS unchanged
        FROM read_parquet(?) a FULL OUTER JOIN read_parquet(?) b ON a.key = b.key
    """
    started = time.perf_counter()
    added, changed, deleted, unchanged = con.execute(query, [previous, following]).fetchone()
    seconds = time.perf_counter() - started
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    return {"seconds": seconds, "threads": threads,
            "counts": {"added": added, "changed": changed, "deleted": deleted, "unchanged": unchanged}}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def end_to_end(objects, files):
    """A delivery lands on moto; trigger, worker and committer run as separate
    `inventory-import local --function …` processes; the clock runs from the moment
    manifest.checksum is written until the job is committed."""
    port = free_port()
    logs = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    finished = False
    moto = subprocess.Popen([str(VENV_BIN / "python"), str(ROOT / "scripts/moto-server.py"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=open(logs / "moto.log", "w"), stderr=subprocess.STDOUT)
    env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
    env.pop("AWS_PROFILE", None)
    functions = []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        import boto3

        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        for bucket in ("bench-inventory", "bench-catalog"):
            s3.create_bucket(Bucket=bucket)
        cli("dev", "init", "--inventory-bucket", "bench-inventory", env=env)
        cli("repo", "create", "bench", "s3://bench-catalog/bench", env=env)
        cli("source", "add", "bench", "--inventory", "s3://bench-inventory/inv/bench-source/daily/", env=env)
        for function in ("trigger", "worker", "committer"):
            functions.append((function, subprocess.Popen(
                [str(CLI), "local", "--function", function], env=env,
                stdout=subprocess.DEVNULL, stderr=open(logs / f"{function}.log", "w"))))
        generated = cli("dev", "generate-inventory", "--destination", "s3://bench-inventory/inv",
                        "--source-bucket", "bench-source", "--objects", str(objects), "--files", str(files),
                        "--shuffle", "--created-at", "2026-11-25T01:00:00Z", env=env)
        landed = time.perf_counter()
        while True:
            jobs = cli("jobs", "bench", env=env)
            if jobs and jobs[0]["state"] in ("committed", "failed"):
                break
            if time.perf_counter() - landed > 1800:
                raise RuntimeError(f"the import of {objects} objects did not finish in 30 minutes")
            time.sleep(0.2)
        wall = time.perf_counter() - landed
        job = jobs[0]
        if job["state"] != "committed" or job["summary"]["added"] != objects:
            raise RuntimeError(f"the import of {objects} objects ended as {json.dumps(job)}")
        rss = {function: peak_rss(process.pid) for function, process in functions}
        finished = True
        return {"objects": objects, "files": files, "inventory_bytes": generated["bytes"],
                "shards": job["shards_total"], "partitions": len(job.get("partition_cuts", [])) + 1,
                "total": job["summary"]["total"], "wall_seconds": wall, "times": job["times"],
                "peak_rss_bytes": rss}
    finally:
        for _, process in functions:
            process.send_signal(signal.SIGTERM)
        for _, process in functions:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        moto.terminate()
        moto.wait()
        # The logs of a run that went wrong are kept for reading; the others are not.
        if finished:
            shutil.rmtree(logs, ignore_errors=True)
        else:
            print(f"logs of the stack: {logs}", file=sys.stderr)


def mib(n):
    return f"{n / 2**20:,.0f} MiB"


def main():
    objects = int(os.environ.get("BENCH_OBJECTS", "1000000"))
    scale = [int(n) for n in os.environ.get("BENCH_SCALE", "100000 1000000").split()]
    results = {"objects": objects}

    print(f"Stages on local disk, {objects:,} objects ...", flush=True)
    report, arrow, duck, rounds = stages(objects)
    results["stages"] = report
    results["pyarrow"] = arrow
    results["duckdb"] = duck
    results["rounds"] = rounds

    print(f"Decoding CSV and ORC deliveries, {objects:,} objects ...", flush=True)
    results["formats"] = formats(objects)

    results["end_to_end"] = []
    for n in scale:
        print(f"End to end on the local stack, {n:,} objects ...", flush=True)
        results["end_to_end"].append(end_to_end(n, max(1, n // 250_000)))

    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    decode, arrow = report["decode"], results["pyarrow"]
    staging, commit, dry, duck = report["staging"], report["committer"], report["dry_run"], results["duckdb"]

    def ratios(name):
        """Each round's ratio, lowest to highest, and their median."""
        values = [r[name] for r in results["rounds"]]
        return f"{min(values):.2f}-{max(values):.2f}, median {statistics.median(values):.2f}"

    rows = [
        ("1 decode", f"{decode['rows_per_second']:,.0f} rows/s",
         f"pyarrow {arrow['rows_per_second']:,.0f} rows/s", f"ratio {decode['rows_per_second'] / arrow['rows_per_second']:.2f}; rounds {ratios('decode_ratio')}", ">= 1.0"),
        ("2 staging", f"{staging['bytes_per_entry']:.1f} B/entry, {staging['write_units_per_million']:,.0f} WCU/M",
         f"one item/object {staging['naive_write_units_per_million']:,.0f} WCU/M", f"{staging['naive_over_batched']:.0f}x fewer", "<= 24 B, >= 40x"),
        ("3 committer", f"{commit['entries_per_second']:,.0f} entries/s",
         f"{commit['seconds']:.2f} s ({commit['cpu_seconds']:.2f} CPU s) for {commit['entries']:,}", "", ">= 1,000,000/s"),
        ("4 dry-run diff", f"{dry['seconds']:.2f} s ({dry['cpu_seconds']:.2f} CPU s); first try {dry['first_seconds']:.2f} s",
         f"DuckDB {duck['seconds']:.2f} s ({duck['threads']} threads); first try {duck['first_seconds']:.2f} s",
         f"{duck['seconds'] / dry['seconds']:.2f}x; first {duck['first_seconds'] / dry['first_seconds']:.2f}x; "
         f"rounds {ratios('dry_run_ratio')}",
         "faster than DuckDB"),
    ]
    for fmt, figures in results["formats"].items():
        ours, theirs = figures["ours"], figures["pyarrow"]
        per_round = ", ".join(f"{r['ratio']:.2f}" for r in figures["rounds"])
        rows.append((f"1 decode {fmt.upper()}", f"{ours['rows_per_second']:,.0f} rows/s",
                     f"pyarrow {theirs['rows_per_second']:,.0f} rows/s",
                     f"ratio {ours['rows_per_second'] / theirs['rows_per_second']:.2f}; rounds {per_round}", ">= 1.0"))
    for e in results["end_to_end"]:
        rss = e["peak_rss_bytes"]
        rows.append((f"5 end to end", f"{e['objects']:,} objects: {e['wall_seconds']:.1f} s",
                     f"trigger {mib(rss['trigger'])}, worker {mib(rss['worker'])}, committer {mib(rss['committer'])}",
                     f"{e['shards']} shard(s)", "< 60 s; 256/512 MiB"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    print()
    for r in [("step", "measured", "reference", "", "target"), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)))
    print(f"\nSteps 1-4: best of {REPEAT} rounds, ours and the references alike; 'rounds' gives each round's "
          f"own ratio (ours and the references run back to back). Written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
