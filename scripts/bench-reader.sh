#!/usr/bin/env bash
# Reader benchmark: one ~1 GB Parquet data file with a single row group, read from
# local disk by a release build; prints rows/s and the process's peak RSS (VmHWM).
set -euo pipefail
cd "$(dirname "$0")/.."
OBJECTS="${BENCH_OBJECTS:-8000000}"
DATA=bench/data/reader
CLI=target/release/inventory-import
MANIFEST=s3://bench-inventory/inv/bench-source/daily/2026-11-25T01-00Z/manifest.json

cargo build --release --locked -p inventory-import
if [ ! -f "$DATA/.objects-$OBJECTS" ]; then
  rm -rf "$DATA"
  echo "Generating one single-row-group data file with $OBJECTS objects (versioned)..."
  $CLI dev generate-inventory --local-root "$DATA" \
    --destination s3://bench-inventory/inv --source-bucket bench-source \
    --objects "$OBJECTS" --files 1 --rows-per-group 100000000 --versioned \
    --created-at 2026-11-25T01:00:00Z
  touch "$DATA/.objects-$OBJECTS"
fi
mkdir -p bench
$CLI inspect --local-root "$DATA" "$MANIFEST" --json > bench/reader.json
python3 - <<'PY'
import json
r = json.load(open("bench/reader.json"))
f = r["file_reports"][0]
print(f"data file        {f['bytes'] / 2**30:.2f} GiB ({f['bytes']:,} bytes), {f['row_groups']} row group(s)")
print(f"rows             {r['rows']:,} ({r['objects']:,} objects, {r['skipped']['noncurrent_version'] + r['skipped']['delete_marker']:,} skipped)")
print(f"MD5 + size check {r['fetch_seconds']:.2f} s")
print(f"decode           {r['decode_seconds']:.2f} s = {r['rows_per_second']:,.0f} rows/s")
print(f"peak RSS         {r['peak_rss_bytes'] / 2**20:,.0f} MiB")
PY
