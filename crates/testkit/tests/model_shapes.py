"""The strict check of a JSON protocol response against a botocore shape, shared by the suites
that drive AWS JSON 1.1 APIs (ecr_boto.py, secrets_boto.py): every key a member, required members
present, types right (timestamps epoch-second numbers, blobs base64), enums in range, lengths and
patterns held, no nulls. Raises AssertionError naming the path of the first violation."""
import base64
import re


def within(md, n, what, path):
    if "min" in md:
        assert n >= md["min"], f"{path}: {what} {n} below min {md['min']}"
    if "max" in md:
        assert n <= md["max"], f"{path}: {what} {n} above max {md['max']}"


def walk(shape, v, path):
    assert v is not None, f"{path}: null"
    t, md = shape.type_name, shape.metadata
    if t == "structure":
        assert isinstance(v, dict), f"{path}: expected object, got {v!r}"
        for req in shape.required_members:
            assert req in v, f"{path}: required member {req} missing in {sorted(v)}"
        for k, x in v.items():
            assert k in shape.members, f"{path}: unknown member {k!r} (model has {sorted(shape.members)})"
            walk(shape.members[k], x, f"{path}.{k}")
    elif t == "list":
        assert isinstance(v, list), f"{path}: expected list, got {v!r}"
        within(md, len(v), "length", path)
        for i, x in enumerate(v):
            walk(shape.member, x, f"{path}[{i}]")
    elif t == "map":
        assert isinstance(v, dict), f"{path}: expected map, got {v!r}"
        within(md, len(v), "size", path)
        for k, x in v.items():
            walk(shape.key, k, f"{path}<key>")
            walk(shape.value, x, f"{path}[{k!r}]")
    elif t == "string":
        assert isinstance(v, str), f"{path}: expected string, got {v!r}"
        if shape.enum:
            assert v in shape.enum, f"{path}: {v!r} not in {shape.enum}"
        within(md, len(v), "length", path)
        if "pattern" in md:
            assert re.fullmatch(md["pattern"], v), f"{path}: {v!r} does not match {md['pattern']!r}"
    elif t in ("integer", "long"):
        assert isinstance(v, int) and not isinstance(v, bool), f"{path}: expected integer, got {v!r}"
        within(md, v, "value", path)
    elif t in ("float", "double"):
        assert isinstance(v, (int, float)) and not isinstance(v, bool), f"{path}: expected number, got {v!r}"
        within(md, v, "value", path)
    elif t == "boolean":
        assert isinstance(v, bool), f"{path}: expected boolean, got {v!r}"
    elif t == "timestamp":
        assert isinstance(v, (int, float)) and not isinstance(v, bool), f"{path}: timestamp must be a number, got {v!r}"
        # Epoch seconds: milliseconds would land past the year 2286. Zero is allowed, as ECR sends
        # it for a lifecycle policy never evaluated.
        assert 0 <= v < 10_000_000_000, f"{path}: {v!r} is not epoch seconds"
    elif t == "blob":
        assert isinstance(v, str), f"{path}: blob must be a base64 string, got {v!r}"
        decoded = base64.b64decode(v, validate=True)
        within(md, len(decoded), "decoded length", path)
    else:
        raise AssertionError(f"{path}: unhandled shape type {t}")
