#!/usr/bin/env bash
# The demo: a local AWS stack; a source bucket's S3 Inventory delivery lands, S3
# notifies the manifest-events queue, and the trigger, workers and committer (run
# in this process by `inventory-import local`) import it as a commit that is merged
# into main. Then the catalog is read like git.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/localstack.sh
CLI=target/debug/inventory-import
step() { printf '\n== %s\n' "$*"; }

moto_start
step "Buckets the user owns: the inventory destination and the catalog's storage (boto3)"
.venv/bin/python - <<'PY'
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
$CLI source add photos --inventory s3://inventory-destination/inventories/demo-photos/daily/ --merge-into main

step "S3 Inventory delivers: 10,000 objects of a versioned bucket in 4 Parquet files"
$CLI dev generate-inventory \
  --destination s3://inventory-destination/inventories \
  --source-bucket demo-photos \
  --objects 10000 --files 4 --rows-per-group 2000 \
  --keys awkward --versioned --shuffle \
  --created-at 2026-11-25T01:00:00Z
MANIFEST=s3://inventory-destination/inventories/demo-photos/daily/2026-11-25T01-00Z/manifest.json

step "What the delivery holds (validated: checksum, schema, sizes, MD5s)"
$CLI inspect "$MANIFEST" --entries 3

step "The trigger, workers and committer handle the notifications (in this process)"
$CLI local --until-idle

step "The import job"
JOB=$($CLI jobs photos --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
$CLI status photos "$JOB"

step "History of the import branch, merged into main"
$CLI log photos import-from-inventory --limit 1
$CLI ls photos main

step "One object, and the same delivery again"
$CLI stat photos main "sorting/a/b"
$CLI import photos --manifest "$MANIFEST"

echo
echo "The local stack is stopped on exit. Every command has --help; try: $CLI --help"
