#!/usr/bin/env bash
# Builds Garage (the S3-compatible object store the scale-out tests run against) once per
# machine and caches it under ~/.cache/portcullis, so a second run does not rebuild it. Prints
# the path of the binary. `cargo install --locked` uses Garage's own lock file; only the
# features the tests need are built (SQLite metadata, bundled C libraries), which keeps the
# build to a few minutes on two cores.
set -euo pipefail

version=${GARAGE_VERSION:-2.5.0}
root=${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}/garage-$version
bin=$root/bin/garage

if [[ ! -x $bin ]]; then
    echo "install-garage: building garage $version into $root (cached for later runs)" >&2
    # Its own target dir, so the project's build cache is not mixed with Garage's.
    CARGO_TARGET_DIR=$root/target cargo install --locked --quiet \
        --root "$root" --no-default-features --features bundled-libs,sqlite \
        "garage@$version" >&2
    rm -rf "$root/target"
fi
echo "$bin"
