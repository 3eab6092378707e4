#!/usr/bin/env python3
"""Prints the ECR API compatibility table: every operation of botocore's ECR model, its IAM
action, and whether Portcullis serves it (the `IMPLEMENTED` array of crates/api/src/ecr/ops.rs).

Usage:
  scripts/ecr-compat.py            print the table (markdown) on stdout
  scripts/ecr-compat.py --write    replace the README block between the ecr-compat markers
  scripts/ecr-compat.py --check    exit 1, with a diff, when the README block is out of date

Fails when IMPLEMENTED names an operation the model does not have, or names one twice.
"""
import argparse
import difflib
import pathlib
import re
import sys

import botocore
import botocore.session

ROOT = pathlib.Path(__file__).resolve().parent.parent
OPS_RS = ROOT / "crates/api/src/ecr/ops.rs"
README = ROOT / "README.md"
BEGIN = "<!-- ecr-compat:begin -->"
END = "<!-- ecr-compat:end -->"

# The feature an operation belongs to, for the ones not served yet. Listed by name rather than
# guessed from it, so that a new model operation shows up as "not yet" with no group until someone
# decides where it belongs.
GROUPS = {
    "scanning": [
        "PutImageScanningConfiguration",
        "BatchGetRepositoryScanningConfiguration",
        "StartImageScan",
        "DescribeImageScanFindings",
        "PutRegistryScanningConfiguration",
        "GetRegistryScanningConfiguration",
    ],
    "pull-through cache": [
        "CreatePullThroughCacheRule",
        "DescribePullThroughCacheRules",
        "UpdatePullThroughCacheRule",
        "DeletePullThroughCacheRule",
        "ValidatePullThroughCacheRule",
    ],
    "replication": [
        "PutReplicationConfiguration",
        "DescribeImageReplicationStatus",
        "StartReplicationBackfill",
        "StopReplicationBackfill",
        "ListReplicationBackfills",
        "DescribeReplicationBackfillResults",
    ],
    "signing": [
        "PutSigningConfiguration",
        "GetSigningConfiguration",
        "DeleteSigningConfiguration",
        "DescribeImageSigningStatus",
    ],
    "storage class": ["UpdateImageStorageClass"],
    "pull-time update exclusions": [
        "RegisterPullTimeUpdateExclusion",
        "DeregisterPullTimeUpdateExclusion",
        "ListPullTimeUpdateExclusions",
    ],
    "lifecycle preview": ["StartLifecyclePolicyPreview", "GetLifecyclePolicyPreview"],
}
GROUP_OF = {op: group for group, ops in GROUPS.items() for op in ops}


def implemented_operations(source):
    """The string literals of `IMPLEMENTED: &[&str] = &[...]` in ops.rs."""
    m = re.search(r"\bIMPLEMENTED\s*:\s*&\[\s*&str\s*\]\s*=\s*&\[(.*?)\];", source, re.S)
    if not m:
        raise SystemExit(f"ecr-compat: no `IMPLEMENTED: &[&str] = &[...]` array in {OPS_RS}")
    body = re.sub(r"//[^\n]*", "", m.group(1))
    return re.findall(r'"([^"\\]*)"', body)


def table():
    model = botocore.session.get_session().get_service_model("ecr")
    operations = sorted(model.operation_names)
    implemented = implemented_operations(OPS_RS.read_text())
    unknown = sorted(set(implemented) - set(operations))
    if unknown:
        raise SystemExit(
            f"ecr-compat: IMPLEMENTED in {OPS_RS.relative_to(ROOT)} names operations that botocore "
            f"{botocore.__version__}'s ECR model does not have: {', '.join(unknown)}"
        )
    twice = sorted({op for op in implemented if implemented.count(op) > 1})
    if twice:
        raise SystemExit(f"ecr-compat: IMPLEMENTED lists {', '.join(twice)} more than once")
    served = set(implemented)
    lines = ["| Operation | IAM action | Status |", "|---|---|---|"]
    for op in operations:
        if op in served:
            status = "implemented"
        elif op in GROUP_OF:
            status = f"not yet ({GROUP_OF[op]})"
        else:
            status = "not yet"
        lines.append(f"| {op} | `ecr:{op}` | {status} |")
    lines.append("")
    lines.append(
        f"{len(served)} of {len(operations)} operations implemented "
        f"(botocore {botocore.__version__})"
    )
    return "\n".join(lines) + "\n"


def readme_parts():
    text = README.read_text()
    start = text.find(BEGIN)
    end = text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"ecr-compat: README.md has no `{BEGIN}` ... `{END}` block")
    head = text[: start + len(BEGIN)] + "\n"
    return head, text[start + len(BEGIN) : end].lstrip("\n"), text[end:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the README block")
    mode.add_argument("--check", action="store_true", help="fail when the README block differs")
    args = parser.parse_args()
    want = table()
    if not (args.write or args.check):
        sys.stdout.write(want)
        return 0
    head, have, tail = readme_parts()
    if args.write:
        if have != want:
            README.write_text(head + want + tail)
        return 0
    if have == want:
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(
            have.splitlines(keepends=True),
            want.splitlines(keepends=True),
            "README.md (ecr-compat block)",
            "scripts/ecr-compat.py",
        )
    )
    print("ecr-compat: the README table is out of date; run scripts/ecr-compat.py --write", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
