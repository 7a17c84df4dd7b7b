#!/usr/bin/env bash
# Branch benchmark, on a local directory laid out like S3: commit 1,000 users' changes
# spread over a 1,000,000-entry tree, and merge a day's import (5 % of the keys, by
# prefix) into that branch; beside rewriting the whole tree. Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES="${BENCH_ENTRIES:-1000000}"
DATA=bench/data/branches
cargo build --release --locked -p inventory-import
rm -rf "$DATA"
mkdir -p bench
target/release/inventory-import dev bench-branch --local-root "$DATA" --entries "$ENTRIES" --json > bench/branches.json
python3 - <<'PY'
import json
r = json.load(open("bench/branches.json"))
c, m = r["commit"], r["merge"]
print(f"branch of {r['entries']:,} entries in {r['ranges']} ranges")
print(f"  commit {c['changes']:,} changes   {c['seconds']:6.3f} s  (whole rewrite {c['rewrite_seconds']:.3f} s); "
      f"ranges written {c['ranges_written']}, read {c['ranges_read']} of {c['ranges_in_tree']}; touched {c['ranges_touched']}")
u = r["commit_under_one_prefix"]
print(f"  commit {u['changes']:,} changes under one prefix {u['seconds']:6.3f} s; ranges written {u['ranges_written']}, read {u['ranges_read']} of {u['ranges_in_tree']}; touched {u['ranges_touched']}")
print(f"  merge import of {m['import_changes']:,} into {m['user_changes']:,} user changes  {m['seconds']:6.3f} s  "
      f"(writing the import's tree {m['import_write_seconds']:.3f} s); ranges read {m['ranges_read']} of {m['ranges_in_trees']}; touched {m['ranges_touched']}")
print(f"  peak RSS {r['peak_rss_bytes'] / 2**20:,.0f} MiB")
PY
