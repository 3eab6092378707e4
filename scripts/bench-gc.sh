#!/usr/bin/env bash
# Garbage collection throughput, beside its limit, in one run:
#   - `portcullis gc` deleting 2000 unreferenced blobs on the embedded default and on
#     PostgreSQL + Garage (crates/testkit/tests/gc.rs, a_round_deletes_thousands_of_blobs_a_minute);
#   - the limit: Garage alone deleting 2000 objects with `aws s3 rm --recursive` (DeleteObjects,
#     1000 keys per request), the same batching the S3 backend uses.
# Distribution has no online collector to set beside it (its `garbage-collect` runs with the
# registry stopped or read-only), so the peer here is the object store itself.
#
# usage: scripts/bench-gc.sh     (starts PostgreSQL and Garage on loopback, stops them after)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
trap 'bash scripts/garage.sh stop >/dev/null 2>&1 || true; bash scripts/postgres.sh stop >/dev/null 2>&1 || true' EXIT
bash scripts/postgres.sh start >/dev/null
export PORTCULLIS_TEST_POSTGRES_URL="$(bash scripts/postgres.sh url)"
bash scripts/install-garage.sh >/dev/null
eval "$(bash scripts/garage.sh start | grep '^export ')"
cargo build --release --locked --bin portcullis >/dev/null 2>&1
export PORTCULLIS_BIN="$root/target/release/portcullis"

rate() {
    cargo nextest run --locked -p portcullis-testkit --test gc a_round_deletes_thousands_of_blobs_a_minute \
        --no-capture 2>&1 | grep -o 'gc: .*'
}
embedded=$(rate)
scaled=$(PORTCULLIS_TEST_BACKENDS=postgres+s3 rate)

s3() {
    env -u AWS_PROFILE -u AWS_CA_BUNDLE AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
        AWS_ACCESS_KEY_ID="$PORTCULLIS_TEST_S3_ACCESS_KEY_ID" \
        AWS_SECRET_ACCESS_KEY="$PORTCULLIS_TEST_S3_SECRET_ACCESS_KEY" \
        AWS_DEFAULT_REGION="$PORTCULLIS_TEST_S3_REGION" \
        aws --endpoint-url "$PORTCULLIS_TEST_S3_ENDPOINT" s3 "$@"
}
tmp=$(mktemp -d)
for i in $(seq 1 2000); do echo "object $i" > "$tmp/o$i"; done
prefix="bench-gc-$$"
s3 sync --quiet "$tmp" "s3://$PORTCULLIS_TEST_S3_BUCKET/$prefix/"
t0=$(date +%s.%N)
s3 rm --quiet --recursive "s3://$PORTCULLIS_TEST_S3_BUCKET/$prefix/"
t1=$(date +%s.%N)
rm -rf "$tmp"
limit=$(echo "2000 / ($t1 - $t0) * 60" | bc -l)
ours=$(sed -n 's/.* = \([0-9]*\) blobs\/min.*/\1/p' <<<"$scaled")

echo "$embedded"
echo "$scaled"
printf 'limit: Garage alone, aws s3 rm --recursive of 2000 objects: %.0f objects/min\n' "$limit"
printf 'ratio (postgres+s3 gc / Garage alone): %.2f\n' "$(echo "$ours / $limit" | bc -l)"
