#!/usr/bin/env bash
# Registry throughput: Portcullis against CNCF Distribution 2.8 (Debian package `docker-registry`),
# side by side in one run of `portcullis-load`, on loopback, each with its own temporary data dir.
#
#   scripts/bench.sh [--write] [--quick] [--distribution-only] [-- <portcullis-load options>]
#
#   --write              also replace the "## Registry throughput (portcullis-load)" section of
#                        docs/benchmarks.md with the result (the rest of the file is kept)
#   --quick              a small smoke run (two sizes, short hammers); figures are not meaningful
#   --distribution-only  measure Distribution alone (for working on the tool without a server)
#   --backend s3         scale-out engines instead of the embedded default: Portcullis on
#                        PostgreSQL + Garage (scripts/postgres.sh, scripts/garage.sh), Distribution
#                        with its s3 driver on the same Garage, and Garage's own single-stream PUT
#                        and GET of the same 256 MiB object with the aws CLI (the limit); writes
#                        its own section, "## Scale-out throughput (PostgreSQL + Garage)"
#   -- ...               passed on to portcullis-load (see target/release/portcullis-load --help)
#
# The markdown goes to stdout, progress to stderr. Builds in release mode into
# $CARGO_TARGET_DIR (default: target/). Needs /usr/bin/docker-registry:
#   apt-get install -y docker-registry
# Portcullis authenticates every /v2/ request: it starts with a bootstrap key for user `admin`,
# and the load tool sends the password `portcullis token issue` prints (HTTP Basic, user AWS);
# Distribution runs without auth. With the aws CLI on PATH, the run also makes repository
# load/public public by repository policy and measures the cost of authentication there
# (issue 5); without it, that measurement is skipped.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
section="## Registry throughput (portcullis-load)"
write=0
quick=0
with_portcullis=1
backend=filesystem
load_args=()
invocation="scripts/bench.sh $*"

while [ $# -gt 0 ]; do
    case "$1" in
        --write) write=1 ;;
        --quick) quick=1 ;;
        --distribution-only) with_portcullis=0 ;;
        --backend) shift; backend=${1:-}; [ "$backend" = s3 ] || [ "$backend" = filesystem ] ||
            { echo "bench.sh: --backend filesystem|s3" >&2; exit 2; } ;;
        --) shift; load_args=("$@"); break ;;
        -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    load_args=(--sizes 4KiB,16MiB --concurrency 1,8 --bytes-per-cell 64MiB --max-ops 200
               --single-blobs 1 --hammer-secs 2 --auth-overhead-rounds 2
               --auth-overhead-secs 2 "${load_args[@]}")
fi

registry_bin=/usr/bin/docker-registry
if [ ! -x "$registry_bin" ]; then
    echo "bench.sh: $registry_bin is missing: apt-get install -y docker-registry" >&2
    exit 1
fi

log() { echo "bench.sh: $*" >&2; }

cd "$root"
log "building (release) into $target_dir"
if [ "$with_portcullis" = 1 ]; then
    cargo build --release --bin portcullis -p portcullis --bin portcullis-load -p portcullis-testkit >&2
else
    cargo build --release --bin portcullis-load -p portcullis-testkit >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        # Bounded: a server that ignores SIGTERM for 20 s gets SIGKILL.
        for _ in $(seq 1 200); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 30000))
        if port_free "$p"; then echo "$p"; return 0; fi
    done
    return 1
}
wait_ready() { # url log
    local code
    for _ in $(seq 1 300); do
        # Any HTTP answer will do: Portcullis says 401 to a request without credentials.
        code=$(curl -s -o /dev/null -w '%{http_code}' "$1/v2/" || true)
        if [ -n "$code" ] && [ "$code" != 000 ]; then return 0; fi
        sleep 0.1
    done
    log "no answer from $1; its log:"
    cat "$2" >&2
    return 1
}

# Distribution as its Debian package ships it (in-memory blob descriptor cache, deletes
# enabled), minus auth, with its access log off since Portcullis logs at warn too.
if [ "$backend" = s3 ]; then
    section="## Scale-out throughput (PostgreSQL + Garage)"
    bash "$root/scripts/postgres.sh" start
    eval "$(bash "$root/scripts/garage.sh" start | grep '^export PORTCULLIS_TEST_S3_')"
    pg_url=$(bash "$root/scripts/postgres.sh" url)
    bench_db="bench_$(date +%s)"
    psql -q "$pg_url" -c "CREATE DATABASE $bench_db"
    run_prefix="bench-$(date +%s)"
    s3() {
        env -u AWS_PROFILE AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
            AWS_ACCESS_KEY_ID="$PORTCULLIS_TEST_S3_ACCESS_KEY_ID" \
            AWS_SECRET_ACCESS_KEY="$PORTCULLIS_TEST_S3_SECRET_ACCESS_KEY" \
            AWS_DEFAULT_REGION="$PORTCULLIS_TEST_S3_REGION" \
            aws --endpoint-url "$PORTCULLIS_TEST_S3_ENDPOINT" s3 "$@"
    }
    dist_storage="  s3:
    regionendpoint: $PORTCULLIS_TEST_S3_ENDPOINT
    region: $PORTCULLIS_TEST_S3_REGION
    bucket: $PORTCULLIS_TEST_S3_BUCKET
    accesskey: $PORTCULLIS_TEST_S3_ACCESS_KEY_ID
    secretkey: $PORTCULLIS_TEST_S3_SECRET_ACCESS_KEY
    rootdirectory: /$run_prefix-distribution
    forcepathstyle: true
    secure: false
    v4auth: true"
    # Every node of the deployment (the node-count runs below start two more) shares the key.
    p_env=(PORTCULLIS_AUTH__MASTER_KEY="$(head -c 32 /dev/urandom | base64)"
           PORTCULLIS_METADATA__URL="${pg_url%/*}/$bench_db"
           PORTCULLIS_STORAGE__BACKEND=s3
           PORTCULLIS_STORAGE__REDIRECT="${BENCH_REDIRECT:-false}"
           PORTCULLIS_STORAGE__S3__ENDPOINT="$PORTCULLIS_TEST_S3_ENDPOINT"
           PORTCULLIS_STORAGE__S3__REGION="$PORTCULLIS_TEST_S3_REGION"
           PORTCULLIS_STORAGE__S3__BUCKET="$PORTCULLIS_TEST_S3_BUCKET"
           PORTCULLIS_STORAGE__S3__PREFIX="$run_prefix-portcullis/"
           PORTCULLIS_STORAGE__S3__PATH_STYLE=true
           PORTCULLIS_STORAGE__S3__ACCESS_KEY_ID="$PORTCULLIS_TEST_S3_ACCESS_KEY_ID"
           PORTCULLIS_STORAGE__S3__SECRET_ACCESS_KEY="$PORTCULLIS_TEST_S3_SECRET_ACCESS_KEY")
else
    dist_storage="  filesystem:
    rootdirectory: $tmp/distribution/data"
    p_env=()
fi

dist_port=$(free_port)
mkdir -p "$tmp/distribution/data"
cat > "$tmp/distribution/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
$dist_storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$dist_port
EOF
# Distribution's AWS SDK refuses to start with AWS_CA_BUNDLE set (its custom transport cannot
# take one); its S3 endpoint here is plain HTTP on loopback, so it needs none.
env -u AWS_CA_BUNDLE "$registry_bin" serve "$tmp/distribution/config.yml" > "$tmp/distribution/log" 2>&1 &
pids+=($!)
dist_pid=$!
dist_url="http://127.0.0.1:$dist_port"
wait_ready "$dist_url" "$tmp/distribution/log"
dist_version=$("$registry_bin" --version 2>&1 | awk '{print $NF}')
log "distribution $dist_version on $dist_url"

targets=()
# What the record shows of the command: the same, with the token left out.
shown=()
random_alnum() { # length
    local s=""
    while [ ${#s} -lt "$1" ]; do
        s+=$(head -c 256 /dev/urandom | tr -dc 'A-Za-z0-9')
    done
    echo "${s:0:$1}"
}
if [ "$with_portcullis" = 1 ]; then
    mkdir -p "$tmp/portcullis/data"
    key_id="AKIA$(random_alnum 16 | tr a-z A-Z)"
    key_secret=$(random_alnum 40)
    # Anonymous callers may reach the policy check at all (the public repository below).
    env "${p_env[@]}" PORTCULLIS_BOOTSTRAP_ACCESS_KEY_ID=$key_id PORTCULLIS_BOOTSTRAP_SECRET_ACCESS_KEY=$key_secret \
        PORTCULLIS_AUTH__ANONYMOUS_ACCESS=true \
        RUST_LOG=${RUST_LOG:-warn,portcullis=info} "$target_dir/release/portcullis" serve \
        --listen 127.0.0.1:0 --data-dir "$tmp/portcullis/data" > "$tmp/portcullis/log" 2>&1 &
    pids+=($!)
    p_pid=$!
    p_url=""
    for _ in $(seq 1 300); do
        p_url=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$tmp/portcullis/log" | head -1 | sed 's/listening on //') || true
        [ -n "$p_url" ] && break
        sleep 0.1
    done
    if [ -z "$p_url" ]; then
        log "portcullis did not say where it listens; its log:"
        cat "$tmp/portcullis/log" >&2
        exit 1
    fi
    wait_ready "$p_url" "$tmp/portcullis/log"
    log "portcullis on $p_url"
    password=$(env "${p_env[@]}" "$target_dir/release/portcullis" token issue --data-dir "$tmp/portcullis/data")
    targets+=(--target "portcullis=$p_url" --server-pid "portcullis=$p_pid")
    shown+=(--target "portcullis=$p_url" --server-pid "portcullis=$p_pid")
    targets+=(--basic-auth "portcullis=AWS:$password")
    shown+=(--basic-auth "portcullis=AWS:\$(portcullis token issue --data-dir DIR)")
    if command -v aws > /dev/null; then
        public_repo=load/public
        policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"]}]}'
        ecr() {
            env -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_CONFIG_FILE=/dev/null \
                AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_ACCESS_KEY_ID="$key_id" \
                AWS_SECRET_ACCESS_KEY="$key_secret" AWS_DEFAULT_REGION=us-east-1 \
                aws ecr "$@" --endpoint-url "$p_url" > /dev/null
        }
        ecr create-repository --repository-name "$public_repo"
        ecr set-repository-policy --repository-name "$public_repo" --policy-text "$policy"
        log "portcullis: $public_repo allows anonymous pull"
        targets+=(--auth-overhead "portcullis=$public_repo")
        shown+=(--auth-overhead "portcullis=$public_repo")
    else
        log "no aws CLI: skipping the authentication overhead measurement"
    fi
fi
targets+=(--target "distribution=$dist_url" --server-pid "distribution=$dist_pid")
shown+=(--target "distribution=$dist_url" --server-pid "distribution=$dist_pid")

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%MZ)
"$target_dir/release/portcullis-load" "${targets[@]}" "${load_args[@]}" > "$tmp/result.md"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# The limit: Garage's own single-stream PUT and GET of one object of the single-stream size,
# with the aws CLI (its default multipart settings), best of three.
garage_limit=""
if [ "$backend" = s3 ]; then
    head -c "${BENCH_LIMIT_BYTES:-268435456}" /dev/urandom > "$tmp/limit.bin"
    best_put=0; best_get=0
    for _ in 1 2 3; do
        t0=$(date +%s.%N); s3 cp --quiet "$tmp/limit.bin" "s3://$PORTCULLIS_TEST_S3_BUCKET/$run_prefix-limit/blob"; t1=$(date +%s.%N)
        s3 cp --quiet "s3://$PORTCULLIS_TEST_S3_BUCKET/$run_prefix-limit/blob" - > /dev/null; t2=$(date +%s.%N)
        put=$(echo "$(stat -c %s "$tmp/limit.bin") / 1048576 / ($t1 - $t0)" | bc -l)
        get=$(echo "$(stat -c %s "$tmp/limit.bin") / 1048576 / ($t2 - $t1)" | bc -l)
        best_put=$(echo "if ($put > $best_put) $put else $best_put" | bc -l)
        best_get=$(echo "if ($get > $best_get) $get else $best_get" | bc -l)
    done
    s3 rm --quiet --recursive "s3://$PORTCULLIS_TEST_S3_BUCKET/$run_prefix-limit/" || true
    garage_limit=$(printf 'Garage alone (the limit), `aws s3 cp` of one %s MiB object, best of 3: PUT %.0f MiB/s, GET %.0f MiB/s.' \
        "$(( $(stat -c %s "$tmp/limit.bin") / 1048576 ))" "$best_put" "$best_get")
    rm -f "$tmp/limit.bin"
    log "$garage_limit"
fi

# Requests per second with 1, 2 and 3 nodes of one deployment (PostgreSQL + Garage), each
# run sending its requests to the nodes in turn. On one machine the nodes share its cores, so
# this shows what a node costs, not how a deployment scales across machines.
nodes_md=""
if [ "$backend" = s3 ]; then
    node_args=(--skip-matrix --single-blobs 0 --hammer-secs "${BENCH_NODE_SECS:-10}"
               --hammer-concurrency 64 --repo-prefix nodes)
    urls="$p_url"
    for n in 1 2 3; do
        if [ "$n" -gt 1 ]; then
            mkdir -p "$tmp/node$n/data"
            env "${p_env[@]}" RUST_LOG=warn,portcullis=info "$target_dir/release/portcullis" serve \
                --listen 127.0.0.1:0 --data-dir "$tmp/node$n/data" > "$tmp/node$n/log" 2>&1 &
            pids+=($!)
            url=""
            for _ in $(seq 1 300); do
                url=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$tmp/node$n/log" | head -1 | sed 's/listening on //') || true
                [ -n "$url" ] && break
                sleep 0.1
            done
            [ -n "$url" ] || { log "node $n did not start:"; cat "$tmp/node$n/log" >&2; exit 1; }
            urls="$urls,$url"
        fi
        log "portcullis: $n node(s)"
        "$target_dir/release/portcullis-load" --target "portcullis=$urls" \
            --basic-auth "portcullis=AWS:$password" "${node_args[@]}" > "$tmp/nodes$n.md"
        nodes_md+=$'\n'"#### $n node(s)"$'\n\n'"$(cat "$tmp/nodes$n.md")"$'\n'
    done
    nodes_md="### Nodes of one deployment: 1, 2 and 3 on these cores"$'\n\n'"\`portcullis-load --target portcullis=URL[,URL...] ${node_args[*]}\`: every node on this one machine, sharing its $(nproc) cores with PostgreSQL, Garage and the client, so the figures show the cost of a node, not scaling across machines."$'\n'"$nodes_md"
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -e sha_ni -e avx2 -e avx512f | tr '\n' ' ' | sed 's/ $//')
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
changed=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | awk '{print $2}' | paste -sd, - | sed 's/,/, /g')
dirty=${changed:+ (with local changes to: $changed)}

{
    echo "$section"
    echo
    echo "Measured $started on commit \`$commit\`$dirty with \`$invocation\`, which ran:"
    echo
    echo '```'
    echo "portcullis-load ${shown[*]} ${load_args[*]}"
    echo '```'
    echo
    echo "Machine: $(nproc) cores of $cpu ($flags), $mem RAM, Linux $(uname -r)." \
         "Client and servers share these cores; load average before/after: $load_before / $load_after."
    if [ "$backend" = s3 ]; then
        engines="blobs in Garage $("$(bash "$root/scripts/install-garage.sh")" --version 2>/dev/null | head -1 | awk '{print $2}') (single node, S3 API on loopback) + PostgreSQL $(psql -XAtq "$pg_url" -c 'show server_version' | cut -d' ' -f1) metadata, redirects ${BENCH_REDIRECT:-false}"
        dist_engines="s3 driver on the same Garage bucket"
    else
        engines="filesystem blobs + SQLite metadata"
        dist_engines="filesystem driver"
    fi
    echo "Portcullis: release build, $engines, every request authenticated" \
         "(HTTP Basic with a registry token of user \`admin\`, as \`docker login\` with" \
         "\`aws ecr get-login-password\` sends it). Distribution:" \
         "$dist_version (Debian \`docker-registry\`), $dist_engines, in-memory blob descriptor cache." \
         "Both on 127.0.0.1 with their data in a fresh temporary directory on the same disk." \
         "One run, no repetition: on this shared machine, wall-clock figures for large blobs moved by up to 2x between runs at a load average near 10; the CPU-time figures moved much less."
    echo
    if [ -n "$garage_limit" ]; then echo "$garage_limit"; echo; fi
    cat "$tmp/result.md"
    if [ -n "$nodes_md" ]; then echo; echo "$nodes_md"; fi
} > "$tmp/section.md"

cat "$tmp/section.md"

if [ "$write" = 1 ]; then
    doc="$root/docs/benchmarks.md"
    if [ ! -f "$doc" ]; then
        printf '# Benchmarks\n\n' > "$doc"
    fi
    # Replace our section (up to the next "## " heading) and keep everything else as it is.
    awk -v heading="$section" -v file="$tmp/section.md" '
        function emit() { while ((getline line < file) > 0) print line; close(file); done = 1 }
        $0 == heading { emit(); skipping = 1; next }
        skipping && /^## / { skipping = 0 }
        !skipping { print }
        END { if (!done) { print ""; emit() } }
    ' "$doc" > "$tmp/benchmarks.md"
    cp "$tmp/benchmarks.md" "$doc"
    log "wrote $section into docs/benchmarks.md"
fi
