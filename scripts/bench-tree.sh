#!/usr/bin/env bash
# Tree benchmark: write a tree of 1,000,000 entries to a local directory laid out
# like S3, write it again with 5 % of the entries changed, diff the two; prints
# entries/s per step and the process's peak RSS (VmHWM). Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES="${BENCH_ENTRIES:-1000000}"
DATA=bench/data/trees
cargo build --release --locked -p inventory-import
rm -rf "$DATA"
mkdir -p bench
target/release/inventory-import dev bench-tree --local-root "$DATA" --entries "$ENTRIES" --json > bench/trees.json
python3 - <<'PY'
import json
r = json.load(open("bench/trees.json"))
print(f"trees of {r['entries']:,} entries")
for s in r["steps"]:
    extra = ", ".join(f"{k} {v:,}" for k, v in s.items() if k not in ("step", "seconds", "entries_per_second"))
    print(f"  {s['step']:<14} {s['seconds']:6.2f} s  {s['entries_per_second']:>12,.0f} entries/s  ({extra})")
print(f"peak RSS        {r['peak_rss_bytes'] / 2**20:,.0f} MiB")
PY
