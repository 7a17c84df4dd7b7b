#!/usr/bin/env bash
# The demo: a local AWS stack; a source bucket's S3 Inventory delivery lands, S3
# notifies the manifest-events queue, and the trigger, workers and committer (run
# in this process by `inventory-import local`) import it as a commit that is merged
# into main. The next day's delivery lands too and is imported gradually: only its
# differences are new. Then the catalog is read like git.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/localstack.sh
CLI=target/debug/inventory-import
PY=.venv/bin/python
step() { printf '\n== %s\n' "$*"; }
# The three functions' log lines (each names its job), as text on stderr.
functions() { RUST_LOG=inventory_runtime=info,inventory_importer=info "$CLI" local --until-idle; }
INVENTORY=s3://inventory-destination/inventories
DELIVERY="--destination $INVENTORY --source-bucket demo-photos --objects 10000 --files 4 --rows-per-group 2000 --keys awkward --versioned --shuffle"
# The id of the import (not dry run) of a manifest, from `jobs --json`.
job_of() {
  "$CLI" jobs photos --json | "$PY" -c '
import json, sys
print(next(j["id"] for j in json.load(sys.stdin) if j["manifest"] == sys.argv[1] and not j["dry_run"]))' "$1"
}

moto_start
step "Buckets the user owns: the inventory destination and the catalog's storage (boto3)"
"$PY" - <<'PY'
import boto3
s3 = boto3.client("s3")
for bucket in ("inventory-destination", "catalog-storage"):
    s3.create_bucket(Bucket=bucket)
    print(f"created s3://{bucket}")
PY

step "Tables, queues and the inventory bucket's notification (what the SAM template creates in AWS)"
$CLI dev init --inventory-bucket inventory-destination

step "A repository, fed by the inventory configuration 'daily' of bucket demo-photos"
$CLI repo create photos s3://catalog-storage/photos
$CLI source add photos --inventory "$INVENTORY/demo-photos/daily/" --merge-into main

step "Day 1: S3 Inventory delivers 10,000 objects of a versioned bucket in 4 Parquet files"
# shellcheck disable=SC2086
$CLI dev generate-inventory $DELIVERY --created-at 2026-11-25T01:00:00Z
MANIFEST1="$INVENTORY/demo-photos/daily/2026-11-25T01-00Z/manifest.json"

step "What the delivery holds (validated: checksum, schema, sizes, MD5s)"
$CLI inspect "$MANIFEST1" --entries 3

step "S3 notified the manifest-events queue: the trigger, workers and committer run (in this process)"
functions

step "The first import"
JOB1=$(job_of "$MANIFEST1")
$CLI status photos "$JOB1"

step "One object, pinned to its version"
$CLI stat photos main "sorting/a/b"

step "Day 2: the next delivery of the same bucket: 250 objects added, 400 changed, 150 deleted"
# shellcheck disable=SC2086
$CLI dev generate-inventory $DELIVERY --created-at 2026-11-26T01:00:00Z \
  --added 250 --changed 400 --deleted 150
MANIFEST2="$INVENTORY/demo-photos/daily/2026-11-26T01-00Z/manifest.json"

step "A dry run of it first (the trigger's direct invocation): the counts, and nothing committed"
$CLI import photos --manifest "$MANIFEST2" --dry-run
$CLI branch list photos

step "The same prediction worked out in this one process, with no job and no functions"
$CLI inspect "$MANIFEST2" --against photos

step "Its notifications: imported gradually, on top of the first import"
functions

step "Both imports"
$CLI jobs photos
JOB2=$(job_of "$MANIFEST2")
$CLI status photos "$JOB2"

step "History of the import branch"
$CLI log photos import-from-inventory --limit 2

step "What changed between the two imports (the first 12 lines of the diff, and its total)"
DIFF=$(mktemp)
$CLI diff photos import-from-inventory~1 import-from-inventory >"$DIFF"
head -n 12 "$DIFF"
echo "..."
tail -n 1 "$DIFF"
rm -f "$DIFF"

step "Merged into main after each import (--merge-into main): main holds the second import"
$CLI branch list photos
$CLI log photos main --limit 3 | grep -E '^commit|^    '

step "A listing of main"
$CLI ls photos main

step "The same delivery again"
$CLI import photos --manifest "$MANIFEST2"

echo
echo "The local stack is stopped on exit. Every command has --help; try: $CLI --help"
