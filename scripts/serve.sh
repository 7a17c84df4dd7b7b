#!/usr/bin/env bash
# The web UI, the JSON API and the S3 endpoint on the local stack: moto, the tables
# and queues, a repository `photos` fed by an inventory configuration, the functions
# running (`inventory-import local`, so that imports started from the UI run), a first
# access key, and `serve` on http://127.0.0.1:${SERVE_PORT:-8000}. Two deliveries are
# waiting to be imported from the UI's import page. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/localstack.sh
CLI=target/debug/inventory-import
PY=.venv/bin/python
PORT="${SERVE_PORT:-8000}"
INVENTORY=s3://inventory-destination/inventories
export SECRETS_SEALING_KEY="${SECRETS_SEALING_KEY:-$(openssl rand -base64 32)}"

moto_start
"$PY" - <<'PY'
import boto3
s3 = boto3.client("s3")
for bucket in ("inventory-destination", "catalog-storage"):
    s3.create_bucket(Bucket=bucket)
PY
# No bucket notification: imports start from the UI (or the CLI), not on delivery.
$CLI dev init >/dev/null
$CLI repo create photos s3://catalog-storage/photos >/dev/null
$CLI source add photos --inventory "$INVENTORY/demo-photos/daily/" >/dev/null
for day in 25 26; do
  args=(--destination "$INVENTORY" --source-bucket demo-photos --objects 500 --files 2 --write-objects
        --created-at "2026-11-${day}T01:00:00Z")
  if [ "$day" = 26 ]; then args+=(--added 20 --changed 30 --deleted 10); fi
  $CLI dev generate-inventory "${args[@]}" >/dev/null
done
KEY="$($CLI credentials create --description "local UI" --json)"
read -r KEY_ID SECRET < <(printf '%s' "$KEY" | "$PY" -c 'import json,sys; k=json.load(sys.stdin); print(k["access_key_id"], k["secret_access_key"])')

$CLI local >/dev/null 2>&1 &
LOCAL=$!
trap 'kill "$LOCAL" 2>/dev/null; kill "$MOTO_PID" 2>/dev/null; wait 2>/dev/null' EXIT
cat <<EOT

Open http://127.0.0.1:$PORT/ and log in with
  access key id:     $KEY_ID
  secret access key: $SECRET
On the repository photos, Imports: paste a manifest URL, Test, then Import:
  $INVENTORY/demo-photos/daily/2026-11-25T01-00Z/manifest.json
  $INVENTORY/demo-photos/daily/2026-11-26T01-00Z/manifest.json   (the next day's)
S3 clients use the same key: aws --endpoint-url http://127.0.0.1:$PORT s3 ls s3://photos/
Ctrl-C stops the server, the functions and moto.

EOT
$CLI serve --listen "127.0.0.1:$PORT"
