"""Drives every ECR operation of the server with boto3 and checks each raw response against
botocore's ECR model, strictly: every key a member, required members present, types right
(timestamps numbers, blobs base64), enums in range, lengths and patterns held, no nulls. Errors
must carry a `__type` the operation models (or an auth/throttling name), status 400 (500 only for
ServerException). Operations Portcullis does not serve yet must answer a modelled error saying the
feature is not available.

Usage: python3 ecr_boto.py BASE_URL   (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)
Prints one line per check (`ok` or `FAIL`) and `ALL OK` at the end. A failed check does not stop
the run; a section whose successful call fails is abandoned and the next one runs. The exit status is
1 when anything failed, with the failures listed last.
"""
import base64
import datetime
import hashlib
import json
import os
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
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

BASE = sys.argv[1].rstrip("/")
HOST = BASE.split("://", 1)[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"
MiB = 1024 * 1024
CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=300)

SESSION = botocore.session.get_session()
MODEL = SESSION.get_service_model("ecr")
PAGINATORS = SESSION.get_component("data_loader").load_service_model("ecr", "paginators-1")["pagination"]

# The operations the contract of issue 6 has the server implement; every other operation of the
# model must answer "not available".
CORE = {
    "GetAuthorizationToken",
    "CreateRepository", "DescribeRepositories", "DeleteRepository", "DescribeRegistry",
    "PutImage", "BatchGetImage", "BatchDeleteImage", "DescribeImages", "ListImages",
    "ListImageReferrers",
    "BatchCheckLayerAvailability", "InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload",
    "GetDownloadUrlForLayer",
    "SetRepositoryPolicy", "GetRepositoryPolicy", "DeleteRepositoryPolicy",
    "PutRegistryPolicy", "GetRegistryPolicy", "DeleteRegistryPolicy",
    "PutImageTagMutability",
    "PutLifecyclePolicy", "GetLifecyclePolicy", "DeleteLifecyclePolicy",
    "StartLifecyclePolicyPreview", "GetLifecyclePolicyPreview",
    "TagResource", "UntagResource", "ListTagsForResource",
    "CreatePullThroughCacheRule", "DescribePullThroughCacheRules", "UpdatePullThroughCacheRule",
    "DeletePullThroughCacheRule",
    "CreateRepositoryCreationTemplate", "DescribeRepositoryCreationTemplates",
    "UpdateRepositoryCreationTemplate", "DeleteRepositoryCreationTemplate",
    "GetAccountSetting", "PutAccountSetting",
}
assert CORE <= set(MODEL.operation_names), CORE - set(MODEL.operation_names)
NOT_YET = sorted(set(MODEL.operation_names) - CORE)

# Names any operation may answer (spec §2.3): authentication, authorization, throttling.
GENERIC_ERRORS = {
    "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
    "IncompleteSignatureException", "MissingAuthenticationTokenException",
    "ExpiredTokenException", "ThrottlingException",
}

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"

FAILURES = []
PROBLEMS = []      # raw-response violations found by the event handler, reported by the next check
COVERED = set()    # operations with at least one validated success
PAGINATED = set()  # operations driven through a botocore paginator
NOT_AVAILABLE = set()  # operations that answered "not available"
TOKEN = None       # the registry token (base64 "AWS:<password>") for /v2/ requests


# ---- strict response validation -----------------------------------------------------------

from model_shapes import walk, within  # noqa: E402,F401


def validate_raw(op, resp):
    status, headers, body = resp["status_code"], resp["headers"], resp["body"]
    assert headers.get("x-amzn-RequestId"), f"no x-amzn-RequestId header (status {status})"
    ctype = headers.get("Content-Type", "")
    assert ctype.startswith("application/x-amz-json-1.1"), f"Content-Type {ctype!r}"
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise AssertionError(f"body is not JSON ({e}): {body[:200]!r}")
    assert isinstance(doc, dict), f"body is not a JSON object: {body[:200]!r}"
    if status == 200:
        if op.output_shape is None:
            assert doc == {}, f"output without a model shape: {doc}"
        else:
            walk(op.output_shape, doc, op.name)
        return
    kind = doc.get("__type")
    modelled = {e.name: e for e in op.error_shapes}
    assert kind in modelled or kind in GENERIC_ERRORS, (
        f"status {status}, __type {kind!r} is neither modelled for {op.name} ({sorted(modelled)}) "
        f"nor an auth/throttling name: {body[:300]!r}"
    )
    assert status == (500 if kind == "ServerException" else 400), f"{kind} with status {status}"
    assert isinstance(doc.get("message"), str) and doc["message"], f"{kind} without a message: {doc}"
    if kind in modelled:
        walk(modelled[kind], {k: v for k, v in doc.items() if k != "__type"}, f"{op.name}!{kind}")


def on_before_parse(operation_model, response_dict, **_):
    try:
        validate_raw(operation_model, response_dict)
    except AssertionError as e:
        PROBLEMS.append(f"{operation_model.name}: raw response: {e}")


def ecr_client(access_key=None, secret_key=None, signed=True):
    cfg = CONFIG if signed else CONFIG.merge(Config(signature_version=UNSIGNED))
    kw = {}
    if access_key:
        kw = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
    c = boto3.session.Session().client("ecr", endpoint_url=BASE, region_name=REGION, config=cfg, **kw)
    c.meta.events.register("before-parse.ecr", on_before_parse)
    return c


ECR = ecr_client()


def fail(what):
    FAILURES.append(what)
    print(f"FAIL {what}")


def flush():
    for p in PROBLEMS:
        fail(p)
    PROBLEMS.clear()


def method(client, op):
    return getattr(client, botocore.xform_name(op))


def ok(op, why="", client=None, **kw):
    """Calls op, which must succeed, and returns the parsed output."""
    resp = method(client or ECR, op)(**kw)
    flush()
    meta = resp.pop("ResponseMetadata")
    assert meta["HTTPStatusCode"] == 200, meta
    assert meta.get("RequestId"), f"{op}: no RequestId"
    COVERED.add(op)
    print(f"ok   {op}{': ' + why if why else ''}")
    return resp


def err(op, codes, why="", client=None, **kw):
    """Calls op, which must fail with one of `codes`; returns the ClientError (a stand-in when the
    call succeeded, so that the caller's further checks fail rather than crash)."""
    codes = (codes,) if isinstance(codes, str) else tuple(codes)
    label = f"{op} {why}".strip()
    try:
        method(client or ECR, op)(**kw)
    except ClientError as e:
        flush()
        code = e.response["Error"]["Code"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if code in codes:
            print(f"ok   {op} -> {code}{': ' + why if why else ''}")
        else:
            fail(f"{label}: expected {'/'.join(codes)}, got {code} ({status}): {e.response['Error'].get('Message')}")
        return e
    flush()
    fail(f"{label}: expected {'/'.join(codes)}, the call succeeded")
    return ClientError({"Error": {"Code": "(succeeded)", "Message": ""}, "ResponseMetadata": {"HTTPStatusCode": 200}}, op)


def paginate(op, key, page_size, min_pages=2, **kw):
    """Every page through botocore's paginator: it must end, respect the page size, repeat nothing."""
    pages = []
    for page in ECR.get_paginator(botocore.xform_name(op)).paginate(
        PaginationConfig={"PageSize": page_size}, **kw
    ):
        flush()
        pages.append(page)
        if len(pages) > 1000:
            fail(f"{op}: pagination does not end")
            break
    items = [x for p in pages for x in p.get(key, [])]
    keys = [json.dumps(x, sort_keys=True, default=str) for x in items]
    check(all(len(p.get(key, [])) <= page_size for p in pages), f"{op}: every page holds <= {page_size} items")
    check(len(set(keys)) == len(keys), f"{op}: no item on two pages")
    check(len(pages) >= min_pages, f"{op}: paginator, {len(items)} items in {len(pages)} pages (>= {min_pages})")
    COVERED.add(op)
    PAGINATED.add(op)
    return items


def check(cond, what):
    if cond:
        print(f"ok   {what}")
    else:
        fail(what)


SECTIONS = []


def section(fn):
    SECTIONS.append(fn)
    return fn


# ---- registry (/v2/) helpers ----------------------------------------------------------------

def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def http(method_, url, body=None, headers=None, auth=True):
    url = url if url.startswith("http") else BASE + url
    h = dict(headers or {})
    if auth:
        h["Authorization"] = "Basic " + TOKEN
    req = urllib.request.Request(url, data=body, method=method_, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def push_blob(repo, data, token=None):
    """Monolithic upload over /v2/ (POST then PUT ?digest=); returns (status, body) of the failing step."""
    hdr = {"Authorization": "Basic " + token} if token else None
    st, h, b = http("POST", f"/v2/{repo}/blobs/uploads/", b"", hdr, auth=token is None)
    if st != 202:
        return st, b
    loc = h["Location"]
    url = loc if loc.startswith("http") else BASE + loc
    url += ("&" if "?" in url else "?") + "digest=" + sha(data)
    st, _, b = http("PUT", url, data, {"Content-Type": "application/octet-stream", **(hdr or {})}, auth=token is None)
    return st, b


def put_manifest(repo, ref, data, media_type=OCI_MANIFEST, token=None):
    hdr = {"Content-Type": media_type}
    if token:
        hdr["Authorization"] = "Basic " + token
    st, _, b = http("PUT", f"/v2/{repo}/manifests/{ref}", data, hdr, auth=token is None)
    return st, b


def descriptor(data, media_type):
    return {"mediaType": media_type, "digest": sha(data), "size": len(data)}


def image_manifest(config, layers, note=None, subject=None, artifact_type=None, with_media_type=True,
                   config_type=OCI_CONFIG):
    m = {"schemaVersion": 2}
    if with_media_type:
        m["mediaType"] = OCI_MANIFEST
    if artifact_type:
        m["artifactType"] = artifact_type
    m["config"] = descriptor(config, config_type)
    m["layers"] = [descriptor(layer, OCI_LAYER) for layer in layers]
    if subject:
        m["subject"] = descriptor(subject, OCI_MANIFEST)
    if note is not None:
        m["annotations"] = {"org.example.note": str(note)}
    return json.dumps(m, separators=(",", ":")).encode()


def index_manifest(children):
    m = {"schemaVersion": 2, "mediaType": OCI_INDEX,
         "manifests": [descriptor(c, OCI_MANIFEST) for c in children]}
    return json.dumps(m, separators=(",", ":")).encode()


def config_blob(n=0):
    return json.dumps({"architecture": "amd64", "os": "linux", "n": n,
                       "rootfs": {"type": "layers", "diff_ids": []}}).encode()


def push_image(repo, tag, note, token=None):
    """Blobs then manifest over /v2/; returns the first failing (status, body), or the manifest's."""
    cfg, layer = config_blob(note), f"layer {note}".encode()
    for blob in (cfg, layer):
        st, b = push_blob(repo, blob, token)
        if st != 201:
            return st, b
    return put_manifest(repo, tag, image_manifest(cfg, [layer], note), token=token)


def oci_error(body):
    try:
        return json.loads(body)["errors"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        raise AssertionError(f"not an OCI error body: {body[:300]!r}")


def repo_arn(name):
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"


def user_with_policy(name, actions):
    """An IAM user allowed `actions` on every resource; returns its (key id, secret)."""
    iam = boto3.session.Session().client("iam", endpoint_url=BASE, region_name=REGION, config=CONFIG)
    iam.create_user(UserName=name)
    if actions:
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(doc))
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def set_user_policy(name, actions):
    iam = boto3.session.Session().client("iam", endpoint_url=BASE, region_name=REGION, config=CONFIG)
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(doc))


# ---- sections ---------------------------------------------------------------------------------

@section
def authorization_token():
    global TOKEN
    before = time.time()
    out = ok("GetAuthorizationToken")
    data = out["authorizationData"]
    check(len(data) == 1, "GetAuthorizationToken: one authorizationData entry")
    d = data[0]
    user, _, password = base64.b64decode(d["authorizationToken"]).decode().partition(":")
    check(user == "AWS" and password and ":" not in password, "token is base64 of AWS:<password without a colon>")
    check(d["proxyEndpoint"] == BASE, f"proxyEndpoint is {BASE}")
    left = d["expiresAt"].timestamp() - before
    check(12 * 3600 - 120 < left < 12 * 3600 + 120, f"token expires in 12 hours ({left:.0f} s)")
    TOKEN = d["authorizationToken"]
    ok("GetAuthorizationToken", "registryIds of this registry", registryIds=[ACCOUNT])
    st, _, _ = http("GET", "/v2/")
    check(st == 200, "GET /v2/ with Basic AWS:<password> is 200")
    st, h, _ = http("GET", "/v2/", auth=False)
    check(st == 401 and h.get("WWW-Authenticate", "").startswith("Basic realm="),
          "GET /v2/ without credentials is 401 with a Basic challenge")


@section
def auth_errors():
    err("DescribeRepositories", "InvalidSignatureException", "wrong secret",
        client=ecr_client(os.environ["AWS_ACCESS_KEY_ID"], "not-the-secret"))
    err("DescribeRepositories", "UnrecognizedClientException", "unknown access key",
        client=ecr_client("AKIAUNKNOWNKEY000000", "whatever-secret"))
    err("DescribeRepositories", "MissingAuthenticationTokenException", "unsigned", client=ecr_client(signed=False))
    real_now = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: real_now() - datetime.timedelta(minutes=20)
    try:
        e = err("DescribeRepositories", "InvalidSignatureException", "signed 20 minutes ago")
    finally:
        botocore.auth.get_current_datetime = real_now
    msg = e.response["Error"]["Message"]
    check(msg.startswith("Signature expired"), f"the message says the signature expired: {msg}")
    key, secret = user_with_policy("boto-nobody", [])
    e = err("DescribeRepositories", "AccessDeniedException", "user without a policy", client=ecr_client(key, secret),
            repositoryNames=["boto/anything"])
    msg = e.response["Error"]["Message"]
    check("not authorized to perform: ecr:DescribeRepositories" in msg, f"AccessDenied names the action: {msg}")


@section
def repositories():
    now = time.time()
    a = ok("CreateRepository", "defaults", repositoryName="boto/repo-a",
           tags=[{"Key": "team", "Value": "a"}])["repository"]
    check(a["repositoryArn"] == repo_arn("boto/repo-a"), "repositoryArn")
    check(a["registryId"] == ACCOUNT, "registryId")
    check(a["repositoryUri"] == f"{HOST}/boto/repo-a", "repositoryUri is host/name")
    check(abs(a["createdAt"].timestamp() - now) < 120, "createdAt is now")
    check(a["imageTagMutability"] == "MUTABLE", "imageTagMutability defaults to MUTABLE")
    check(a["encryptionConfiguration"] == {"encryptionType": "AES256"}, "encryption defaults to AES256")
    check(a["imageScanningConfiguration"] == {"scanOnPush": False}, "scanOnPush defaults to false")
    b = ok("CreateRepository", "IMMUTABLE, scanOnPush", repositoryName="boto/repo-b",
           imageTagMutability="IMMUTABLE", encryptionConfiguration={"encryptionType": "AES256"},
           imageScanningConfiguration={"scanOnPush": True})["repository"]
    check(b["imageTagMutability"] == "IMMUTABLE" and b["imageScanningConfiguration"] == {"scanOnPush": True},
          "settings stored as given")
    filters = [{"filterType": "WILDCARD", "filter": "latest*"}, {"filterType": "WILDCARD", "filter": "dev-*"}]
    c = ok("CreateRepository", "IMMUTABLE_WITH_EXCLUSION", repositoryName="boto/repo-c",
           imageTagMutability="IMMUTABLE_WITH_EXCLUSION", imageTagMutabilityExclusionFilters=filters)["repository"]
    check(c["imageTagMutabilityExclusionFilters"] == filters, "exclusion filters returned")
    ok("CreateRepository", "MUTABLE_WITH_EXCLUSION", repositoryName="boto/repo-d",
       imageTagMutability="MUTABLE_WITH_EXCLUSION", imageTagMutabilityExclusionFilters=filters[:1])
    ok("CreateRepository", repositoryName="boto/repo-e")
    err("CreateRepository", "InvalidParameterException", "MUTABLE with filters", repositoryName="boto/x1",
        imageTagMutability="MUTABLE", imageTagMutabilityExclusionFilters=filters)
    err("CreateRepository", "InvalidParameterException", "IMMUTABLE_WITH_EXCLUSION without filters",
        repositoryName="boto/x2", imageTagMutability="IMMUTABLE_WITH_EXCLUSION")
    err("CreateRepository", "InvalidParameterException", "filter outside its pattern", repositoryName="boto/x3",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "no spaces"}])
    err("CreateRepository", "InvalidParameterException", "bad mutability enum", repositoryName="boto/x4",
        imageTagMutability="SOMETIMES")
    err("CreateRepository", "RepositoryAlreadyExistsException", repositoryName="boto/repo-a")
    err("CreateRepository", "InvalidParameterException", "name outside the pattern", repositoryName="Bad_Name")
    err("CreateRepository", "TooManyTagsException", "51 tags", repositoryName="boto/x5",
        tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    err("CreateRepository", "InvalidTagParameterException", "129-character key", repositoryName="boto/x6",
        tags=[{"Key": "k" * 129, "Value": "v"}])
    err("CreateRepository", "InvalidTagParameterException", "257-character value", repositoryName="boto/x7",
        tags=[{"Key": "k", "Value": "v" * 257}])
    got = ok("DescribeRepositories", "by name", repositoryNames=["boto/repo-a", "boto/repo-b"])["repositories"]
    check({r["repositoryName"]: r for r in got} == {"boto/repo-a": a, "boto/repo-b": b},
          "DescribeRepositories returns what CreateRepository did")
    err("DescribeRepositories", "RepositoryNotFoundException", "one name missing",
        repositoryNames=["boto/repo-a", "boto/missing"])
    err("DescribeRepositories", "InvalidParameterException", "maxResults with repositoryNames",
        repositoryNames=["boto/repo-a"], maxResults=1)
    names = [r["repositoryName"] for r in paginate("DescribeRepositories", "repositories", 2)]
    check({f"boto/repo-{x}" for x in "abcde"} <= set(names), "pagination lists every repository")
    check(not {"boto/x1", "boto/x2", "boto/x3", "boto/x4", "boto/x5", "boto/x6", "boto/x7"} & set(names),
          "refused creations left nothing behind")
    gone = ok("DeleteRepository", repositoryName="boto/repo-e")["repository"]
    check(gone["repositoryName"] == "boto/repo-e", "DeleteRepository returns the repository")
    err("DeleteRepository", "RepositoryNotFoundException", repositoryName="boto/repo-e")
    err("DescribeRepositories", "RepositoryNotFoundException", repositoryNames=["boto/repo-e"])


@section
def registry():
    resp = ECR.describe_registry()
    flush()
    resp.pop("ResponseMetadata")
    COVERED.add("DescribeRegistry")
    check(resp == {"registryId": ACCOUNT, "replicationConfiguration": {"rules": []}},
          f"DescribeRegistry is exactly registryId + empty replication rules: {resp}")


@section
def tag_mutability():
    ok("CreateRepository", repositoryName="boto/mut")
    out = ok("PutImageTagMutability", repositoryName="boto/mut", imageTagMutability="IMMUTABLE")
    check(out == {"registryId": ACCOUNT, "repositoryName": "boto/mut", "imageTagMutability": "IMMUTABLE"},
          f"PutImageTagMutability echoes: {out}")
    filters = [{"filterType": "WILDCARD", "filter": "rel-*"}]
    out = ok("PutImageTagMutability", repositoryName="boto/mut", imageTagMutability="MUTABLE_WITH_EXCLUSION",
             imageTagMutabilityExclusionFilters=filters)
    check(out.get("imageTagMutabilityExclusionFilters") == filters, "filters echoed")
    r = ECR.describe_repositories(repositoryNames=["boto/mut"])["repositories"][0]
    flush()
    check(r["imageTagMutability"] == "MUTABLE_WITH_EXCLUSION" and r["imageTagMutabilityExclusionFilters"] == filters,
          "DescribeRepositories shows the new mutability")
    ok("PutImageTagMutability", "back to MUTABLE drops the filters", repositoryName="boto/mut",
       imageTagMutability="MUTABLE")
    r = ECR.describe_repositories(repositoryNames=["boto/mut"])["repositories"][0]
    flush()
    check("imageTagMutabilityExclusionFilters" not in r, "no filters on a MUTABLE repository")
    err("PutImageTagMutability", "InvalidParameterException", "IMMUTABLE with filters", repositoryName="boto/mut",
        imageTagMutability="IMMUTABLE", imageTagMutabilityExclusionFilters=filters)
    err("PutImageTagMutability", "InvalidParameterException", "MUTABLE_WITH_EXCLUSION without filters",
        repositoryName="boto/mut", imageTagMutability="MUTABLE_WITH_EXCLUSION")
    err("PutImageTagMutability", "RepositoryNotFoundException", repositoryName="boto/missing",
        imageTagMutability="IMMUTABLE")


@section
def tagging():
    ok("CreateRepository", repositoryName="boto/tags", tags=[{"Key": "team", "Value": "a"}])
    arn = repo_arn("boto/tags")
    out = ok("TagResource", resourceArn=arn, tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "b"}])
    check(out == {}, "TagResource answers {}")
    tags = ok("ListTagsForResource", resourceArn=arn)["tags"]
    check(sorted((t["Key"], t["Value"]) for t in tags) == [("env", "prod"), ("team", "b")],
          "tags added and the existing key overwritten")
    ok("UntagResource", resourceArn=arn, tagKeys=["env"])
    tags = ok("ListTagsForResource", resourceArn=arn)["tags"]
    check([(t["Key"], t["Value"]) for t in tags] == [("team", "b")], "UntagResource removed the key")
    ok("TagResource", "empty value", resourceArn=arn, tags=[{"Key": "empty", "Value": ""}])
    err("TagResource", "TooManyTagsException", "2 + 49 = 51 tags", resourceArn=arn,
        tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    ok("TagResource", "up to 50 tags", resourceArn=arn, tags=[{"Key": f"k{i}", "Value": "v"} for i in range(48)])
    check(len(ECR.list_tags_for_resource(resourceArn=arn)["tags"]) == 50, "50 tags stored")
    err("TagResource", "TooManyTagsException", "the 51st tag", resourceArn=arn, tags=[{"Key": "one-more", "Value": "v"}])
    ok("TagResource", "overwriting a key at 50 tags", resourceArn=arn, tags=[{"Key": "k0", "Value": "w"}])
    err("TagResource", "InvalidTagParameterException", "129-character key", resourceArn=arn,
        tags=[{"Key": "k" * 129, "Value": "v"}])
    err("TagResource", "InvalidTagParameterException", "empty key", resourceArn=arn, tags=[{"Key": "", "Value": "v"}])
    err("TagResource", "InvalidTagParameterException", "257-character value", resourceArn=arn,
        tags=[{"Key": "k0", "Value": "v" * 257}])
    err("TagResource", "RepositoryNotFoundException", resourceArn=repo_arn("boto/missing"),
        tags=[{"Key": "k", "Value": "v"}])
    err("UntagResource", "RepositoryNotFoundException", resourceArn=repo_arn("boto/missing"), tagKeys=["k"])
    err("ListTagsForResource", "RepositoryNotFoundException", resourceArn=repo_arn("boto/missing"))
    err("ListTagsForResource", "InvalidParameterException", "not an ARN", resourceArn="not-an-arn")
    err("TagResource", "InvalidParameterException", "not a repository ARN",
        resourceArn=f"arn:aws:ecr:{REGION}:{ACCOUNT}:something/else", tags=[{"Key": "k", "Value": "v"}])


POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "pull", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/ci"},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]})
REGISTRY_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "replicate", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
    "Action": "ecr:BatchGetImage", "Resource": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*"}]})


@section
def policies():
    ok("CreateRepository", repositoryName="boto/policy")
    err("GetRepositoryPolicy", "RepositoryPolicyNotFoundException", repositoryName="boto/policy")
    err("DeleteRepositoryPolicy", "RepositoryPolicyNotFoundException", repositoryName="boto/policy")
    out = ok("SetRepositoryPolicy", repositoryName="boto/policy", policyText=POLICY)
    check(out["registryId"] == ACCOUNT and out["repositoryName"] == "boto/policy"
          and json.loads(out["policyText"]) == json.loads(POLICY), "SetRepositoryPolicy echoes the policy")
    out = ok("GetRepositoryPolicy", repositoryName="boto/policy")
    check(json.loads(out["policyText"]) == json.loads(POLICY), "GetRepositoryPolicy returns it")
    out = ok("DeleteRepositoryPolicy", repositoryName="boto/policy")
    check(json.loads(out["policyText"]) == json.loads(POLICY), "DeleteRepositoryPolicy returns it")
    err("GetRepositoryPolicy", "RepositoryPolicyNotFoundException", "after delete", repositoryName="boto/policy")
    err("SetRepositoryPolicy", "InvalidParameterException", "not JSON", repositoryName="boto/policy", policyText="{")
    err("SetRepositoryPolicy", "RepositoryNotFoundException", repositoryName="boto/missing", policyText=POLICY)
    err("GetRepositoryPolicy", "RepositoryNotFoundException", repositoryName="boto/missing")
    err("DeleteRepositoryPolicy", "RepositoryNotFoundException", repositoryName="boto/missing")
    err("GetRegistryPolicy", "RegistryPolicyNotFoundException")
    err("DeleteRegistryPolicy", "RegistryPolicyNotFoundException")
    out = ok("PutRegistryPolicy", policyText=REGISTRY_POLICY)
    check(out["registryId"] == ACCOUNT and json.loads(out["policyText"]) == json.loads(REGISTRY_POLICY),
          "PutRegistryPolicy echoes the policy")
    check(json.loads(ok("GetRegistryPolicy")["policyText"]) == json.loads(REGISTRY_POLICY),
          "GetRegistryPolicy returns it")
    check(json.loads(ok("DeleteRegistryPolicy")["policyText"]) == json.loads(REGISTRY_POLICY),
          "DeleteRegistryPolicy returns it")
    err("GetRegistryPolicy", "RegistryPolicyNotFoundException", "after delete")
    err("PutRegistryPolicy", ("InvalidParameterException", "ValidationException"), "not JSON", policyText="{")


@section
def layers_through_the_api():
    repo = "boto/layers"
    ok("CreateRepository", repositoryName=repo)
    layer = os.urandom(15 * MiB + 12345)
    layer_digest = sha(layer)
    up = ok("InitiateLayerUpload", repositoryName=repo)
    check(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", up["uploadId"]) is not None
          and up["partSize"] == 5 * MiB, f"InitiateLayerUpload: UUID upload id, partSize 5242880 ({up['partSize']})")
    uid = up["uploadId"]
    bounds = [(0, 5 * MiB), (5 * MiB, 10 * MiB), (10 * MiB, len(layer))]
    for n, (lo, hi) in enumerate(bounds):
        out = ok("UploadLayerPart", f"part {n + 1} of 3, {hi - lo} bytes", repositoryName=repo, uploadId=uid,
                 partFirstByte=lo, partLastByte=hi - 1, layerPartBlob=layer[lo:hi])
        check(out == {"registryId": ACCOUNT, "repositoryName": repo, "uploadId": uid, "lastByteReceived": hi - 1},
              f"UploadLayerPart echoes lastByteReceived {hi - 1}")
        if n == 0:
            e = err("UploadLayerPart", "InvalidLayerPartException", "a gap after part 1", repositoryName=repo,
                    uploadId=uid, partFirstByte=hi + 1, partLastByte=hi + 10, layerPartBlob=b"x" * 10)
            check(e.response.get("lastValidByteReceived") == hi - 1,
                  f"InvalidLayerPartException carries lastValidByteReceived {hi - 1}: {e.response.get('lastValidByteReceived')}")
            err("UploadLayerPart", ("InvalidLayerPartException", "InvalidParameterException"),
                "byte range and blob length disagree", repositoryName=repo, uploadId=uid,
                partFirstByte=hi, partLastByte=hi + 99, layerPartBlob=b"x" * 10)
    out = ok("CompleteLayerUpload", repositoryName=repo, uploadId=uid, layerDigests=[layer_digest])
    check(out == {"registryId": ACCOUNT, "repositoryName": repo, "uploadId": uid, "layerDigest": layer_digest},
          "CompleteLayerUpload returns the layer digest")
    err("CompleteLayerUpload", "UploadNotFoundException", "the upload is gone once complete", repositoryName=repo,
        uploadId=uid, layerDigests=[layer_digest])
    err("UploadLayerPart", "UploadNotFoundException", "unknown upload id", repositoryName=repo,
        uploadId=str(uuid.uuid4()), partFirstByte=0, partLastByte=0, layerPartBlob=b"x")
    err("InitiateLayerUpload", "RepositoryNotFoundException", repositoryName="boto/missing")
    ok("CreateRepository", repositoryName="boto/layers-other")
    foreign = ok("InitiateLayerUpload", "in another repository", repositoryName="boto/layers-other")["uploadId"]
    err("UploadLayerPart", "UploadNotFoundException", "an upload id of another repository", repositoryName=repo,
        uploadId=foreign, partFirstByte=0, partLastByte=0, layerPartBlob=b"x")

    def upload(data, parts):
        u = ECR.initiate_layer_upload(repositoryName=repo)["uploadId"]
        flush()
        pos = 0
        for size in parts:
            ECR.upload_layer_part(repositoryName=repo, uploadId=u, partFirstByte=pos,
                                  partLastByte=pos + size - 1, layerPartBlob=data[pos:pos + size])
            flush()
            pos += size
        return u

    config = config_blob(42)
    u = upload(config, [len(config)])
    ok("CompleteLayerUpload", "a config blob in one small part", repositoryName=repo, uploadId=u,
       layerDigests=[sha(config)])
    u = upload(config, [len(config)])
    err("CompleteLayerUpload", "LayerAlreadyExistsException", repositoryName=repo, uploadId=u,
        layerDigests=[sha(config)])
    u = upload(b"some bytes", [10])
    err("CompleteLayerUpload", "InvalidLayerException", "digest mismatch", repositoryName=repo, uploadId=u,
        layerDigests=[sha(b"other bytes")])
    u = ECR.initiate_layer_upload(repositoryName=repo)["uploadId"]
    err("CompleteLayerUpload", "EmptyUploadException", repositoryName=repo, uploadId=u, layerDigests=[sha(b"")])
    small = os.urandom(2 * MiB)
    u = upload(small, [MiB, MiB])
    err("CompleteLayerUpload", "LayerPartTooSmallException", "1 MiB first part", repositoryName=repo, uploadId=u,
        layerDigests=[sha(small)])
    orphan = os.urandom(1000)
    u = upload(orphan, [len(orphan)])
    ok("CompleteLayerUpload", "a blob no image references", repositoryName=repo, uploadId=u,
       layerDigests=[sha(orphan)])

    absent = sha(b"never uploaded")
    out = ok("BatchCheckLayerAvailability", repositoryName=repo,
             layerDigests=[layer_digest, sha(config), absent, "not-a-digest"])
    layers = {x["layerDigest"]: x for x in out["layers"]}
    failures = {x["layerDigest"]: x for x in out.get("failures", [])}
    check(layers[layer_digest]["layerAvailability"] == "AVAILABLE" and layers[layer_digest]["layerSize"] == len(layer),
          "the uploaded layer is AVAILABLE with its size")
    check(layers[sha(config)]["layerAvailability"] == "AVAILABLE", "the config blob is AVAILABLE")
    check((absent in layers and layers[absent]["layerAvailability"] == "UNAVAILABLE")
          or failures.get(absent, {}).get("failureCode") == "MissingLayerDigest",
          "an absent digest is UNAVAILABLE or MissingLayerDigest")
    check(failures.get("not-a-digest", {}).get("failureCode") == "InvalidLayerDigest",
          "a malformed digest is an InvalidLayerDigest failure")
    err("BatchCheckLayerAvailability", "RepositoryNotFoundException", repositoryName="boto/missing",
        layerDigests=[layer_digest])

    manifest = image_manifest(config, [layer])
    img = ok("PutImage", "a manifest over API-uploaded blobs", repositoryName=repo, imageManifest=manifest.decode(),
             imageTag="api")["image"]
    check(img["imageId"] == {"imageDigest": sha(manifest), "imageTag": "api"}, "PutImage returns the image id")
    st, h, got = http("GET", f"/v2/{repo}/manifests/api", headers={"Accept": OCI_MANIFEST})
    check(st == 200 and got == manifest, "GET /v2/ manifest returns the same bytes")
    check(h.get("Docker-Content-Digest") == sha(manifest), "with its Docker-Content-Digest")
    st, _, got = http("GET", f"/v2/{repo}/blobs/{layer_digest}")
    check(st == 200 and sha(got) == layer_digest and len(got) == len(layer), "GET /v2/ layer blob returns the same bytes")
    st, _, got = http("GET", f"/v2/{repo}/blobs/{sha(config)}")
    check(st == 200 and got == config, "GET /v2/ config blob returns the same bytes")

    out = ok("GetDownloadUrlForLayer", repositoryName=repo, layerDigest=layer_digest)
    url = out["downloadUrl"]
    check(out["layerDigest"] == layer_digest and url.startswith(BASE + "/"), f"an absolute URL on this server: {url[:80]}")
    with urllib.request.urlopen(url, timeout=300) as r:  # no Authorization header
        got = r.read()
    check(sha(got) == layer_digest, "the download URL serves the layer without credentials")
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    st, _, _ = http("GET", tampered, auth=False)
    check(st == 403, f"a URL with its last character changed is refused with 403 (got {st})")
    if layer_digest.split(":")[1] in url:
        st, _, _ = http("GET", url.replace(layer_digest.split(":")[1], sha(config).split(":")[1]), auth=False)
        check(st == 403, f"the URL does not open another blob (got {st})")
    cfg_url = ok("GetDownloadUrlForLayer", "config", repositoryName=repo, layerDigest=sha(config))["downloadUrl"]
    check(cfg_url != url, "each blob has its own URL")
    err("GetDownloadUrlForLayer", "LayersNotFoundException", "absent digest", repositoryName=repo, layerDigest=absent)
    err("GetDownloadUrlForLayer", "LayerInaccessibleException", "blob in no image", repositoryName=repo,
        layerDigest=sha(orphan))
    err("GetDownloadUrlForLayer", "RepositoryNotFoundException", repositoryName="boto/missing", layerDigest=layer_digest)


@section
def images():
    repo = "boto/images"
    ok("CreateRepository", repositoryName=repo)
    cfg, l1, l2 = config_blob(1), os.urandom(1000), os.urandom(3000)
    empty = b"{}"
    for blob in (cfg, l1, l2, empty):
        st, b = push_blob(repo, blob)
        assert st == 201, (st, b)
    start = time.time()
    m1, m2, m3, m4 = (image_manifest(cfg, [l1], 1), image_manifest(cfg, [l1, l2], 2),
                      image_manifest(cfg, [l1], 3), image_manifest(cfg, [l2], 4))
    d1, d2, d3, d4 = sha(m1), sha(m2), sha(m3), sha(m4)
    img = ok("PutImage", repositoryName=repo, imageManifest=m1.decode(), imageTag="v1")["image"]
    check(img == {"registryId": ACCOUNT, "repositoryName": repo, "imageId": {"imageDigest": d1, "imageTag": "v1"},
                  "imageManifest": m1.decode(), "imageManifestMediaType": OCI_MANIFEST},
          "PutImage returns registryId, repositoryName, imageId, imageManifest, imageManifestMediaType")
    err("PutImage", "ImageAlreadyExistsException", "same manifest, same tag", repositoryName=repo,
        imageManifest=m1.decode(), imageTag="v1")
    ok("PutImage", "a second tag on the same image", repositoryName=repo, imageManifest=m1.decode(), imageTag="v1-alias")
    ok("PutImage", "with the right imageDigest", repositoryName=repo, imageManifest=m2.decode(), imageTag="v2",
       imageDigest=d2)
    err("PutImage", "ImageDigestDoesNotMatchException", repositoryName=repo, imageManifest=m3.decode(),
        imageDigest="sha256:" + "0" * 64)
    err("PutImage", "LayersNotFoundException", "a layer not in the repository", repositoryName=repo,
        imageManifest=image_manifest(cfg, [b"nowhere"]).decode(), imageTag="broken")
    err("PutImage", "ReferencedImagesNotFoundException", "an index over a missing child", repositoryName=repo,
        imageManifest=index_manifest([m1, b"missing child"]).decode(), imageTag="broken-index")
    err("PutImage", "RepositoryNotFoundException", repositoryName="boto/missing", imageManifest=m1.decode())
    no_type = image_manifest(cfg, [l2], "no-type", with_media_type=False)
    err("PutImage", "InvalidParameterException", "no mediaType in the manifest nor the request", repositoryName=repo,
        imageManifest=no_type.decode())
    out = ok("PutImage", "imageManifestMediaType for a manifest without mediaType", repositoryName=repo,
             imageManifest=no_type.decode(), imageTag="nomt", imageManifestMediaType=OCI_MANIFEST)["image"]
    check(out["imageManifestMediaType"] == OCI_MANIFEST, "the given media type is kept")
    err("PutImage", "InvalidParameterException", "not a manifest", repositoryName=repo, imageManifest="{\"hello\":1}")
    err("PutImage", "InvalidParameterException", "a tag outside the tag grammar", repositoryName=repo,
        imageManifest=m3.decode(), imageTag="!bad")
    big = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(cfg, OCI_CONFIG),
                      "layers": [descriptor(l1, OCI_LAYER)], "annotations": {"pad": "x" * (4 * MiB)}})
    err("PutImage", "InvalidParameterException", "a manifest over 4 MiB", repositoryName=repo, imageManifest=big)
    idx = index_manifest([m1, m2])
    out = ok("PutImage", "an index", repositoryName=repo, imageManifest=idx.decode(), imageTag="multi")["image"]
    check(out["imageManifestMediaType"] == OCI_INDEX, "index media type from the manifest")
    ok("PutImage", "untagged", repositoryName=repo, imageManifest=m3.decode())
    err("PutImage", "ImageAlreadyExistsException", "the same untagged image again", repositoryName=repo,
        imageManifest=m3.decode())
    ok("PutImage", "moving tag v2 in a mutable repository", repositoryName=repo, imageManifest=m4.decode(), imageTag="v2")
    d_nomt, d_idx = sha(no_type), sha(idx)

    ids = ok("ListImages", repositoryName=repo)["imageIds"]
    pairs = {(i.get("imageDigest"), i.get("imageTag")) for i in ids}
    want = {(d1, "v1"), (d1, "v1-alias"), (d_nomt, "nomt"), (d_idx, "multi"), (d4, "v2"), (d2, None), (d3, None)}
    check(pairs == want and len(ids) == len(want), f"ListImages: one entry per (digest, tag), untagged by digest: {ids}")
    untagged = ok("ListImages", "UNTAGGED", repositoryName=repo, filter={"tagStatus": "UNTAGGED"})["imageIds"]
    check({i["imageDigest"] for i in untagged} == {d2, d3} and all("imageTag" not in i for i in untagged),
          "the image that lost its tag is untagged")
    tagged = ok("ListImages", "TAGGED", repositoryName=repo, filter={"tagStatus": "TAGGED"})["imageIds"]
    check(len(tagged) == 5 and all(i.get("imageTag") for i in tagged), "TAGGED lists the tags")
    check(len(ok("ListImages", "ANY", repositoryName=repo, filter={"tagStatus": "ANY"})["imageIds"]) == 7, "ANY lists all")
    paged = paginate("ListImages", "imageIds", 2, repositoryName=repo)
    check(len(paged) == 7, "ListImages pages cover every entry")
    err("ListImages", "RepositoryNotFoundException", repositoryName="boto/missing")

    details = {d["imageDigest"]: d for d in ok("DescribeImages", repositoryName=repo)["imageDetails"]}
    check(set(details) == {d1, d2, d3, d4, d_nomt, d_idx}, "DescribeImages lists every image once")
    size1, size2 = len(cfg) + len(l1), len(cfg) + len(l1) + len(l2)
    check(details[d1]["imageSizeInBytes"] == size1, f"imageSizeInBytes = config + layers ({details[d1]['imageSizeInBytes']} vs {size1})")
    check(details[d2]["imageSizeInBytes"] == size2, "imageSizeInBytes for two layers")
    check(details[d_idx]["imageSizeInBytes"] == max(size1, size2), "an index's size is its largest child")
    check(sorted(details[d1]["imageTags"]) == ["v1", "v1-alias"], "imageTags")
    check("imageTags" not in details[d3], "imageTags omitted for an untagged image")
    check(details[d1]["artifactMediaType"] == OCI_CONFIG, "artifactMediaType is the config media type")
    check(details[d1]["imageManifestMediaType"] == OCI_MANIFEST, "imageManifestMediaType")
    check(all(start - 5 <= d["imagePushedAt"].timestamp() <= time.time() + 5 for d in details.values()),
          "imagePushedAt is the push time")
    check(all(d.get("imageStatus", "ACTIVE") == "ACTIVE" for d in details.values()), "imageStatus ACTIVE")
    un = ok("DescribeImages", "UNTAGGED", repositoryName=repo, filter={"tagStatus": "UNTAGGED"})["imageDetails"]
    check({d["imageDigest"] for d in un} == {d2, d3}, "DescribeImages filter UNTAGGED")
    tg = ok("DescribeImages", "TAGGED", repositoryName=repo, filter={"tagStatus": "TAGGED"})["imageDetails"]
    check({d["imageDigest"] for d in tg} == {d1, d4, d_nomt, d_idx}, "DescribeImages filter TAGGED")
    one = ok("DescribeImages", "by id", repositoryName=repo, imageIds=[{"imageTag": "v1"}, {"imageDigest": d3}])
    check({d["imageDigest"] for d in one["imageDetails"]} == {d1, d3}, "DescribeImages by tag and digest")
    err("DescribeImages", "ImageNotFoundException", repositoryName=repo, imageIds=[{"imageTag": "nope"}])
    err("DescribeImages", "RepositoryNotFoundException", repositoryName="boto/missing")
    paged = paginate("DescribeImages", "imageDetails", 2, repositoryName=repo)
    check({d["imageDigest"] for d in paged} == set(details), "DescribeImages pages cover every image")

    # Pulls are recorded at most once per minute per image.
    before_pull = time.time()
    st, _, got = http("GET", f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    check(st == 200 and got == m1, "a pull over /v2/ returns the manifest PutImage stored")
    # The server may record the pull after answering it; give it a moment.
    for _ in range(50):
        pulled = ECR.describe_images(repositoryName=repo, imageIds=[{"imageDigest": d1}])["imageDetails"][0]
        flush()
        t1 = pulled.get("lastRecordedPullTime")
        if t1 is not None:
            break
        time.sleep(0.1)
    check(t1 is not None and t1.timestamp() >= before_pull - 2, f"lastRecordedPullTime recorded by the pull: {t1}")
    http("GET", f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    time.sleep(0.5)
    again = ECR.describe_images(repositoryName=repo, imageIds=[{"imageDigest": d1}])["imageDetails"][0]
    flush()
    check(again.get("lastRecordedPullTime") == t1, "a second pull within the minute does not move it")

    got = ok("BatchGetImage", repositoryName=repo, imageIds=[
        {"imageTag": "v1"}, {"imageDigest": d2}, {"imageTag": "nope"}, {"imageDigest": d1, "imageTag": "v2"}, {},
        {"imageDigest": "sha256:zz"}, {"imageTag": "!bad"}])
    found = {(i["imageId"].get("imageDigest"), i["imageId"].get("imageTag")): i for i in got["images"]}
    check(found.get((d1, "v1"), {}).get("imageManifest") == m1.decode(), "BatchGetImage by tag")
    check(found.get((d2, None), {}).get("imageManifest") == m2.decode(), "BatchGetImage by digest")
    check(all(i.get("imageManifestMediaType") == OCI_MANIFEST for i in got["images"]), "with the manifest media type")
    codes = {json.dumps(f["imageId"], sort_keys=True): f["failureCode"] for f in got["failures"]}
    want = {json.dumps(k, sort_keys=True): v for k, v in [
        ({"imageTag": "nope"}, "ImageNotFound"), ({"imageDigest": d1, "imageTag": "v2"}, "ImageTagDoesNotMatchDigest"),
        ({}, "MissingDigestAndTag"), ({"imageDigest": "sha256:zz"}, "InvalidImageDigest"),
        ({"imageTag": "!bad"}, "InvalidImageTag")]}
    check(codes == want, f"BatchGetImage failures per id: {codes}")
    check(all(f.get("failureReason") for f in got["failures"]), "every failure has a reason")
    got = ok("BatchGetImage", "acceptedMediaTypes including the image's", repositoryName=repo,
             imageIds=[{"imageTag": "v1"}], acceptedMediaTypes=[OCI_MANIFEST, DOCKER_MANIFEST])
    check(len(got["images"]) == 1, "served when its media type is accepted")
    got = ok("BatchGetImage", "acceptedMediaTypes excluding the image's", repositoryName=repo,
             imageIds=[{"imageTag": "v1"}], acceptedMediaTypes=[DOCKER_MANIFEST])
    check(not got["images"] and len(got.get("failures", [])) == 1,
          f"not served in a media type the client did not accept: {got.get('failures')}")
    err("BatchGetImage", "RepositoryNotFoundException", repositoryName="boto/missing", imageIds=[{"imageTag": "v1"}])

    sbom = image_manifest(empty, [l1], subject=m1, artifact_type="application/vnd.example.sbom+json",
                          config_type=OCI_EMPTY)
    sig = image_manifest(empty, [l2], subject=m1, artifact_type="application/vnd.example.sig",
                         config_type=OCI_EMPTY)
    ok("PutImage", "a referrer (sbom)", repositoryName=repo, imageManifest=sbom.decode())
    ok("PutImage", "a referrer (signature)", repositoryName=repo, imageManifest=sig.decode())
    refs = ok("ListImageReferrers", repositoryName=repo, subjectId={"imageDigest": d1})["referrers"]
    check({(r["digest"], r["mediaType"], r.get("artifactType"), r["size"]) for r in refs}
          == {(sha(sbom), OCI_MANIFEST, "application/vnd.example.sbom+json", len(sbom)),
              (sha(sig), OCI_MANIFEST, "application/vnd.example.sig", len(sig))},
          "ListImageReferrers: digest, mediaType, artifactType, size of both referrers")
    only = ok("ListImageReferrers", "filter.artifactTypes", repositoryName=repo, subjectId={"imageDigest": d1},
              filter={"artifactTypes": ["application/vnd.example.sig"]})["referrers"]
    check([r["digest"] for r in only] == [sha(sig)], "filtered by artifact type")
    first = ok("ListImageReferrers", "maxResults 1", repositoryName=repo, subjectId={"imageDigest": d1}, maxResults=1)
    check(len(first["referrers"]) == 1 and first.get("nextToken"), "one referrer and a nextToken")
    second = ok("ListImageReferrers", "nextToken", repositoryName=repo, subjectId={"imageDigest": d1}, maxResults=1,
                nextToken=first["nextToken"])
    check(len(second["referrers"]) == 1 and second["referrers"][0]["digest"] != first["referrers"][0]["digest"],
          "the second page holds the other referrer")
    if second.get("nextToken"):
        third = ok("ListImageReferrers", "last page", repositoryName=repo, subjectId={"imageDigest": d1},
                   maxResults=1, nextToken=second["nextToken"])
        check(not third["referrers"] and not third.get("nextToken"), "then nothing")
    none = ok("ListImageReferrers", "an image without referrers", repositoryName=repo,
              subjectId={"imageDigest": d4})["referrers"]
    check(none == [], "no referrers")
    err("ListImageReferrers", "RepositoryNotFoundException", repositoryName="boto/missing",
        subjectId={"imageDigest": d1})
    ref_detail = ECR.describe_images(repositoryName=repo, imageIds=[{"imageDigest": sha(sbom)}])["imageDetails"][0]
    flush()
    check(ref_detail.get("subjectManifestDigest") == d1, "DescribeImages gives a referrer's subjectManifestDigest")

    out = ok("BatchDeleteImage", "a tag of an image with two", repositoryName=repo, imageIds=[{"imageTag": "v1-alias"}])
    check([i.get("imageTag") for i in out["imageIds"]] == ["v1-alias"] and not out.get("failures"),
          f"the deleted tag is reported: {out['imageIds']}")
    check(ECR.describe_images(repositoryName=repo, imageIds=[{"imageDigest": d1}])["imageDetails"][0]["imageTags"]
          == ["v1"], "the image keeps its other tag")
    out = ok("BatchDeleteImage", "ids that cannot be deleted", repositoryName=repo, imageIds=[
        {"imageDigest": d2}, {"imageTag": "nope"}, {}, {"imageDigest": "sha256:zz"}])
    codes = {json.dumps(f["imageId"], sort_keys=True): f["failureCode"] for f in out["failures"]}
    want = {json.dumps(k, sort_keys=True): v for k, v in [
        ({"imageDigest": d2}, "ImageReferencedByManifestList"), ({"imageTag": "nope"}, "ImageNotFound"),
        ({}, "MissingDigestAndTag"), ({"imageDigest": "sha256:zz"}, "InvalidImageDigest")]}
    check(codes == want and not out.get("imageIds"), f"BatchDeleteImage failures per id: {codes}")
    out = ok("BatchDeleteImage", "the index's only tag", repositoryName=repo, imageIds=[{"imageTag": "multi"}])
    check(len(out["imageIds"]) == 1, "deleted")
    err("DescribeImages", "ImageNotFoundException", "an image that lost its last tag is gone", repositoryName=repo,
        imageIds=[{"imageDigest": d_idx}])
    out = ok("BatchDeleteImage", "by digest, once no index holds it", repositoryName=repo,
             imageIds=[{"imageDigest": d2}, {"imageDigest": d3}])
    check({i["imageDigest"] for i in out["imageIds"]} == {d2, d3}, "both deleted")
    err("BatchDeleteImage", "RepositoryNotFoundException", repositoryName="boto/missing", imageIds=[{"imageTag": "v1"}])
    err("DeleteRepository", "RepositoryNotEmptyException", repositoryName=repo)
    ok("DeleteRepository", "force", repositoryName=repo, force=True)
    err("DescribeRepositories", "RepositoryNotFoundException", repositoryNames=[repo])


TAG_INVALID = ("The image tag '{tag}' already exists in the '{repo}' repository and cannot be overwritten "
               "because the tag is immutable.")


@section
def immutability():
    repo = "boto/immutable"
    ok("CreateRepository", repositoryName=repo, imageTagMutability="IMMUTABLE")
    cfg, layer = config_blob(7), os.urandom(500)
    for blob in (cfg, layer):
        st, b = push_blob(repo, blob)
        assert st == 201, (st, b)
    ma, mb = image_manifest(cfg, [layer], "a"), image_manifest(cfg, [layer], "b")

    def refused_push(tag, data):
        st, body = put_manifest(repo, tag, data)
        e = oci_error(body)
        check(st == 400 and e["code"] == "TAG_INVALID" and e["message"] == TAG_INVALID.format(tag=tag, repo=repo),
              f"registry push of another digest onto immutable {tag} is 400 TAG_INVALID: {st} {e}")

    ok("PutImage", repositoryName=repo, imageManifest=ma.decode(), imageTag="t1")
    err("PutImage", "ImageTagAlreadyExistsException", "IMMUTABLE", repositoryName=repo, imageManifest=mb.decode(),
        imageTag="t1")
    refused_push("t1", mb)
    st, body = put_manifest(repo, "t1", ma)
    check(st == 201, f"pushing the same digest again succeeds ({st} {body[:200]!r})")
    ok("PutImageTagMutability", repositoryName=repo, imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
       imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest*"}])
    ok("PutImage", repositoryName=repo, imageManifest=ma.decode(), imageTag="latest")
    ok("PutImage", "an excluded tag moves", repositoryName=repo, imageManifest=mb.decode(), imageTag="latest")
    st, _ = put_manifest(repo, "latest-x", ma)
    check(st == 201, "registry push to an excluded tag")
    st, _ = put_manifest(repo, "latest-x", mb)
    check(st == 201, "registry push moves an excluded tag")
    err("PutImage", "ImageTagAlreadyExistsException", "a tag outside the exclusions", repositoryName=repo,
        imageManifest=mb.decode(), imageTag="t1")
    ok("PutImageTagMutability", repositoryName=repo, imageTagMutability="MUTABLE_WITH_EXCLUSION",
       imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "prod-*"}])
    ok("PutImage", "t1 is mutable now", repositoryName=repo, imageManifest=mb.decode(), imageTag="t1")
    ok("PutImage", repositoryName=repo, imageManifest=ma.decode(), imageTag="prod-1")
    err("PutImage", "ImageTagAlreadyExistsException", "MUTABLE_WITH_EXCLUSION, excluded tag", repositoryName=repo,
        imageManifest=mb.decode(), imageTag="prod-1")
    refused_push("prod-1", mb)
    ok("PutImageTagMutability", repositoryName=repo, imageTagMutability="MUTABLE")
    ok("PutImage", "everything mutable", repositoryName=repo, imageManifest=mb.decode(), imageTag="prod-1")


LIFECYCLE = json.dumps({"rules": [
    {"rulePriority": 1, "description": "keep 10 prod",
     "selection": {"tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "imageCountMoreThan",
                   "countNumber": 10}, "action": {"type": "expire"}},
    {"rulePriority": 2, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                      "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}}]})


def rule(priority=1, action="expire", **selection):
    sel = {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}
    sel.update(selection)
    return {"rulePriority": priority, "selection": {k: v for k, v in sel.items() if v is not None},
            "action": {"type": action}}


def policy_text(doc):
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return text + " " * max(0, 100 - len(text))  # botocore checks the model's 100-character minimum


@section
def lifecycle():
    repo = "boto/lifecycle"
    ok("CreateRepository", repositoryName=repo)
    err("GetLifecyclePolicy", "LifecyclePolicyNotFoundException", repositoryName=repo)
    err("DeleteLifecyclePolicy", "LifecyclePolicyNotFoundException", repositoryName=repo)
    out = ok("PutLifecyclePolicy", repositoryName=repo, lifecyclePolicyText=LIFECYCLE)
    check(out["registryId"] == ACCOUNT and out["repositoryName"] == repo
          and json.loads(out["lifecyclePolicyText"]) == json.loads(LIFECYCLE), "PutLifecyclePolicy echoes the policy")
    out = ok("GetLifecyclePolicy", repositoryName=repo)
    check(json.loads(out["lifecyclePolicyText"]) == json.loads(LIFECYCLE), "GetLifecyclePolicy returns it")
    check("lastEvaluatedAt" in out, f"GetLifecyclePolicy returns lastEvaluatedAt: {sorted(out)}")
    bad = [
        ("no rules", {"rules": []}, ["rules"]),
        ("duplicate rulePriority", {"rules": [rule(1), rule(1, tagStatus="tagged", tagPrefixList=["a"])]},
         ["rulePriority", "priority"]),
        ("rulePriority 0", {"rules": [rule(0)]}, ["rulePriority", "priority"]),
        ("unknown tagStatus", {"rules": [rule(tagStatus="sometimes")]}, ["tagStatus"]),
        ("tagged without a tag list", {"rules": [rule(tagStatus="tagged")]}, ["tagPrefixList", "tagPatternList"]),
        ("untagged with a tag list", {"rules": [rule(tagPrefixList=["a"])]}, ["tagPrefixList", "tagPatternList"]),
        ("five wildcards", {"rules": [rule(tagStatus="tagged", tagPatternList=["a*b*c*d*e*f"])]},
         ["tagPatternList", "wildcard"]),
        ("unknown countType", {"rules": [rule(countType="sometimes")]}, ["countType"]),
        ("imageCountMoreThan with countUnit", {"rules": [rule(countUnit="days")]}, ["countUnit"]),
        ("sinceImagePushed without countUnit", {"rules": [rule(countType="sinceImagePushed")]}, ["countUnit"]),
        ("countNumber 0", {"rules": [rule(countNumber=0)]}, ["countNumber"]),
        ("unknown action", {"rules": [rule(action="delete")]}, ["action", "type"]),
        ("TRANSITION (archive storage class, not served)", {"rules": [rule(action="TRANSITION")]},
         ["action", "type", "transition"]),
        ("any before another rule", {"rules": [rule(1, tagStatus="any"), rule(2, tagStatus="tagged",
                                                                             tagPrefixList=["a"])]},
         ["any", "priority"]),
        ("not JSON", "{\"rules\": [", ["json", "parse", "policy"]),
    ]
    for why, doc, words in bad:
        e = err("PutLifecyclePolicy", "InvalidParameterException", why, repositoryName=repo,
                lifecyclePolicyText=policy_text(doc))
        msg = e.response["Error"]["Message"]
        check(any(w.lower() in msg.lower() for w in words), f"  the message names the problem ({'/'.join(words)}): {msg}")
    err("PutLifecyclePolicy", "RepositoryNotFoundException", repositoryName="boto/missing",
        lifecyclePolicyText=LIFECYCLE)
    err("GetLifecyclePolicy", "RepositoryNotFoundException", repositoryName="boto/missing")
    out = ok("DeleteLifecyclePolicy", repositoryName=repo)
    check(json.loads(out["lifecyclePolicyText"]) == json.loads(LIFECYCLE), "DeleteLifecyclePolicy returns it")
    err("GetLifecyclePolicy", "LifecyclePolicyNotFoundException", "after delete", repositoryName=repo)


@section
def lifecycle_preview():
    """Each operation once and the paginator; lifecycle_preview.py checks them in depth."""
    repo = "boto/preview"
    ok("CreateRepository", repositoryName=repo)
    for i in range(3):
        st, b = push_image(repo, f"v{i}", 700 + i)
        assert st == 201, (st, b)
        time.sleep(0.02)
    err("GetLifecyclePolicyPreview", "LifecyclePolicyPreviewNotFoundException", "before any start",
        repositoryName=repo)
    err("StartLifecyclePolicyPreview", "LifecyclePolicyNotFoundException", "without a policy or a candidate",
        repositoryName=repo)
    keep_one = policy_text({"rules": [rule(tagStatus="tagged", tagPrefixList=["v"])]})
    out = ok("StartLifecyclePolicyPreview", "a candidate", repositoryName=repo, lifecyclePolicyText=keep_one)
    check(out["status"] == "COMPLETE" and out["lifecyclePolicyText"] == keep_one, f"Start: {out}")
    out = ok("GetLifecyclePolicyPreview", repositoryName=repo)
    check(out["summary"]["expiringImageTotalCount"] == 2, f"two of three expire: {out['summary']}")
    items = paginate("GetLifecyclePolicyPreview", "previewResults", 1, repositoryName=repo)
    check([i["imageTags"] for i in items] == [["v0"], ["v1"]], f"  the two oldest: {items}")
    err("StartLifecyclePolicyPreview", "RepositoryNotFoundException", repositoryName="boto/missing")
    err("GetLifecyclePolicyPreview", "RepositoryNotFoundException", repositoryName="boto/missing")


@section
def creation_templates():
    out = ok("DescribeRepositoryCreationTemplates")
    check(out["registryId"] == ACCOUNT, "registryId")
    roots = [t for t in out["repositoryCreationTemplates"] if t["prefix"] == "ROOT"]
    check(len(roots) == 1, "a fresh registry has the ROOT template")
    root = roots[0]
    check(root["appliedFor"] == ["CREATE_ON_PUSH"] and root.get("imageTagMutability") == "MUTABLE"
          and root.get("encryptionConfiguration", {}).get("encryptionType") == "AES256"
          and not root.get("repositoryPolicy"), f"ROOT: CREATE_ON_PUSH, MUTABLE, AES256, no policy: {root}")
    got = ok("DescribeRepositoryCreationTemplates", "by prefix", prefixes=["ROOT"])["repositoryCreationTemplates"]
    check([t["prefix"] for t in got] == ["ROOT"], "one template for prefix ROOT")

    before = time.time()
    t = ok("CreateRepositoryCreationTemplate", prefix="boto/tpl", description="boto template",
           appliedFor=["CREATE_ON_PUSH"], imageTagMutability="IMMUTABLE",
           encryptionConfiguration={"encryptionType": "AES256"}, resourceTags=[{"Key": "from", "Value": "tpl"}],
           repositoryPolicy=POLICY, lifecyclePolicy=LIFECYCLE)
    tpl = t["repositoryCreationTemplate"]
    check(t["registryId"] == ACCOUNT and tpl["prefix"] == "boto/tpl" and tpl["imageTagMutability"] == "IMMUTABLE"
          and tpl["resourceTags"] == [{"Key": "from", "Value": "tpl"}] and tpl["description"] == "boto template"
          and json.loads(tpl["repositoryPolicy"]) == json.loads(POLICY)
          and json.loads(tpl["lifecyclePolicy"]) == json.loads(LIFECYCLE), "the template is returned as given")
    check(before - 5 <= tpl["createdAt"].timestamp() <= time.time() + 5, "createdAt")
    err("CreateRepositoryCreationTemplate", "TemplateAlreadyExistsException", prefix="boto/tpl",
        appliedFor=["CREATE_ON_PUSH"])
    err("CreateRepositoryCreationTemplate", ("InvalidParameterException", "ValidationException"), "bad appliedFor",
        prefix="boto/bad", appliedFor=["SOMETIMES"])
    err("CreateRepositoryCreationTemplate", ("InvalidParameterException", "ValidationException"), "bad prefix",
        prefix="Bad_Prefix", appliedFor=["CREATE_ON_PUSH"])
    ok("CreateRepositoryCreationTemplate", "a shorter prefix", prefix="boto", appliedFor=["CREATE_ON_PUSH"],
       resourceTags=[{"Key": "from", "Value": "boto"}])
    ok("CreateRepositoryCreationTemplate", "a longer prefix without CREATE_ON_PUSH", prefix="boto/tpl/repl",
       appliedFor=["REPLICATION"], resourceTags=[{"Key": "from", "Value": "repl"}])
    ok("CreateRepositoryCreationTemplate", prefix="boto/tpl3", appliedFor=["CREATE_ON_PUSH"])
    out = ok("UpdateRepositoryCreationTemplate", prefix="boto/tpl3", description="updated",
             imageTagMutability="IMMUTABLE")
    check(out["repositoryCreationTemplate"]["description"] == "updated"
          and out["repositoryCreationTemplate"]["imageTagMutability"] == "IMMUTABLE", "UpdateRepositoryCreationTemplate")
    err("UpdateRepositoryCreationTemplate", "TemplateNotFoundException", prefix="boto/none", description="x")
    prefixes = [t["prefix"] for t in paginate("DescribeRepositoryCreationTemplates", "repositoryCreationTemplates", 1)]
    check({"ROOT", "boto", "boto/tpl", "boto/tpl/repl", "boto/tpl3"} <= set(prefixes), "pages list every template")
    out = ok("DeleteRepositoryCreationTemplate", prefix="boto/tpl3")
    check(out["repositoryCreationTemplate"]["prefix"] == "boto/tpl3", "DeleteRepositoryCreationTemplate returns it")
    err("DeleteRepositoryCreationTemplate", "TemplateNotFoundException", prefix="boto/tpl3")

    def created_from(repo, tag_value, mutability):
        st, body = push_image(repo, "v1", repo)
        check(st == 201, f"push to missing {repo} creates it ({st} {body[:200]!r})")
        r = ECR.describe_repositories(repositoryNames=[repo])["repositories"][0]
        tags = ECR.list_tags_for_resource(resourceArn=r["repositoryArn"])["tags"]
        flush()
        check(r["imageTagMutability"] == mutability and [x["Value"] for x in tags if x["Key"] == "from"] == tag_value
              and r["encryptionConfiguration"] == {"encryptionType": "AES256"},
              f"  {repo}: {mutability}, AES256, tags {tags}")
        return r

    created_from("boto/tpl/app", ["tpl"], "IMMUTABLE")
    check(json.loads(ECR.get_repository_policy(repositoryName="boto/tpl/app")["policyText"]) == json.loads(POLICY),
          "  the template's repository policy is applied")
    check(json.loads(ECR.get_lifecycle_policy(repositoryName="boto/tpl/app")["lifecyclePolicyText"])
          == json.loads(LIFECYCLE), "  the template's lifecycle policy is applied")
    created_from("boto/tpl/repl/app", ["tpl"], "IMMUTABLE")  # boto/tpl/repl lacks CREATE_ON_PUSH
    created_from("boto/tplx/app", ["boto"], "MUTABLE")  # `prefix/` is the match, not a string prefix
    created_from("elsewhere/app", [], "MUTABLE")  # ROOT
    excl = [{"filterType": "WILDCARD", "filter": "latest"}]
    ok("CreateRepositoryCreationTemplate", "with exclusion filters", prefix="boto/excl", appliedFor=["CREATE_ON_PUSH"],
       imageTagMutability="IMMUTABLE_WITH_EXCLUSION", imageTagMutabilityExclusionFilters=excl)
    r = created_from("boto/excl/app", [], "IMMUTABLE_WITH_EXCLUSION")
    check(r.get("imageTagMutabilityExclusionFilters") == excl, "  with the template's exclusion filters")
    st, body = push_image("boto/tpl/app", "v1", "other")
    check(st == 400 and oci_error(body)["code"] == "TAG_INVALID", "the created repository is IMMUTABLE for pushes too")

    key, secret = user_with_policy("boto-pusher", [
        "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage"])
    pusher = ecr_client(key, secret)
    token = pusher.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    flush()
    st, _ = push_image("pushers/app", "v1", "p", token=token)
    check(st in (401, 403), f"create-on-push needs ecr:CreateRepository ({st})")
    err("DescribeRepositories", "RepositoryNotFoundException", "  nothing was created", repositoryNames=["pushers/app"])
    set_user_policy("boto-pusher", [
        "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage",
        "ecr:CreateRepository"])
    token = pusher.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    flush()
    st, body = push_image("pushers/app", "v1", "p", token=token)
    check(st == 201, f"with ecr:CreateRepository the push creates the repository ({st} {body[:200]!r})")

    ok("DeleteRepositoryCreationTemplate", "ROOT", prefix="ROOT")
    st, body = push_image("nomatch/app", "v1", "n")
    check(st == 404 and oci_error(body)["code"] == "NAME_UNKNOWN",
          f"without a matching template a push is 404 NAME_UNKNOWN ({st} {body[:200]!r})")
    err("DescribeRepositories", "RepositoryNotFoundException", "  nothing was created", repositoryNames=["nomatch/app"])
    ok("CreateRepositoryCreationTemplate", "ROOT back", prefix="ROOT", appliedFor=["CREATE_ON_PUSH"])
    st, _ = push_image("nomatch/app", "v1", "n")
    check(st == 201, "and with ROOT back it works")


@section
def account_settings():
    out = ok("GetAccountSetting", name="BASIC_SCAN_TYPE_VERSION")
    check(out == {"name": "BASIC_SCAN_TYPE_VERSION", "value": "AWS_NATIVE"}, f"BASIC_SCAN_TYPE_VERSION: {out}")
    out = ok("GetAccountSetting", name="REGISTRY_POLICY_SCOPE")
    check(out == {"name": "REGISTRY_POLICY_SCOPE", "value": "V2"}, f"REGISTRY_POLICY_SCOPE: {out}")
    out = ok("GetAccountSetting", name="BLOB_MOUNTING")
    check(out["name"] == "BLOB_MOUNTING" and out["value"] in ("ENABLED", "DISABLED"), f"BLOB_MOUNTING: {out}")
    for value in ("ENABLED", "DISABLED", "ENABLED"):
        out = ok("PutAccountSetting", f"BLOB_MOUNTING {value}", name="BLOB_MOUNTING", value=value)
        check(out == {"name": "BLOB_MOUNTING", "value": value}, "echoed")
        check(ECR.get_account_setting(name="BLOB_MOUNTING")["value"] == value, "  and stored")
    ok("PutAccountSetting", name="BASIC_SCAN_TYPE_VERSION", value="AWS_NATIVE")
    ok("PutAccountSetting", name="REGISTRY_POLICY_SCOPE", value="V2")
    bad = ("InvalidParameterException", "ValidationException")
    err("PutAccountSetting", bad, "BLOB_MOUNTING MAYBE", name="BLOB_MOUNTING", value="MAYBE")
    err("PutAccountSetting", bad, "REGISTRY_POLICY_SCOPE V1", name="REGISTRY_POLICY_SCOPE", value="V1")
    err("PutAccountSetting", bad, "unknown name", name="NO_SUCH_SETTING", value="x")
    err("GetAccountSetting", bad, "unknown name", name="NO_SUCH_SETTING")


@section
def pull_through_cache_rules():
    sm = boto3.session.Session().client("secretsmanager", endpoint_url=BASE, region_name=REGION, config=CONFIG)
    secret = sm.create_secret(Name="ecr-pullthroughcache/hub-" + uuid.uuid4().hex[:8],
                              SecretString=json.dumps({"username": "u", "accessToken": "t"}))["ARN"]
    out = ok("CreatePullThroughCacheRule", "Docker Hub with credentials",
             ecrRepositoryPrefix="hub", upstreamRegistryUrl="registry-1.docker.io", credentialArn=secret)
    check(out["upstreamRegistry"] == "docker-hub" and out["credentialArn"] == secret
          and out["registryId"] == ACCOUNT and out["upstreamRepositoryPrefix"] == "ROOT",
          f"  the kind inferred from the host, the secret named: {out}")
    err("CreatePullThroughCacheRule", "PullThroughCacheRuleAlreadyExistsException", "same prefix",
        ecrRepositoryPrefix="hub", upstreamRegistryUrl="registry-1.docker.io", credentialArn=secret)
    err("CreatePullThroughCacheRule", "InvalidParameterException", "Docker Hub without credentials",
        ecrRepositoryPrefix="hub2", upstreamRegistryUrl="registry-1.docker.io")
    err("CreatePullThroughCacheRule", "SecretNotFoundException", "a secret that does not exist",
        ecrRepositoryPrefix="hub3", upstreamRegistryUrl="registry-1.docker.io",
        credentialArn=f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/none-AbCdEf")
    e = err("CreatePullThroughCacheRule", "InvalidParameterException", "customRoleArn",
            ecrRepositoryPrefix="ecr", upstreamRegistryUrl=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com",
            customRoleArn=f"arn:aws:iam::{ACCOUNT}:role/cache")
    check("not available" in e.response["Error"]["Message"], "  customRoleArn is said not to be available")
    err("CreatePullThroughCacheRule", "InvalidParameterException", "plain HTTP to a remote host",
        ecrRepositoryPrefix="plain", upstreamRegistryUrl="http://registry.example.com")
    err("CreatePullThroughCacheRule", "InvalidParameterException", "a URL with a path",
        ecrRepositoryPrefix="plain", upstreamRegistryUrl="registry.example.com/v2/x")
    out = ok("CreatePullThroughCacheRule", "a loopback registry over HTTP, a prefix mapped",
             ecrRepositoryPrefix="local/", upstreamRegistryUrl="http://127.0.0.1:5999",
             upstreamRepositoryPrefix="mirror")
    check(out["ecrRepositoryPrefix"] == "local" and "upstreamRegistry" not in out
          and out["upstreamRepositoryPrefix"] == "mirror", f"  {out}")
    for i in range(4):
        ok("CreatePullThroughCacheRule", ecrRepositoryPrefix=f"quay{i}", upstreamRegistryUrl="quay.io")
    rules = paginate("DescribePullThroughCacheRules", "pullThroughCacheRules", 2)
    check(sorted(r["ecrRepositoryPrefix"] for r in rules) == ["hub", "local", "quay0", "quay1", "quay2", "quay3"],
          f"  every rule listed: {[r['ecrRepositoryPrefix'] for r in rules]}")
    out = ok("DescribePullThroughCacheRules", ecrRepositoryPrefixes=["hub"])
    check([r["ecrRepositoryPrefix"] for r in out["pullThroughCacheRules"]] == ["hub"], "  filtered by prefix")
    err("DescribePullThroughCacheRules", "PullThroughCacheRuleNotFoundException", "a prefix with no rule",
        ecrRepositoryPrefixes=["hub", "nope"])
    other = sm.create_secret(Name="ecr-pullthroughcache/hub-other-" + uuid.uuid4().hex[:8], SecretString="{}")["ARN"]
    out = ok("UpdatePullThroughCacheRule", "new credentials", ecrRepositoryPrefix="hub", credentialArn=other)
    check(out["credentialArn"] == other, "  the new secret named")
    check(ECR.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["hub"])["pullThroughCacheRules"][0]["credentialArn"] == other,
          "  and stored")
    err("UpdatePullThroughCacheRule", "PullThroughCacheRuleNotFoundException", "no such rule",
        ecrRepositoryPrefix="nope", credentialArn=other)
    for p in ["hub", "local", "quay0", "quay1", "quay2", "quay3"]:
        out = ok("DeletePullThroughCacheRule", ecrRepositoryPrefix=p)
        check(out["ecrRepositoryPrefix"] == p, f"  deleted {p}")
    err("DeletePullThroughCacheRule", "PullThroughCacheRuleNotFoundException", "again", ecrRepositoryPrefix="hub")
    check(ECR.describe_pull_through_cache_rules()["pullThroughCacheRules"] == [], "  none left")


# Minimal valid input for every operation that is not served yet.
IMAGE = {"imageTag": "latest"}
MINIMAL = {
    "BatchGetRepositoryScanningConfiguration": {"repositoryNames": ["boto/probe"]},
    "DeleteSigningConfiguration": {},
    "DeregisterPullTimeUpdateExclusion": {"principalArn": f"arn:aws:iam::{ACCOUNT}:role/probe"},
    "DescribeImageReplicationStatus": {"repositoryName": "boto/probe", "imageId": IMAGE},
    "DescribeImageScanFindings": {"repositoryName": "boto/probe", "imageId": IMAGE},
    "DescribeImageSigningStatus": {"repositoryName": "boto/probe", "imageId": IMAGE},
    "DescribeReplicationBackfillResults": {"replicationBackfillId": str(uuid.uuid4())},
    "GetRegistryScanningConfiguration": {},
    "GetSigningConfiguration": {},
    "ListPullTimeUpdateExclusions": {},
    "ListReplicationBackfills": {},
    "PutImageScanningConfiguration": {"repositoryName": "boto/probe",
                                      "imageScanningConfiguration": {"scanOnPush": True}},
    "PutRegistryScanningConfiguration": {"scanType": "BASIC"},
    "PutReplicationConfiguration": {"replicationConfiguration": {"rules": [
        {"destinations": [{"region": "eu-west-1", "registryId": ACCOUNT}]}]}},
    "PutSigningConfiguration": {"signingConfiguration": {"rules": [
        {"signingProfileArn": f"arn:aws:signer:{REGION}:{ACCOUNT}:/signing-profiles/probe_profile"}]}},
    "RegisterPullTimeUpdateExclusion": {"principalArn": f"arn:aws:iam::{ACCOUNT}:role/probe"},
    "StartImageScan": {"repositoryName": "boto/probe", "imageId": IMAGE},
    "StartReplicationBackfill": {"destination": {"region": "eu-west-1", "registryId": ACCOUNT}},
    "StopReplicationBackfill": {"replicationBackfillId": str(uuid.uuid4())},
    "UpdateImageStorageClass": {"repositoryName": "boto/probe", "imageId": IMAGE, "targetStorageClass": "ARCHIVE"},
    "ValidatePullThroughCacheRule": {"ecrRepositoryPrefix": "probe"},
}


@section
def not_yet():
    assert sorted(MINIMAL) == NOT_YET, f"MINIMAL must cover exactly {NOT_YET}"
    for op in NOT_YET:
        modelled = {e.name for e in MODEL.operation_model(op).error_shapes}
        want = "InvalidParameterException" if "InvalidParameterException" in modelled else "ValidationException"
        e = err(op, want, "not served yet", **MINIMAL[op])
        msg = e.response["Error"]["Message"]
        check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400 and "not available" in msg,
              f"  400 saying it is not available: {msg}")
        NOT_AVAILABLE.add(op)


def main():
    for fn in SECTIONS:
        print(f"== {fn.__name__}")
        try:
            fn()
        except Exception:
            flush()
            fail(f"section {fn.__name__} abandoned:\n{traceback.format_exc()}")
    check(CORE <= COVERED, f"every implemented operation succeeded at least once (missing: {sorted(CORE - COVERED)})")
    check(NOT_AVAILABLE == set(NOT_YET),
          f"every other operation answered not available (missing: {sorted(set(NOT_YET) - NOT_AVAILABLE)})")
    paginated = {op for op in PAGINATORS if op in CORE}
    check(paginated <= PAGINATED, f"every paginated operation went through its paginator "
                                  f"(missing: {sorted(paginated - PAGINATED)})")
    flush()
    print(f"{len(COVERED)} operations succeeded, {len(PAGINATED)} paginated, {len(NOT_AVAILABLE)} answered not available")
    if FAILURES:
        print(f"\n{len(FAILURES)} FAILURE(S):")
        for f in FAILURES:
            print(f"  - {f}")
        sys.exit(1)
    print("ALL OK")


if __name__ == "__main__":
    main()
