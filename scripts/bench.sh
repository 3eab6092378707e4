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
load_args=()
invocation="scripts/bench.sh $*"

while [ $# -gt 0 ]; do
    case "$1" in
        --write) write=1 ;;
        --quick) quick=1 ;;
        --distribution-only) with_portcullis=0 ;;
        --) shift; load_args=("$@"); break ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
  filesystem:
    rootdirectory: $tmp/distribution/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$dist_port
EOF
"$registry_bin" serve "$tmp/distribution/config.yml" > "$tmp/distribution/log" 2>&1 &
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
    PORTCULLIS_BOOTSTRAP_ACCESS_KEY_ID=$key_id PORTCULLIS_BOOTSTRAP_SECRET_ACCESS_KEY=$key_secret \
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
    password=$("$target_dir/release/portcullis" token issue --data-dir "$tmp/portcullis/data")
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
    echo "Portcullis: release build, filesystem blobs + SQLite metadata, every request authenticated" \
         "(HTTP Basic with a registry token of user \`admin\`, as \`docker login\` with" \
         "\`aws ecr get-login-password\` sends it). Distribution:" \
         "$dist_version (Debian \`docker-registry\`), filesystem driver, in-memory blob descriptor cache." \
         "Both on 127.0.0.1 with their data in a fresh temporary directory on the same disk." \
         "One run, no repetition: on this shared machine, wall-clock figures for large blobs moved by up to 2x between runs at a load average near 10; the CPU-time figures moved much less."
    echo
    cat "$tmp/result.md"
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
