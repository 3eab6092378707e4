"""Pulls one image anonymously with ORAS's Python SDK (oras-py), which meets a 401 with the
registry token flow: the Bearer challenge's realm, then an anonymous token.

usage: oras_pull.py HOST:PORT REPOSITORY:TAG LAYER_DIGEST
Prints the digest of the layer it downloaded (checked against its bytes)."""

import hashlib
import os
import sys
import tempfile

import oras.client
import oras.provider


def main():
    host, reference, layer = sys.argv[1:4]
    # The registry speaks plain HTTP on loopback here; the SDK's docker-config lookup must find
    # nothing, so that the pull is anonymous.
    os.environ["HOME"] = tempfile.mkdtemp(prefix="oras-home-")
    registry = oras.provider.Registry(hostname=host, insecure=True, auth_backend="token")
    target = f"{host}/{reference}"
    manifest = registry.get_manifest(target)
    digests = [l["digest"] for l in manifest["layers"]]
    if layer not in digests:
        sys.exit(f"{layer} is not among the manifest's layers {digests}")
    out = os.path.join(tempfile.mkdtemp(prefix="oras-pull-"), "layer")
    registry.download_blob(target, layer, out)
    with open(out, "rb") as f:
        got = "sha256:" + hashlib.sha256(f.read()).hexdigest()
    if got != layer:
        sys.exit(f"downloaded bytes hash to {got}, not {layer}")
    print(got)


if __name__ == "__main__":
    main()
