#!/usr/bin/env python3
"""Signs a batch of generated requests with botocore's own SigV4 signers and prints them as JSON.

Used by crates/auth/tests/sigv4_botocore.rs: every request printed here must verify with
portcullis_auth::sigv4, and fail after a one-byte change. Deterministic: the same seed gives the
same batch. Usage: botocore_sign.py [count] [seed]

Each case is what goes on the wire: method, raw path, raw query, the header list in order, the
body (hex), plus the secret, the service and the signing time the verifier needs.
"""

import datetime
import json
import random
import sys
from urllib.parse import quote, urlsplit

try:
    import botocore
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError:
    print("MISSING_BOTOCORE")
    sys.exit(3)

SERVICES = ["ecr", "iam", "sts"]
REGIONS = ["us-east-1", "eu-west-3", "ap-southeast-2", "local"]
HOSTS = ["127.0.0.1:5000", "localhost", "registry.example.internal:8443", "[::1]:5001"]

# Path pieces a client sends already percent-encoded: escapes, sub-delims, dot segments,
# doubled slashes, unreserved marks.
PATH_PIECES = [
    "v2", "team", "app", "team%2Fapp", "a%20b", "%E1%88%B4", "%25", "sha256:abc",
    "x!$&'()*+,;=", "~user", "-._~", ".", "..", "", "blobs", "uploads", "%7E", "%2e%2e",
    "caf%C3%A9", "@at",
]

# Query keys and values before encoding: repeated keys, empties, unicode, reserved characters.
QUERY_KEYS = ["Action", "Version", "a", "A", "b", "key with space", "ü", "x-amz-meta", "n", "Param-1", "~"]
QUERY_VALUES = [
    "", "1", "ListUsers", "2010-05-08", "a b", "a+b", "100%", "ሴ", "x/y", "=", "&", "~._-", "O'Neil",
    "日本",
]

HEADER_NAMES = ["x-custom", "X-Mixed-Case", "x-amz-meta-tag", "accept", "x-multi", "content-type"]
HEADER_VALUES = [
    "value", "  leading", "trailing  ", "inner   spaces   here", "\ttab\tseparated\t",
    "a, b", "application/x-amz-json-1.1", "x=y;z", "\"quoted  value\"", "",
]

TOKENS = [None, None, "FQoGZXIvYXdzEXAMPLETOKEN//////////wEaDA+/=", "IQoJb3JpZ2luX2VjEXAMPLE"]


def enc(s):
    return quote(s, safe="-_.~")


def gen_path(rng):
    n = rng.randint(0, 5)
    path = "/" + "/".join(rng.choice(PATH_PIECES) for _ in range(n))
    if rng.random() < 0.3:
        path += "/"
    return path


def gen_query(rng):
    pairs = []
    for _ in range(rng.randint(0, 5)):
        k = enc(rng.choice(QUERY_KEYS))
        v = rng.choice(QUERY_VALUES)
        if v == "" and rng.random() < 0.4:
            pairs.append(k)  # a key without '='
        else:
            pairs.append(k + "=" + enc(v))
    if pairs and rng.random() < 0.5:
        pairs.append(pairs[0])  # an exact repeat
    return "&".join(pairs)


def gen_body(rng, service, method):
    if method in ("GET", "HEAD", "DELETE"):
        return b""
    if service == "ecr":
        choices = [b"{}", b'{"repositoryName": "team/app"}', "{\"n\": \"ሴ\"}".encode()]
    else:
        choices = [b"Action=ListUsers&Version=2010-05-08", b"Action=GetCallerIdentity&Version=2011-06-15"]
    choices.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))))
    return rng.choice(choices)


def gen_time(rng):
    start = datetime.datetime(2015, 1, 1)
    return start + datetime.timedelta(seconds=rng.randrange(0, 20 * 365 * 86400))


def wire(request):
    parts = urlsplit(request.url)
    headers = [[k, v] for k, v in request.headers.items()]
    return parts.path, parts.query, headers


def sign_case(rng, index):
    service = rng.choice(SERVICES)
    region = rng.choice(REGIONS)
    presigned = rng.random() < 0.3
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
    if presigned:
        method = rng.choice(["GET", "DELETE", "HEAD"])
    host = rng.choice(HOSTS)
    path = gen_path(rng)
    query = gen_query(rng)
    body = gen_body(rng, service, method)
    url = "http://" + host + path + ("?" + query if query else "")

    request = AWSRequest(method=method, url=url, data=body)
    request.headers["Host"] = host
    for _ in range(rng.randint(0, 4)):
        # HTTPHeaders appends on assignment, so a repeated name gives a multi-valued header.
        request.headers[rng.choice(HEADER_NAMES)] = rng.choice(HEADER_VALUES)
    if service == "ecr" and method == "POST":
        request.headers["X-Amz-Target"] = "AmazonEC2ContainerRegistry_V20150921.CreateRepository"
    if not presigned and rng.random() < 0.2:
        request.headers["X-Amz-Content-SHA256"] = botocore.auth.UNSIGNED_PAYLOAD
    if rng.random() < 0.3:
        request.headers["User-Agent"] = "aws-cli/1.0   Python/3"  # never signed by botocore

    akid = "AKIDEXAMPLE%04d" % index
    secret = "secret/%d+%s" % (index, rng.choice(["wJalrXUtnFEMI", "K7MDENG", "bPxRfiCY"]))
    token = rng.choice(TOKENS)
    creds = Credentials(akid, secret, token)
    when = gen_time(rng)
    botocore.auth.get_current_datetime = lambda: when
    expires = None
    if presigned:
        expires = rng.choice([1, 60, 3600, 604800])
        botocore.auth.SigV4QueryAuth(creds, service, region, expires=expires).add_auth(request)
    else:
        botocore.auth.SigV4Auth(creds, service, region).add_auth(request)
    raw_path, raw_query, headers = wire(request)
    return {
        "id": index,
        "service": service,
        "form": "presigned" if presigned else "header",
        "method": method,
        "path": raw_path,
        "query": raw_query,
        "headers": headers,
        # SigV4QueryAuth moves a form body into the query; what is left is sent.
        "body_hex": (request.body or b"").hex() if isinstance(request.body or b"", bytes) else request.body.encode().hex(),
        "secret": secret,
        "akid": akid,
        "token": token,
        "now": int(when.replace(tzinfo=datetime.timezone.utc).timestamp()),
        "expires": expires,
    }


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    rng = random.Random(seed)
    cases = [sign_case(rng, i) for i in range(count)]
    json.dump({"botocore": botocore.__version__, "cases": cases}, sys.stdout)


if __name__ == "__main__":
    main()
