#!/usr/bin/env python3
"""Fails when a crate depends on a workspace crate that docs/architecture.md's table does not
allow it: the table is the architecture, and this keeps code and text from drifting apart.

usage: scripts/check-architecture.py   (run from anywhere; exit 1 with the offending edges)"""

import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def allowed_edges():
    """{crate: set of crates it may depend on, or None for any}, from the table's rows."""
    table = {}
    text = (ROOT / "docs/architecture.md").read_text()
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 4 or not cells[1].startswith("`portcullis"):
            continue
        name = re.match(r"`([^`]+)`", cells[1]).group(1)
        deps = cells[-2]
        if deps == "all":
            table[name] = None
        else:
            table[name] = {"portcullis-" + d for d in re.findall(r"`([a-z]+)`", deps)}
    return table


def actual_edges():
    """{crate: set of workspace crates in its [dependencies]} (dev-dependencies are tests)."""
    edges = {}
    for manifest in sorted(ROOT.glob("crates/*/Cargo.toml")):
        data = tomllib.loads(manifest.read_text())
        name = data["package"]["name"]
        deps = set(data.get("dependencies", {})) | set(data.get("build-dependencies", {}))
        edges[name] = {d for d in deps if d.startswith("portcullis")}
    return edges


def main():
    table = allowed_edges()
    problems = []
    for crate, deps in actual_edges().items():
        if crate not in table:
            problems.append(f"{crate}: not in docs/architecture.md's crate table")
            continue
        allowed = table[crate]
        if allowed is None:
            continue
        for dep in sorted(deps - allowed):
            problems.append(f"{crate} -> {dep}: an edge the architecture table does not allow")
    for p in problems:
        print(f"check-architecture: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"check-architecture: {len(table)} crates, every dependency edge is in the table")


if __name__ == "__main__":
    main()
