#!/usr/bin/env bash
# Installs the real registry clients that the end-to-end tests drive (crates/testkit/tests/clients_*.rs):
# skopeo, podman, buildah and the docker CLI, on a Debian machine, as root.
#
# Idempotent and quick when everything is present: each tool is looked up with `command -v` first and
# `apt-get update` runs only when something has to be installed. Nothing global is configured here:
# the tests give every client its own storage.conf (vfs driver), containers.conf, registries.conf,
# policy.json, auth file and docker config dir in a temporary directory, so no daemon, no overlay
# mount and no user setting is involved.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive

missing=()
# uidmap (newuidmap) lets podman/buildah set up user namespaces when they need them; the vfs storage
# driver itself needs no kernel support, so this works inside unprivileged containers too.
for tool in skopeo:skopeo podman:podman buildah:buildah newuidmap:uidmap; do
    bin=${tool%%:*}
    pkg=${tool##*:}
    if ! command -v "$bin" >/dev/null 2>&1; then
        missing+=("$pkg")
    fi
done

# The docker CLI is usually preinstalled (the tests only use the client: login, manifest inspect,
# manifest create/push). Debian ships the client inside `docker.io` (bookworm has no separate
# `docker-cli`); pick whichever the archive offers, and only when no `docker` is on the PATH.
need_docker=0
if ! command -v docker >/dev/null 2>&1; then
    need_docker=1
fi

updated=0
apt_update() {
    if [[ $updated -eq 0 ]]; then
        $SUDO apt-get update -qq
        updated=1
    fi
}

if [[ $need_docker -eq 1 ]]; then
    apt_update
    if apt-cache policy docker-cli 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        missing+=(docker-cli)
    elif apt-cache policy docker.io 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        missing+=(docker.io)
    else
        echo "install-test-deps: no docker CLI package in the apt sources; install the docker CLI by hand" >&2
        exit 1
    fi
fi

if [[ ${#missing[@]} -gt 0 ]]; then
    apt_update
    echo "install-test-deps: installing ${missing[*]}" >&2
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# containers-common (a dependency of all three) ships /etc/containers/policy.json; the tests pass
# their own policy anyway, so its absence is only worth a note for people running the tools by hand.
if [[ ! -e /etc/containers/policy.json ]]; then
    echo "install-test-deps: note: /etc/containers/policy.json is missing; the tests bring their own" >&2
fi

# The AWS clients the ECR/IAM tests drive: the aws CLI, boto3 and botocore (for its SigV4 signer
# and service models). Pinned so that the ECR model is the one the spec and the README table are
# written against: botocore 1.44.5 (62 ECR operations) and boto3 1.44.5, which requires it. No awscli
# release depends on botocore 1.44.x: the 1.45 line pins botocore 1.43.x and from 1.46.0 awscli
# carries its own copy of botocore (1.43.62 in 1.46.3), so the CLI's model may lag boto3's.
AWS_PY_PINS=(botocore==1.44.5 boto3==1.44.5 awscli==1.46.3)
aws_py_installed=$(python3 -c 'import importlib.metadata as m
for p in ("botocore", "boto3", "awscli"):
    try:
        print(f"{p}=={m.version(p)}")
    except m.PackageNotFoundError:
        pass' 2>/dev/null | paste -sd' ' || true)
if [[ "$aws_py_installed" != "${AWS_PY_PINS[*]}" ]] || ! command -v aws >/dev/null 2>&1; then
    echo "install-test-deps: installing ${AWS_PY_PINS[*]} with pip (found: ${aws_py_installed:-none})" >&2
    python3 -m pip install --quiet "${AWS_PY_PINS[@]}"
fi

# ORAS's Python SDK, the ORAS client that installs from PyPI (the Go CLI is not packaged here):
# the anonymous-pull test drives its registry token flow.
ORAS_PIN=oras==0.2.43
if ! python3 -c 'import importlib.metadata as m, sys; sys.exit(m.version("oras") != "0.2.43")' 2>/dev/null; then
    echo "install-test-deps: installing $ORAS_PIN with pip" >&2
    python3 -m pip install --quiet "$ORAS_PIN"
fi

for bin in skopeo podman buildah docker aws; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        echo "install-test-deps: $bin is still missing after install" >&2
        exit 1
    fi
done
echo "install-test-deps: $(skopeo --version); $(podman --version); $(buildah --version | cut -d' ' -f1-3); $(docker --version)" >&2
