#!/usr/bin/env bash
# A single-node Garage cluster on loopback for the scale-out tests and benchmarks.
#   garage.sh start   starts it under $PORTCULLIS_GARAGE_DIR (default target/garage), lays out
#                     one node, imports a fixed test key, creates the bucket, and prints the
#                     `export PORTCULLIS_TEST_S3_*=...` lines the tests read
#   garage.sh stop    stops it and removes its data
# The binary comes from scripts/install-garage.sh (built once, cached under ~/.cache).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${PORTCULLIS_GARAGE_DIR:-$PWD/target/garage}
s3_port=${PORTCULLIS_GARAGE_PORT:-39000}
rpc_port=$((s3_port + 1))
admin_port=$((s3_port + 3))
bucket=${PORTCULLIS_GARAGE_BUCKET:-portcullis}
# Test-only credentials on a loopback-only server that is thrown away after the run.
key_id=GK0123456789abcdef01234567
secret=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

garage_cmd() { "$bin" -c "$dir/garage.toml" "$@"; }

case ${1:-} in
start)
    bin=$(bash scripts/install-garage.sh)
    if [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        :
    else
        rm -rf "$dir"
        mkdir -p "$dir/meta" "$dir/data"
        cat >"$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
metadata_fsync = false
data_fsync = false
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
TOML
        RUST_LOG=${GARAGE_LOG:-warn} "$bin" -c "$dir/garage.toml" server >"$dir/server.log" 2>&1 &
        echo $! >"$dir/pid"
        for _ in $(seq 1 100); do
            garage_cmd status >/dev/null 2>&1 && break
            sleep 0.2
        done
        node=$(garage_cmd node id -q 2>/dev/null | cut -d@ -f1)
        [[ -n $node ]] || { cat "$dir/server.log" >&2; exit 1; }
        garage_cmd layout assign -z dc1 -c 10G "$node" >/dev/null
        garage_cmd layout apply --version 1 >/dev/null
        garage_cmd key import --yes -n portcullis-test "$key_id" "$secret" >/dev/null
        garage_cmd bucket create "$bucket" >/dev/null
        garage_cmd bucket allow --read --write --owner "$bucket" --key "$key_id" >/dev/null
        echo "garage.sh: Garage S3 API on 127.0.0.1:$s3_port, bucket $bucket (data in $dir)" >&2
    fi
    echo "export PORTCULLIS_TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port"
    echo "export PORTCULLIS_TEST_S3_REGION=garage"
    echo "export PORTCULLIS_TEST_S3_BUCKET=$bucket"
    echo "export PORTCULLIS_TEST_S3_ACCESS_KEY_ID=$key_id"
    echo "export PORTCULLIS_TEST_S3_SECRET_ACCESS_KEY=$secret"
    ;;
stop)
    if [[ -f $dir/pid ]]; then
        pid=$(cat "$dir/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
