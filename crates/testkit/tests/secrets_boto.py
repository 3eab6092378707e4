"""Drives the Secrets Manager operations of the server with boto3 and checks each raw response
against botocore's Secrets Manager model, strictly: every key a member, required members present,
types right (timestamps epoch-second numbers, blobs base64), enums in range, lengths held, no
nulls. Errors must carry a `__type` the operation models or a generic name (auth, validation),
status 400 (AccessDeniedException too, as Secrets Manager answers it; 500 for InternalServiceError), and never a secret value.

Also: idempotency tokens, the rotation of AWSCURRENT/AWSPREVIOUS, scheduled and forced deletion,
pagination and filters, malformed and oversized input (with botocore's own validation off, and raw
signed requests), and a user whose policy allows one secret's GetSecretValue only.

Usage: python3 secrets_boto.py BASE_URL   (admin credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)
Prints one line per check (`ok` or `FAIL`) and `ALL OK` at the end; exits 1 when anything failed.
"""
import base64
import datetime
import json
import re
import sys
import time
import traceback
import urllib.error
import urllib.request
import uuid

import boto3
import botocore
import botocore.auth
import botocore.awsrequest
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

BASE = sys.argv[1].rstrip("/")
REGION = "us-east-1"
ACCOUNT = "123456789012"
PREFIX = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"})
LOOSE = CONFIG.merge(Config(parameter_validation=False))

SESSION = botocore.session.get_session()
MODEL = SESSION.get_service_model("secretsmanager")
SERVED = ["CreateSecret", "PutSecretValue", "DescribeSecret", "ListSecrets", "DeleteSecret",
          "GetSecretValue", "TagResource"]
GENERIC_ERRORS = {
    "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
    "IncompleteSignatureException", "MissingAuthenticationTokenException", "ExpiredTokenException",
    "ThrottlingException", "ValidationException", "SerializationException",
    "UnknownOperationException",
}

FAILURES = []
PROBLEMS = []
COVERED = set()
# Every value this script stores: no error message or response other than GetSecretValue's may
# hold one.
VALUES = []
VALIDATED = [0]  # raw responses the model check saw: proof the hook is wired


from model_shapes import walk, within  # noqa: E402,F401


def no_values(text, where):
    for value in VALUES:
        assert value not in text, f"{where} holds a secret value"


def validate_raw(op, resp):
    VALIDATED[0] += 1
    status, headers, body = resp["status_code"], resp["headers"], resp["body"]
    assert headers.get("x-amzn-RequestId"), f"no x-amzn-RequestId header (status {status})"
    ctype = headers.get("Content-Type", "")
    assert ctype.startswith("application/x-amz-json-1.1"), f"Content-Type {ctype!r}"
    text = body.decode() if isinstance(body, bytes) else body
    doc = json.loads(text)
    assert isinstance(doc, dict), f"body is not a JSON object: {text[:200]!r}"
    if status == 200:
        if op.name != "GetSecretValue":
            no_values(text, f"{op.name}'s response")
        if op.output_shape is None:
            assert doc == {}, f"output without a model shape: {doc}"
        else:
            walk(op.output_shape, doc, op.name)
        return
    no_values(text, f"{op.name}'s error")
    kind = doc.get("__type")
    modelled = {e.name: e for e in op.error_shapes}
    assert kind in modelled or kind in GENERIC_ERRORS, (
        f"status {status}, __type {kind!r} is neither modelled for {op.name} ({sorted(modelled)}) "
        f"nor generic: {text[:300]!r}")
    expected = {"InternalServiceError": 500}.get(kind, 400)
    assert status == expected, f"{kind} with status {status}"
    assert isinstance(doc.get("message"), str) and doc["message"], f"{kind} without a message: {doc}"


def on_before_parse(operation_model, response_dict, **_):
    try:
        validate_raw(operation_model, response_dict)
    except AssertionError as e:
        PROBLEMS.append(f"{operation_model.name}: raw response: {e}")


def client(service="secretsmanager", key=None, config=CONFIG):
    kw = {"aws_access_key_id": key[0], "aws_secret_access_key": key[1]} if key else {}
    c = boto3.session.Session().client(service, endpoint_url=BASE, region_name=REGION, config=config, **kw)
    if service == "secretsmanager":
        c.meta.events.register("before-parse.secrets-manager", on_before_parse)
    return c


SM = client()
LOOSE_SM = client(config=LOOSE)
IAM = client("iam")


def fail(what):
    FAILURES.append(what)
    print(f"FAIL {what}")


def flush():
    for p in PROBLEMS:
        fail(p)
    PROBLEMS.clear()


def check(cond, what):
    if cond:
        print(f"ok   {what}")
    else:
        fail(what)


def ok(op, why="", c=None, **kw):
    resp = getattr(c or SM, botocore.xform_name(op))(**kw)
    flush()
    meta = resp.pop("ResponseMetadata")
    assert meta["HTTPStatusCode"] == 200, meta
    COVERED.add(op)
    print(f"ok   {op}{': ' + why if why else ''}")
    return resp


def err(op, codes, why="", c=None, **kw):
    codes = (codes,) if isinstance(codes, str) else tuple(codes)
    label = f"{op} {why}".strip()
    try:
        getattr(c or SM, botocore.xform_name(op))(**kw)
    except ClientError as e:
        flush()
        code = e.response["Error"]["Code"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if code in codes:
            print(f"ok   {op} -> {code} ({status}){': ' + why if why else ''}")
        else:
            fail(f"{label}: expected {'/'.join(codes)}, got {code} ({status}): {e.response['Error'].get('Message')}")
        return e
    flush()
    fail(f"{label}: expected {'/'.join(codes)}, the call succeeded")
    return ClientError({"Error": {"Code": "(succeeded)", "Message": ""},
                        "ResponseMetadata": {"HTTPStatusCode": 200}}, op)


def message(e):
    return e.response["Error"].get("Message", "")


def status(e):
    return e.response["ResponseMetadata"]["HTTPStatusCode"]


def arn_of(name):
    return re.compile(re.escape(PREFIX + name) + r"-[A-Za-z0-9]{6}$")


def raw(target, body, content_type="application/x-amz-json-1.1"):
    """A request signed with the admin key, sent as is: (status, parsed body)."""
    creds = boto3.session.Session().get_credentials()
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=BASE + "/", data=body,
        headers={"Content-Type": content_type, "X-Amz-Target": f"secretsmanager.{target}"})
    botocore.auth.SigV4Auth(creds, "secretsmanager", REGION).add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=body, method="POST", headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, {"raw": text.decode(errors="replace")}


SECTIONS = []


def section(fn):
    SECTIONS.append(fn)
    return fn


# ---- the operations --------------------------------------------------------------------------

HUB = "ecr-pullthroughcache/docker-hub"
HUB_VALUE = json.dumps({"username": "portcullis-bot", "accessToken": "dckr_pat_" + uuid.uuid4().hex})
HUB_NEXT = json.dumps({"username": "portcullis-bot", "accessToken": "dckr_pat_" + uuid.uuid4().hex})
VALUES += [HUB_VALUE, HUB_NEXT]
STATE = {}


@section
def create_describe_get():
    out = ok("CreateSecret", "with a value, a description and tags", Name=HUB, SecretString=HUB_VALUE,
             Description="Docker Hub for the pull-through cache",
             Tags=[{"Key": "team", "Value": "ci"}, {"Key": "purpose", "Value": "cache"}])
    check(bool(arn_of(HUB).match(out["ARN"])), f"the ARN is the name's with a 6-character suffix: {out['ARN']}")
    check(out["Name"] == HUB and len(out.get("VersionId", "")) >= 32, "CreateSecret names the secret and its version")
    STATE["arn"], STATE["v1"] = out["ARN"], out["VersionId"]
    for how, sid in [("name", HUB), ("ARN", out["ARN"]), ("partial ARN", PREFIX + HUB)]:
        d = ok("DescribeSecret", f"by {how}", SecretId=sid)
        check(d["ARN"] == out["ARN"], f"DescribeSecret by {how} finds it")
    check(d["VersionIdsToStages"] == {out["VersionId"]: ["AWSCURRENT"]}, "the first version is AWSCURRENT")
    check(d["Description"] == "Docker Hub for the pull-through cache", "the description is kept")
    check(sorted((t["Key"], t["Value"]) for t in d["Tags"]) == [("purpose", "cache"), ("team", "ci")], "tags are kept")
    now = datetime.datetime.now(datetime.timezone.utc)
    check(abs((d["CreatedDate"] - now).total_seconds()) < 120, "CreatedDate is now")
    check("DeletedDate" not in d, "no DeletedDate before DeleteSecret")
    g = ok("GetSecretValue", SecretId=HUB)
    check(g["SecretString"] == HUB_VALUE and "SecretBinary" not in g, "GetSecretValue answers the value")
    check(json.loads(g["SecretString"]).keys() == {"username", "accessToken"}, "the value holds username and accessToken")
    check(g["VersionStages"] == ["AWSCURRENT"] and g["VersionId"] == out["VersionId"], "of the current version")
    err("CreateSecret", "ResourceExistsException", "the same name again", Name=HUB, SecretString=HUB_VALUE)
    err("DescribeSecret", "ResourceNotFoundException", "of a name never created", SecretId="no/such/secret")
    err("GetSecretValue", "ResourceNotFoundException", "of another suffix",
        SecretId=PREFIX + HUB + "-zzzzzz")


@section
def idempotency_tokens():
    token = str(uuid.uuid4())
    value = "token-value-" + uuid.uuid4().hex
    VALUES.append(value)
    first = ok("CreateSecret", "with a ClientRequestToken", Name="idem/one", SecretString=value, ClientRequestToken=token)
    again = ok("CreateSecret", "retried: the same token and value", Name="idem/one", SecretString=value,
               ClientRequestToken=token)
    check((first["ARN"], first["VersionId"]) == (again["ARN"], again["VersionId"]) == (first["ARN"], token),
          "a retried CreateSecret answers the first request's ARN and VersionId")
    e = err("CreateSecret", "ResourceExistsException", "the token with another value", Name="idem/one",
            SecretString="other-" + value, ClientRequestToken=token)
    check(token in message(e), f"the refusal names the token: {message(e)}")
    put_token = str(uuid.uuid4())
    p1 = ok("PutSecretValue", "with a token", SecretId="idem/one", SecretString=value + "-2", ClientRequestToken=put_token)
    VALUES.append(value + "-2")
    p2 = ok("PutSecretValue", "retried", SecretId="idem/one", SecretString=value + "-2", ClientRequestToken=put_token)
    check(p1 == p2 and p1["VersionId"] == put_token, "a retried PutSecretValue changes nothing and answers the same")
    err("PutSecretValue", "ResourceExistsException", "the token with another value", SecretId="idem/one",
        SecretString=value + "-3", ClientRequestToken=put_token)
    d = ok("DescribeSecret", SecretId="idem/one")
    check(d["VersionIdsToStages"] == {token: ["AWSPREVIOUS"], put_token: ["AWSCURRENT"]},
          f"two versions, rotated once: {d['VersionIdsToStages']}")


@section
def rotation_of_stages():
    p = ok("PutSecretValue", SecretId=HUB, SecretString=HUB_NEXT)
    check(p["VersionStages"] == ["AWSCURRENT"] and p["ARN"] == STATE["arn"], "the new version is current")
    v2 = p["VersionId"]
    check(ok("GetSecretValue", "current", SecretId=HUB)["SecretString"] == HUB_NEXT, "AWSCURRENT moved")
    prev = ok("GetSecretValue", "AWSPREVIOUS", SecretId=HUB, VersionStage="AWSPREVIOUS")
    check(prev["SecretString"] == HUB_VALUE and prev["VersionId"] == STATE["v1"], "the old version is AWSPREVIOUS")
    by_id = ok("GetSecretValue", "by VersionId", SecretId=STATE["arn"], VersionId=STATE["v1"])
    check(by_id["VersionStages"] == ["AWSPREVIOUS"], "a version by id, with its labels")
    err("GetSecretValue", "InvalidRequestException", "a VersionId with a label it lacks", SecretId=HUB,
        VersionId=STATE["v1"], VersionStage="AWSCURRENT")
    err("GetSecretValue", "ResourceNotFoundException", "a label no version has", SecretId=HUB,
        VersionStage="AWSPENDING")
    staged = "staged-" + uuid.uuid4().hex
    VALUES.append(staged)
    s = ok("PutSecretValue", "labelled AWSPENDING only", SecretId=HUB, SecretString=staged, VersionStages=["AWSPENDING"])
    check(s["VersionStages"] == ["AWSPENDING"], "the version has the label asked for")
    check(ok("GetSecretValue", SecretId=HUB)["SecretString"] == HUB_NEXT, "and the current one stays")
    d = ok("DescribeSecret", SecretId=HUB)
    check(d["VersionIdsToStages"] == {STATE["v1"]: ["AWSPREVIOUS"], v2: ["AWSCURRENT"], s["VersionId"]: ["AWSPENDING"]},
          f"VersionIdsToStages: {d['VersionIdsToStages']}")
    check(d["LastChangedDate"] >= d["CreatedDate"], "LastChangedDate moves with values")


@section
def binary_and_empty_secrets():
    data = bytes(range(256)) * 4
    VALUES.append(base64.b64encode(data).decode())
    ok("CreateSecret", "binary", Name="bin/blob", SecretBinary=data)
    g = ok("GetSecretValue", SecretId="bin/blob")
    check(g["SecretBinary"] == data and "SecretString" not in g, "SecretBinary comes back byte for byte")
    e = ok("CreateSecret", "without a value", Name="empty/one")
    check("VersionId" not in e, "no version without a value")
    d = ok("DescribeSecret", SecretId="empty/one")
    check("VersionIdsToStages" not in d, "and none described")
    err("GetSecretValue", "ResourceNotFoundException", "of a secret without a value", SecretId="empty/one")
    first = "first-value-" + uuid.uuid4().hex
    VALUES.append(first)
    p = ok("PutSecretValue", "the first value, labelled otherwise", SecretId="empty/one", SecretString=first,
           VersionStages=["BLUE"])
    check(sorted(p["VersionStages"]) == ["AWSCURRENT", "BLUE"], "the first version is current whatever its labels")
    err("PutSecretValue", "InvalidRequestException", "without a value", c=LOOSE_SM, SecretId="empty/one")


@section
def tags():
    ok("TagResource", SecretId=HUB, Tags=[{"Key": "team", "Value": "platform"}, {"Key": "tier", "Value": "1"}])
    d = ok("DescribeSecret", SecretId=HUB)
    check(sorted((t["Key"], t["Value"]) for t in d["Tags"]) == [("purpose", "cache"), ("team", "platform"), ("tier", "1")],
          "TagResource adds and overwrites")
    err("TagResource", "ResourceNotFoundException", "of a missing secret", SecretId="no/such", Tags=[{"Key": "a", "Value": "b"}])
    err("TagResource", "InvalidParameterException", "a reserved key", SecretId=HUB, Tags=[{"Key": "aws:owner", "Value": "x"}])
    many = [{"Key": f"k{i:02}", "Value": "v"} for i in range(48)]
    err("TagResource", "InvalidParameterException", "past 50 tags", SecretId=HUB, Tags=many)


@section
def listing():
    for i in range(5):
        ok("CreateSecret", f"list/{i}", Name=f"list/{i}", SecretString=f"listed-{i}", Tags=[{"Key": "n", "Value": str(i)}])
        VALUES.append(f"listed-{i}")
    pages = list(SM.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 2}))
    flush()
    names = [s["Name"] for p in pages for s in p["SecretList"]]
    check(len(pages) >= 4 and all(len(p["SecretList"]) <= 2 for p in pages),
          f"the paginator walks pages of 2 ({len(pages)} pages)")
    check(len(names) == len(set(names)) and names == sorted(names), "no secret twice, in name order")
    check({"list/0", "list/4", HUB, "bin/blob"} <= set(names), "every secret is listed")
    COVERED.add("ListSecrets")
    entry = next(s for p in pages for s in p["SecretList"] if s["Name"] == HUB)
    check(entry["ARN"] == STATE["arn"] and "AWSCURRENT" in sum(entry["SecretVersionsToStages"].values(), []),
          "an entry carries the ARN and the versions' labels")
    f = ok("ListSecrets", "filtered by name", Filters=[{"Key": "name", "Values": ["list/"]}])
    check([s["Name"] for s in f["SecretList"]] == [f"list/{i}" for i in range(5)], "a name filter is a prefix")
    f = ok("ListSecrets", "filtered by tag", Filters=[{"Key": "tag-key", "Values": ["n"]}, {"Key": "tag-value", "Values": ["3"]}])
    check([s["Name"] for s in f["SecretList"]] == ["list/3"], "filters together: all of them")
    f = ok("ListSecrets", "negated", Filters=[{"Key": "name", "Values": ["!list/"]}])
    check(not any(s["Name"].startswith("list/") for s in f["SecretList"]) and f["SecretList"], "`!` negates")
    one = ok("ListSecrets", "MaxResults 1", MaxResults=1)
    check(len(one["SecretList"]) == 1 and one.get("NextToken"), "a page of one with a NextToken")
    nxt = ok("ListSecrets", "from the NextToken", MaxResults=1, NextToken=one["NextToken"])
    check(nxt["SecretList"][0]["Name"] > one["SecretList"][0]["Name"], "the next page goes on")
    err("ListSecrets", "InvalidNextTokenException", "a forged NextToken", NextToken="!!not-a-token!!")


@section
def deletion():
    name = "del/scheduled"
    doomed = "doomed-" + uuid.uuid4().hex
    VALUES.append(doomed)
    created = ok("CreateSecret", name, Name=name, SecretString=doomed)
    err("DeleteSecret", "InvalidParameterException", "both ways at once", SecretId=name,
        RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True)
    err("DeleteSecret", "InvalidParameterException", "a window of 3 days", SecretId=name, RecoveryWindowInDays=3)
    d = ok("DeleteSecret", "with a 7-day window", SecretId=name, RecoveryWindowInDays=7)
    days = (d["DeletionDate"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400
    check(6.9 < days < 7.1 and d["ARN"] == created["ARN"], f"DeletionDate is 7 days ahead ({days:.2f})")
    e = err("GetSecretValue", "InvalidRequestException", "of a secret scheduled for deletion", SecretId=name)
    check("marked for deletion" in message(e), f"as AWS says it: {message(e)}")
    desc = ok("DescribeSecret", "scheduled for deletion", SecretId=name)
    check("DeletedDate" in desc, "DescribeSecret shows DeletedDate")
    err("PutSecretValue", "InvalidRequestException", "to a secret scheduled for deletion", SecretId=name, SecretString="x")
    err("CreateSecret", "InvalidRequestException", "its name while it waits", Name=name, SecretString="x")
    err("DeleteSecret", "InvalidRequestException", "again", SecretId=name)
    names = [s["Name"] for s in ok("ListSecrets", "without planned deletions", MaxResults=100)["SecretList"]]
    check(name not in names, "ListSecrets leaves it out")
    names = [s["Name"] for s in ok("ListSecrets", "IncludePlannedDeletion", MaxResults=100,
                                   IncludePlannedDeletion=True)["SecretList"]]
    check(name in names, "unless asked")
    ok("DeleteSecret", "forced, while scheduled", SecretId=name, ForceDeleteWithoutRecovery=True)
    err("DescribeSecret", "ResourceNotFoundException", "after a forced deletion", SecretId=name)
    reborn = "reborn-" + uuid.uuid4().hex
    VALUES.append(reborn)
    again = ok("CreateSecret", "the name again", Name=name, SecretString=reborn)
    check(again["ARN"] != created["ARN"], "a secret created again is another ARN")
    f = ok("DeleteSecret", "forced at once", SecretId=again["ARN"], ForceDeleteWithoutRecovery=True)
    check(abs((f["DeletionDate"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 120, "DeletionDate is now")
    err("DeleteSecret", "ResourceNotFoundException", "of a missing secret", SecretId="no/such")


@section
def malformed_and_oversized():
    v = LOOSE_SM
    err("CreateSecret", "ValidationException", "a 600-character name", c=v, Name="n" * 600, SecretString="x")
    err("CreateSecret", "InvalidParameterException", "a name with a space", c=v, Name="bad name", SecretString="x")
    err("CreateSecret", "ValidationException", "a 3000-character description", c=v, Name="ok/desc",
        SecretString="x", Description="d" * 3000)
    big = "B" * 70000
    e = err("CreateSecret", "ValidationException", "a 70000-character value", c=v, Name="ok/big", SecretString=big)
    check("BBBBBBBB" not in message(e), "the refusal does not quote the value")
    err("CreateSecret", "ValidationException", "an empty value", c=v, Name="ok/empty", SecretString="")
    err("CreateSecret", "InvalidParameterException", "both value kinds", c=v, Name="ok/both", SecretString="x",
        SecretBinary=b"y")
    err("CreateSecret", "ValidationException", "a short ClientRequestToken", c=v, Name="ok/tok", SecretString="x",
        ClientRequestToken="short")
    err("CreateSecret", "InvalidParameterException", "a KMS key", c=v, Name="ok/kms", SecretString="x", KmsKeyId="alias/x")
    err("CreateSecret", "InvalidParameterException", "51 tags", c=v, Name="ok/tags", SecretString="x",
        Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    err("GetSecretValue", "ValidationException", "an empty SecretId", c=v, SecretId="")
    err("GetSecretValue", "ValidationException", "a 3000-character SecretId", c=v, SecretId="s" * 3000)
    err("ListSecrets", "ValidationException", "MaxResults 500", c=v, MaxResults=500)
    err("ListSecrets", "ValidationException", "a filter key not in the model", c=v, Filters=[{"Key": "colour", "Values": ["x"]}])
    err("ListSecrets", "ValidationException", "a filter value outside the pattern", c=v,
        Filters=[{"Key": "name", "Values": ["semi;colon"]}])
    err("PutSecretValue", "ValidationException", "21 labels", c=v, SecretId=HUB, SecretString="x",
        VersionStages=[f"S{i}" for i in range(21)])
    for what, body, code in [
        ("a body that is not JSON", b'{"Name": "x", "SecretString": "hunter', "SerializationException"),
        ("a JSON array", b'["x"]', "SerializationException"),
        ("a number for Name", b'{"Name": 5, "SecretString": "x"}', "ValidationException"),
        ("a missing Name", b'{"SecretString": "x"}', "ValidationException"),
        ("a 2 MiB body", json.dumps({"Name": "huge", "SecretString": "h" * (2 * 1024 * 1024)}).encode(),
         "ValidationException"),
    ]:
        st, doc = raw("CreateSecret", body)
        check(st == 400 and doc.get("__type") == code, f"raw CreateSecret with {what}: {code} (got {st} {doc.get('__type')})")
        check("hunter" not in json.dumps(doc), f"the refusal of {what} quotes nothing of it")
    st, doc = raw("UpdateSecret", b'{"SecretId": "x"}')
    check(st == 400 and doc.get("__type") == "UnknownOperationException", f"an operation not served says so ({doc})")


@section
def least_privilege():
    other = ok("CreateSecret", "another secret", Name="ecr-pullthroughcache/ghcr", SecretString="ghcr-token-value")
    VALUES.append("ghcr-token-value")
    IAM.create_user(UserName="reader")
    IAM.put_user_policy(UserName="reader", PolicyName="one-secret", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": STATE["arn"]}],
    }))
    key = IAM.create_access_key(UserName="reader")["AccessKey"]
    reader = client(key=(key["AccessKeyId"], key["SecretAccessKey"]))
    check(ok("GetSecretValue", "as the reader, its one secret", c=reader, SecretId=HUB)["SecretString"] == HUB_NEXT,
          "the reader reads the secret its policy names")
    user = f"arn:aws:iam::{ACCOUNT}:user/reader"
    e = err("GetSecretValue", "AccessDeniedException", "as the reader, another secret", c=reader,
            SecretId="ecr-pullthroughcache/ghcr")
    check(status(e) == 400, "400, as Secrets Manager answers a refusal")
    check(message(e) == f"User: {user} is not authorized to perform: secretsmanager:GetSecretValue on resource: "
                        f"{other['ARN']} because no identity-based policy allows the secretsmanager:GetSecretValue action",
          f"AWS's sentence: {message(e)}")
    e = err("GetSecretValue", "AccessDeniedException", "as the reader, a secret that does not exist", c=reader,
            SecretId="ecr-pullthroughcache/nothing")
    check(f"on resource: {PREFIX}ecr-pullthroughcache/nothing because" in message(e),
          "a missing secret is refused like an existing one, not revealed")
    for op, kw in [
        ("DescribeSecret", {"SecretId": HUB}),
        ("PutSecretValue", {"SecretId": HUB, "SecretString": "overwrite"}),
        ("TagResource", {"SecretId": HUB, "Tags": [{"Key": "a", "Value": "b"}]}),
        ("DeleteSecret", {"SecretId": HUB, "ForceDeleteWithoutRecovery": True}),
        ("CreateSecret", {"Name": "reader/own", "SecretString": "x"}),
        ("ListSecrets", {}),
    ]:
        e = err(op, "AccessDeniedException", "as the reader", c=reader, **kw)
        check(status(e) == 400 and f"secretsmanager:{op} on resource" in message(e), f"{op}: 400 naming the action")
    check(ok("GetSecretValue", "still there", SecretId=HUB)["SecretString"] == HUB_NEXT, "nothing the reader tried changed it")

    # Resource tags are condition keys: `secretsmanager:ResourceTag/*` and `aws:ResourceTag/*`.
    IAM.create_user(UserName="by-tag")
    IAM.put_user_policy(UserName="by-tag", PolicyName="tagged", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
             "Resource": "*", "Condition": {"StringEquals": {"secretsmanager:ResourceTag/team": "platform"}}},
            {"Effect": "Deny", "Action": "secretsmanager:DescribeSecret", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/tier": "1"}}},
        ],
    }))
    key = IAM.create_access_key(UserName="by-tag")["AccessKey"]
    by_tag = client(key=(key["AccessKeyId"], key["SecretAccessKey"]))
    ok("GetSecretValue", "as by-tag, a secret tagged team=platform", c=by_tag, SecretId=HUB)
    err("DescribeSecret", "AccessDeniedException", "as by-tag, denied by aws:ResourceTag/tier", c=by_tag, SecretId=HUB)
    err("GetSecretValue", "AccessDeniedException", "as by-tag, an untagged secret", c=by_tag,
        SecretId="ecr-pullthroughcache/ghcr")
    ok("TagResource", "team=platform on the other secret", SecretId="ecr-pullthroughcache/ghcr",
       Tags=[{"Key": "team", "Value": "platform"}])
    ok("GetSecretValue", "as by-tag, once tagged", c=by_tag, SecretId="ecr-pullthroughcache/ghcr")


def main():
    for fn in SECTIONS:
        try:
            fn()
        except Exception:
            fail(f"section {fn.__name__} abandoned:\n{traceback.format_exc()}")
    check(VALIDATED[0] > 50, f"every raw response went through the model check ({VALIDATED[0]})")
    check(COVERED >= set(SERVED), f"every served operation succeeded at least once (missing {set(SERVED) - COVERED})")
    if FAILURES:
        print(f"\n{len(FAILURES)} failures:")
        for f in FAILURES:
            print(f"  {f}")
        sys.exit(1)
    print("ALL OK")


main()
