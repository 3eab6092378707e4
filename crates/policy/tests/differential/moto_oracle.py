"""Evaluate identity policies with moto's IAM policy engine (moto.iam.access_control).

Reads a JSON list of cases {"policy", "action", "resource", "context"} on stdin and writes
a JSON list of "PERMITTED" | "DENIED" | "NEUTRAL" on stdout. Used by
crates/policy/tests/differential.rs as an independent oracle.
"""
import json
import sys

from moto.iam.access_control import IAMPolicy

cases = json.load(sys.stdin)
out = []
for c in cases:
    try:
        r = IAMPolicy(json.dumps(c["policy"])).is_action_permitted(
            c["action"], c["resource"], None, c["context"]
        )
        out.append(r.name)
    except Exception as e:  # moto raises on shapes it does not support
        out.append("ERROR: " + type(e).__name__)
json.dump(out, sys.stdout)
