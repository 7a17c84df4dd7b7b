#!/usr/bin/env bash
# The demo: a local AWS stack, a source bucket and its S3 Inventory delivery, then
# the delivery validated and summarised the way an import reads it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/localstack.sh
CLI=target/debug/inventory-import

moto_start
echo
echo "== Writing a versioned source bucket of 10,000 objects and its S3 Inventory (4 Parquet files)"
$CLI dev generate-inventory \
  --destination s3://inventory-destination/inventories \
  --source-bucket demo-photos \
  --objects 10000 --files 4 --rows-per-group 2000 \
  --keys awkward --versioned --shuffle \
  --created-at 2026-11-25T01:00:00Z
MANIFEST=s3://inventory-destination/inventories/demo-photos/daily/2026-11-25T01-00Z/manifest.json
echo
echo "== Validating the delivery and reading every data file"
$CLI inspect "$MANIFEST" --entries 5
echo
echo "The local stack is stopped on exit. Try: $CLI inspect --help"
