"""Model-driven input validation of the ECR API: for every operation the server implements (the
`EcrOperation` enum of crates/api/src/ecr/ops.rs), walks the input shape of botocore's ECR model
and sends requests that each break exactly one constraint of one member, starting from a minimal
valid input:

  required     a required member missing (and sent as null)
  type         a JSON value of the wrong type (number for a string, object for a list, ...)
  min / max    a string shorter or longer than its length bounds, a list with too few or too
               many members, a number below or above its range, a blob over its size
  pattern      a string of the right length that the member's pattern refuses
  enum         a string outside the member's enum

the same for members of nested structures and of list members one level deep. botocore checks
most of this on the client side, so the requests are built as raw JSON, signed with botocore's
SigV4Auth and POSTed with the X-Amz-Target header: nothing between the test and the server
coerces or refuses them.

Each violation must answer HTTP 400 with a `__type` that is InvalidParameterException or
ValidationException and that the operation models (or, for tags, the more specific error the
model names), and a message that names the offending member. Alongside: a few limits the model
states in documentation rather than as constraints (tag key/value lengths, 50 tags), malformed
bodies (not JSON, not an object) and unknown X-Amz-Target values. Before the violations of an
operation, the same input without the violation (the control) must succeed, so that every refusal
is caused by the one broken constraint.

Usage: python3 ecr_inputs.py BASE_URL   (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)
Prints one line per case and `ALL OK` at the end; otherwise lists every failed case, one per line
(operation, member, constraint, what was sent, what came back), and exits 1.
"""
import base64
import copy
import hashlib
import json
import os
import pathlib
import re
import sys
import traceback
import urllib.error
import urllib.request
import uuid

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.session

BASE = sys.argv[1].rstrip("/")
REGION = "us-east-1"
ACCOUNT = "123456789012"
TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921"
CREDENTIALS = botocore.credentials.Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])

MODEL = botocore.session.get_session().get_service_model("ecr")
OPS_RS = pathlib.Path(__file__).resolve().parents[3] / "crates/api/src/ecr/ops.rs"

GENERIC = ("InvalidParameterException", "ValidationException")
TAG_ERROR = "InvalidTagParameterException"
TOO_MANY_TAGS = "TooManyTagsException"

FAILURES = []
SKIPPED = []
COUNTS = {"violations": 0, "controls": 0, "malformed": 0, "passed": 0}

# Violation cases the server cannot observe, by (operation, member path, constraint prefix), with
# the reason; each is printed and counted. None so far: every member the model constrains is one
# the server reads.
SKIP = {}


def implemented_operations():
    """The variants of the `EcrOperation` enum in ops.rs, read as scripts/ecr-compat.py does."""
    source = OPS_RS.read_text()
    m = re.search(r"\benum\s+EcrOperation\s*:\s*\"ecr\"\s*\{(.*?)\}", source, re.S)
    assert m, f"no `enum EcrOperation` in {OPS_RS}"
    return re.findall(r"\b([A-Z]\w*)\b", re.sub(r"//[^\n]*", "", m.group(1)))


# ---- raw signed requests ------------------------------------------------------------------------

def send(op=None, body=b"{}", target=None, with_target=True, service="ecr"):
    """POSTs `body` (bytes, or anything JSON-serialisable) signed for ECR; returns
    (status, parsed JSON or None, raw text)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if with_target:
        headers["X-Amz-Target"] = target or f"{TARGET_PREFIX}.{op}"
    req = botocore.awsrequest.AWSRequest(method="POST", url=BASE + "/", data=data, headers=headers)
    botocore.auth.SigV4Auth(CREDENTIALS, service, REGION).add_auth(req)
    prepared = req.prepare()
    http_req = urllib.request.Request(prepared.url, data=data, method="POST", headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(http_req, timeout=300) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    return status, doc, text


def call(op, **params):
    """A valid call used to build fixtures; it must succeed."""
    status, doc, text = send(op, params)
    assert status == 200, f"fixture {op} failed ({status}): {text[:300]}"
    return doc


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def repo_arn(name):
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---- fixtures: resources the minimal valid inputs point at -------------------------------------

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "pull", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/ci"},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]})
REGISTRY_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "replicate", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
    "Action": "ecr:BatchGetImage", "Resource": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*"}]})
LIFECYCLE = json.dumps({"rules": [{
    "rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                     "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}}]})
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b7f3c1e-4a1d-4c36-9b39-1f2e3d4c5b6a"

REPO = "inputs/base"          # read-mostly: policies, lifecycle, images, layers, tags
PUT_REPO = "inputs/put"       # PutImage only (its images move tags)
DEL_REPO = "inputs/delete"    # BatchDeleteImage only (kept empty)
MUT_REPO = "inputs/mutability"  # PutImageTagMutability only
LC_REPO = "inputs/lifecycle"  # DeleteLifecyclePolicy only
TEMPLATE = "inputs/template"  # UpdateRepositoryCreationTemplate only
CONFIG_BLOB = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
LAYER_BLOB = b"ecr_inputs layer bytes"
IMAGE_DIGEST = None           # the digest of REPO:v1, set by make_fixtures()


def upload_blob(repo, data):
    """A blob through the API (one part); returns its digest."""
    upload = call("InitiateLayerUpload", repositoryName=repo)["uploadId"]
    call("UploadLayerPart", repositoryName=repo, uploadId=upload, partFirstByte=0, partLastByte=len(data) - 1,
         layerPartBlob=base64.b64encode(data).decode())
    return call("CompleteLayerUpload", repositoryName=repo, uploadId=upload, layerDigests=[sha(data)])["layerDigest"]


def manifest(note):
    """An image manifest over the fixture blobs; `note` makes each one a different image."""
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(CONFIG_BLOB),
                    "size": len(CONFIG_BLOB)},
         "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(LAYER_BLOB),
                     "size": len(LAYER_BLOB)}],
         "annotations": {"org.example.note": note}}
    return json.dumps(m, separators=(",", ":"))


def make_fixtures():
    global IMAGE_DIGEST
    for repo in (REPO, PUT_REPO, DEL_REPO, MUT_REPO, LC_REPO):
        call("CreateRepository", repositoryName=repo)
    for repo in (REPO, PUT_REPO):
        upload_blob(repo, CONFIG_BLOB)
        upload_blob(repo, LAYER_BLOB)
    text = manifest("v1")
    call("PutImage", repositoryName=REPO, imageManifest=text, imageTag="v1")
    IMAGE_DIGEST = sha(text.encode())
    call("SetRepositoryPolicy", repositoryName=REPO, policyText=POLICY)
    call("PutLifecyclePolicy", repositoryName=REPO, lifecyclePolicyText=LIFECYCLE)
    call("StartLifecyclePolicyPreview", repositoryName=REPO)
    call("PutRegistryPolicy", policyText=REGISTRY_POLICY)
    call("TagResource", resourceArn=repo_arn(REPO), tags=[{"Key": "team", "Value": "inputs"}])
    call("CreateRepositoryCreationTemplate", prefix=TEMPLATE, appliedFor=["CREATE_ON_PUSH"])
    call("CreatePullThroughCacheRule", ecrRepositoryPrefix=CACHE_RULE, upstreamRegistryUrl="quay.io")
    status, doc, text = send(body={"Name": "ecr-pullthroughcache/inputs-" + uuid.uuid4().hex[:8], "SecretString": "{}"},
                             target="secretsmanager.CreateSecret", service="secretsmanager")
    assert status == 200, f"fixture CreateSecret failed ({status}): {text[:300]}"
    CACHE_SECRET.append(doc["ARN"])


# ---- minimal valid inputs ---------------------------------------------------------------------
# One function per operation, called afresh for every case: operations that would change or use
# up what they act on (delete, complete an upload, create a name) get a resource of their own, so
# that a violation the server fails to refuse cannot change what the next case meets.

def fresh_repo():
    name = unique("inputs/fresh")
    call("CreateRepository", repositoryName=name)
    return name


def fresh_upload():
    return call("InitiateLayerUpload", repositoryName=REPO)["uploadId"]


def fresh_upload_with_part():
    upload = fresh_upload()
    data = uuid.uuid4().bytes
    call("UploadLayerPart", repositoryName=REPO, uploadId=upload, partFirstByte=0, partLastByte=len(data) - 1,
         layerPartBlob=base64.b64encode(data).decode())
    return upload, sha(data)


CACHE_RULE = unique("inputs/ptc")
CACHE_SECRET = []  # the ARN of a secret the rules may name, created with the fixtures


def fresh_cache_rule():
    prefix = unique("inputs/ptc")
    call("CreatePullThroughCacheRule", ecrRepositoryPrefix=prefix, upstreamRegistryUrl="quay.io")
    return prefix


def fresh_template():
    prefix = unique("inputs/tpl")
    call("CreateRepositoryCreationTemplate", prefix=prefix, appliedFor=["CREATE_ON_PUSH"])
    return prefix


def delete_repository_policy_base():
    call("SetRepositoryPolicy", repositoryName=REPO, policyText=POLICY)
    return {"repositoryName": REPO}


def delete_registry_policy_base():
    call("PutRegistryPolicy", policyText=REGISTRY_POLICY)
    return {}


def delete_lifecycle_policy_base():
    call("PutLifecyclePolicy", repositoryName=LC_REPO, lifecyclePolicyText=LIFECYCLE)
    return {"repositoryName": LC_REPO}


def upload_layer_part_base():
    return {"repositoryName": REPO, "uploadId": fresh_upload(), "partFirstByte": 0, "partLastByte": 0,
            "layerPartBlob": base64.b64encode(b"x").decode()}


def complete_layer_upload_base():
    upload, digest = fresh_upload_with_part()
    return {"repositoryName": REPO, "uploadId": upload, "layerDigests": [digest]}


BASES = {
    "GetAuthorizationToken": lambda: {},
    "CreateRepository": lambda: {"repositoryName": unique("inputs/new")},
    "DescribeRepositories": lambda: {},
    "DeleteRepository": lambda: {"repositoryName": fresh_repo()},
    "SetRepositoryPolicy": lambda: {"repositoryName": REPO, "policyText": POLICY},
    "GetRepositoryPolicy": lambda: {"repositoryName": REPO},
    "DeleteRepositoryPolicy": delete_repository_policy_base,
    "PutRegistryPolicy": lambda: {"policyText": REGISTRY_POLICY},
    "GetRegistryPolicy": lambda: {},
    "DeleteRegistryPolicy": delete_registry_policy_base,
    "DescribeRegistry": lambda: {},
    "PutImage": lambda: {"repositoryName": PUT_REPO, "imageManifest": manifest(unique("put"))},
    "BatchGetImage": lambda: {"repositoryName": REPO, "imageIds": [{"imageTag": "v1"}]},
    "BatchDeleteImage": lambda: {"repositoryName": DEL_REPO, "imageIds": [{"imageTag": "absent"}]},
    "ListImages": lambda: {"repositoryName": REPO},
    "DescribeImages": lambda: {"repositoryName": REPO},
    "ListImageReferrers": lambda: {"repositoryName": REPO, "subjectId": {"imageDigest": IMAGE_DIGEST}},
    "BatchCheckLayerAvailability": lambda: {"repositoryName": REPO, "layerDigests": [sha(LAYER_BLOB)]},
    "InitiateLayerUpload": lambda: {"repositoryName": REPO},
    "UploadLayerPart": upload_layer_part_base,
    "CompleteLayerUpload": complete_layer_upload_base,
    "GetDownloadUrlForLayer": lambda: {"repositoryName": REPO, "layerDigest": sha(LAYER_BLOB)},
    "PutImageTagMutability": lambda: {"repositoryName": MUT_REPO, "imageTagMutability": "MUTABLE"},
    "PutLifecyclePolicy": lambda: {"repositoryName": REPO, "lifecyclePolicyText": LIFECYCLE},
    "GetLifecyclePolicy": lambda: {"repositoryName": REPO},
    "DeleteLifecyclePolicy": delete_lifecycle_policy_base,
    "StartLifecyclePolicyPreview": lambda: {"repositoryName": REPO},
    "GetLifecyclePolicyPreview": lambda: {"repositoryName": REPO},
    "TagResource": lambda: {"resourceArn": repo_arn(REPO), "tags": [{"Key": "team", "Value": "inputs"}]},
    "UntagResource": lambda: {"resourceArn": repo_arn(REPO), "tagKeys": ["absent"]},
    "ListTagsForResource": lambda: {"resourceArn": repo_arn(REPO)},
    "CreateRepositoryCreationTemplate": lambda: {"prefix": unique("inputs/newtpl"), "appliedFor": ["CREATE_ON_PUSH"]},
    "DescribeRepositoryCreationTemplates": lambda: {},
    "UpdateRepositoryCreationTemplate": lambda: {"prefix": TEMPLATE},
    "DeleteRepositoryCreationTemplate": lambda: {"prefix": fresh_template()},
    "CreatePullThroughCacheRule": lambda: {"ecrRepositoryPrefix": unique("inputs/ptc"), "upstreamRegistryUrl": "quay.io"},
    "DescribePullThroughCacheRules": lambda: {},
    "UpdatePullThroughCacheRule": lambda: {"ecrRepositoryPrefix": CACHE_RULE},
    "DeletePullThroughCacheRule": lambda: {"ecrRepositoryPrefix": fresh_cache_rule()},
    "GetAccountSetting": lambda: {"name": "BLOB_MOUNTING"},
    "PutAccountSetting": lambda: {"name": "BLOB_MOUNTING", "value": "ENABLED"},
}

# A valid value for a member the minimal input leaves out, by shape name, used when a case needs
# the member present (to break something inside it). Shapes not listed get a generic value.
VALID_STRINGS = {
    "RegistryId": ACCOUNT,
    "RepositoryName": REPO,
    "ImageTag": "v1",
    "ImageDigest": lambda: IMAGE_DIGEST,
    "MediaType": OCI_MANIFEST,
    "KmsKey": KMS_KEY,
    "KmsKeyForRepositoryCreationTemplate": KMS_KEY,
    "ImageTagMutabilityExclusionFilterValue": "release-*",
    "RepositoryPolicyText": POLICY,
    "LifecyclePolicyTextForRepositoryCreationTemplate": LIFECYCLE,
    "LifecyclePolicyText": LIFECYCLE,
    "RepositoryTemplateDescription": "made by ecr_inputs.py",
    "CustomRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecr-inputs",
    "ArtifactType": "application/vnd.example.sbom+json",
    "Prefix": "ROOT",
    "TagKey": "team",
    "TagValue": "inputs",
    "LayerDigest": sha(LAYER_BLOB),
    "BatchedOperationLayerDigest": sha(LAYER_BLOB),
    "Arn": repo_arn(REPO),
}
# Structures whose required members alone do not make a usable value.
VALID_STRUCTURES = {
    "ImageIdentifier": lambda: {"imageTag": "v1"},
}
# Valid values that depend on the rest of the input (top-level members), for the controls.
DERIVED = {
    ("PutImage", ("imageDigest",)): lambda doc: sha(doc["imageManifest"].encode()),
    # A rule may name only a secret that exists, and Portcullis takes no customRoleArn (an
    # empty one is the only valid value); a described prefix must have a rule.
    ("CreatePullThroughCacheRule", ("credentialArn",)): lambda doc: CACHE_SECRET[0],
    ("UpdatePullThroughCacheRule", ("credentialArn",)): lambda doc: CACHE_SECRET[0],
    ("CreatePullThroughCacheRule", ("customRoleArn",)): lambda doc: "",
    ("UpdatePullThroughCacheRule", ("customRoleArn",)): lambda doc: "",
    ("DescribePullThroughCacheRules", ("ecrRepositoryPrefixes",)): lambda doc: [CACHE_RULE],
    ("DescribePullThroughCacheRules", ("ecrRepositoryPrefixes", 0)): lambda doc: [CACHE_RULE],
}


def companions(path, doc, container):
    """Members whose presence requires another member's value, applied when a case adds the
    member: exclusion filters go with a *_WITH_EXCLUSION mutability, a kmsKey with KMS encryption."""
    if path[0] == "imageTagMutabilityExclusionFilters":
        doc["imageTagMutability"] = "IMMUTABLE_WITH_EXCLUSION"
    if path[-1] == "kmsKey":
        container["encryptionType"] = "KMS"


def valid(shape):
    """A minimal valid value of `shape` (structures get their required members only)."""
    t = shape.type_name
    if t == "structure" and shape.name in VALID_STRUCTURES:
        return VALID_STRUCTURES[shape.name]()
    if t == "structure":
        return {name: valid(m) for name, m in shape.members.items() if name in shape.required_members}
    if t == "list":
        return [valid(shape.member) for _ in range(max(shape.metadata.get("min", 1), 1))]
    if t == "string":
        if shape.name in VALID_STRINGS:
            v = VALID_STRINGS[shape.name]
            return v() if callable(v) else v
        if shape.enum:
            return shape.enum[0]
        return "a" * max(shape.metadata.get("min", 1), 1)
    if t in ("integer", "long"):
        return max(shape.metadata.get("min", 1), 1)
    if t == "boolean":
        return False
    if t == "blob":
        return base64.b64encode(b"x").decode()
    raise AssertionError(f"no valid value for {shape.name} ({t})")


# ---- the violations of one value ------------------------------------------------------------------

MISSING = object()   # marks "leave the member out"

# Strings the member's pattern refuses while keeping its length bounds; each is checked against
# the pattern before it is sent. The generic candidates serve shapes not listed.
PATTERN_BREAKERS = {
    "RegistryId": ["12345678901x", "1234567890123", "abc"],
    "RepositoryName": ["Team/app", "team!app", "team//app", "-team", "team/", "team app"],
    "UploadId": ["not-a-uuid", "0b7f3c1e4a1d4c369b391f2e3d4c5b6a"],
    "LayerDigest": ["sha256", "sha256:xyz", ":abc123"],
    "Prefix": ["Bad_Prefix", "team//app", "root!"],
    "ImageTagMutabilityExclusionFilterValue": ["release/*", "bad filter"],
    "KmsKeyForRepositoryCreationTemplate": ["not-an-arn"],
    # Long enough for the length bound; each breaks one part of the pattern.
    "CredentialArn": [
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:other-prefix/registry-credentials",
        f"arn:aws:iam::{ACCOUNT}:secret:ecr-pullthroughcache/registry-credentials",
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/bad name!",
    ],
}
GENERIC_BREAKERS = ["UPPER case!", "!"]

# JSON texts are lengthened with whitespace so that they stay valid JSON and only the length is wrong.
JSON_TEXTS = {
    "RepositoryPolicyText": lambda: POLICY,
    "RegistryPolicyText": lambda: REGISTRY_POLICY,
    "LifecyclePolicyText": lambda: LIFECYCLE,
    "LifecyclePolicyTextForRepositoryCreationTemplate": lambda: LIFECYCLE,
    "ImageManifest": lambda: manifest("too long"),
}
WRONG_TYPES = {
    "string": [("number", 7), ("object", {"a": "b"})],
    "integer": [("string", "5"), ("fraction", 1.5), ("boolean", True)],
    "long": [("string", "5"), ("fraction", 1.5)],
    "boolean": [("string", "true"), ("number", 1)],
    "blob": [("number", 7), ("not base64", "!!not base64!!")],
    "list": [("object", {}), ("string", "x")],
    "structure": [("list", []), ("string", "x")],
}


def sized_string(shape, n):
    """A string of `n` characters that keeps to the member's pattern where the pattern allows."""
    text = JSON_TEXTS.get(shape.name)
    if text is not None and len(text()) <= n:
        return text() + " " * (n - len(text()))
    pattern = shape.metadata.get("pattern")
    sample = valid(shape)
    tries = [c * n for c in "a0"] + ([sample + "a" * (n - len(sample))] if len(sample) <= n else [])
    return next((t for t in tries if not pattern or re.fullmatch(pattern, t)), tries[0])


def violations(shape):
    """(constraint, value) pairs that each break one constraint of `shape`."""
    t, md = shape.type_name, shape.metadata
    out = [(f"type: {what} for a {t}", v) for what, v in WRONG_TYPES.get(t, [])]
    if t == "string":
        lo, hi = md.get("min", 0), md.get("max")
        if lo > 0:
            out.append((f"min length {lo}", sized_string(shape, lo - 1)))
        if hi is not None:
            out.append((f"max length {hi}", sized_string(shape, hi + 1)))
        if "pattern" in md:
            out += pattern_violations(shape)
        if shape.enum:
            near = shape.enum[0].lower()
            for bad in ([near] if near not in shape.enum else []) + ["NOT_IN_THE_SET"]:
                out.append((f"enum {shape.enum}", bad))
    elif t in ("integer", "long"):
        if "min" in md:
            out.append((f"min value {md['min']}", md["min"] - 1))
        if "max" in md:
            out.append((f"max value {md['max']}", md["max"] + 1))
        else:
            # Without a max in the model, the bound is the type's own width.
            bits = 64 if t == "long" else 32
            out.append((f"type: beyond a {bits}-bit {t}", 2 ** (bits - 1)))
    elif t == "list":
        element = valid(shape.member)
        if md.get("min", 0) > 0:
            out.append((f"min members {md['min']}", [element] * (md["min"] - 1)))
        if "max" in md:
            out.append((f"max members {md['max']}", [copy.deepcopy(element) for _ in range(md["max"] + 1)]))
    elif t == "blob":
        if "max" in md:
            out.append((f"max size {md['max']}", base64.b64encode(b"x" * (md["max"] + 1)).decode()))
    return out


def pattern_violations(shape):
    md = shape.metadata
    lo, hi = md.get("min", 0), md.get("max", 10**9)
    found = []
    for bad in PATTERN_BREAKERS.get(shape.name, GENERIC_BREAKERS):
        if lo <= len(bad) <= hi and not re.fullmatch(md["pattern"], bad):
            found.append((f"pattern {md['pattern']}", bad))
    assert found, f"{shape.name}: no candidate breaks {md['pattern']!r} within its length"
    return found


# ---- cases ---------------------------------------------------------------------------------

class Case:
    def __init__(self, op, path, member, constraint, value, expect, doc_maker):
        self.op, self.path, self.member, self.constraint = op, path, member, constraint
        self.value, self.expect, self.doc_maker = value, expect, doc_maker

    def label(self):
        return f"{self.op} {path_text(self.path)} [{self.constraint}]"


def path_text(path):
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def placed(op, path, value):
    """A document maker: the op's minimal input with the member at `path` set to `value`
    (or removed, for MISSING), its missing ancestors filled with valid values."""
    def make():
        doc = BASES[op]()
        node, shape = doc, MODEL.operation_model(op).input_shape
        for i, key in enumerate(path):
            last = i == len(path) - 1
            child_shape = shape.members[key] if shape.type_name == "structure" else shape.member
            if last:
                if value is MISSING:
                    node.pop(key, None)
                else:
                    if isinstance(node, list) and not node:
                        node.append(None)
                    node[key] = copy.deepcopy(value)
            else:
                if isinstance(node, dict) and key not in node:
                    node[key] = valid(child_shape)
                node, shape = node[key], child_shape
        companions(path, doc, node)
        return doc
    return make


def expected_errors(op, path):
    """The refusals a violation at `path` may get: the generic validation errors the operation
    models, and for tags the tag error too when the operation models it (the model does not say
    which one a malformed tag gets)."""
    modelled = {e.name for e in MODEL.operation_model(op).error_shapes}
    allowed = {e for e in GENERIC if e in modelled}
    if path[0] in ("tags", "tagKeys") and TAG_ERROR in modelled:
        allowed.add(TAG_ERROR)
    return allowed


def member_cases(op, shape, path):
    """Every violation case for the members of structure `shape` found at `path`."""
    for name, member in shape.members.items():
        here = path + (name,)
        if name in shape.required_members:
            yield Case(op, here, name, "required member missing", MISSING, expected_errors(op, here), placed(op, here, MISSING))
            yield Case(op, here, name, "required member null", None, expected_errors(op, here), placed(op, here, None))
        yield from value_cases(op, member, here, name)


def value_cases(op, shape, path, name):
    for constraint, bad in violations(shape):
        yield Case(op, path, name, constraint, bad, expected_errors(op, path), placed(op, path, bad))
    if shape.type_name == "structure":
        yield from member_cases(op, shape, path)
    elif shape.type_name == "list":
        element = shape.member
        for constraint, bad in violations(element):
            here = path + (0,)
            yield Case(op, here, name, f"list member {constraint}", bad, expected_errors(op, here), placed(op, here, bad))
        if element.type_name == "structure":
            yield from member_cases(op, element, path + (0,))


def tag_limit_cases(op):
    """The limits the model states in the Tag and TooManyTagsException documentation: keys of at
    most 128 characters, values of at most 256, at most 50 tags on a repository."""
    input_shape = MODEL.operation_model(op).input_shape
    member = next((m for m in ("tags", "resourceTags") if m in input_shape.members), None)
    if member is None:
        return
    modelled = {e.name for e in MODEL.operation_model(op).error_shapes}
    tag_error = {TAG_ERROR} if TAG_ERROR in modelled else expected_errors(op, (member,))
    for key, value, constraint, named in (
        ("", "v", "tag key min length 1 (contract: keys have 1 to 128 characters)", "Key"),
        ("k" * 129, "v", "tag key max length 128 (Tag documentation)", "Key"),
        ("team", "v" * 257, "tag value max length 256 (Tag documentation)", "Value"),
    ):
        bad = [{"Key": key, "Value": value}]
        yield Case(op, (member,), named, constraint, bad, tag_error, placed(op, (member,), bad))
    if TOO_MANY_TAGS in modelled:
        bad = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
        yield Case(op, (member,), member, "at most 50 tags (TooManyTagsException documentation)", bad,
                   {TOO_MANY_TAGS}, placed(op, (member,), bad))


def cases_for(op):
    input_shape = MODEL.operation_model(op).input_shape
    if input_shape is None:
        return []
    return list(member_cases(op, input_shape, ())) + list(tag_limit_cases(op))


# ---- running and judging -------------------------------------------------------------------

def short(v, n=120):
    text = json.dumps(v) if v is not MISSING else "(absent)"
    if len(text) > n:
        text = f"{text[:n // 2]}...{text[-20:]} ({len(text)} chars)"
    return text


def judge(status, doc, text, expect, member):
    """None when the answer is a well-formed refusal naming `member`, else what is wrong."""
    kind = doc.get("__type") if isinstance(doc, dict) else None
    message = doc.get("message") if isinstance(doc, dict) else None
    got = f"{status} {kind or '-'}: {message if message is not None else text[:200]!r}"
    if status != 400:
        return f"expected 400; got {got}"
    if kind not in expect:
        return f"expected __type {'/'.join(sorted(expect))}; got {got}"
    if not isinstance(message, str) or member not in message:
        return f"message does not name {member!r}; got {got}"
    return None


def record(label, problem, kind="violations"):
    COUNTS[kind] += 1
    if problem is None:
        COUNTS["passed"] += 1
        print(f"ok   {label}")
    else:
        FAILURES.append(f"{label}: {problem}")
        print(f"FAIL {label}: {problem}")


def run_case(case):
    reason = next((why for (op, path, c), why in SKIP.items()
                   if op == case.op and path == case.path and case.constraint.startswith(c)), None)
    if reason:
        SKIPPED.append(f"{case.label()}: {reason}")
        print(f"skip {case.label()}: {reason}")
        return
    try:
        doc = case.doc_maker()
    except Exception as e:  # a fixture call failed: the case cannot be built
        record(case.label(), f"could not build the input: {e}")
        return
    status, body, text = send(case.op, doc)
    problem = judge(status, body, text, case.expect, case.member)
    if problem:
        record(case.label(), f"sent {path_text(case.path)}={short(case.value)} -> {problem}")
    else:
        record(f"{case.label()} -> {body['__type']}: {body['message'][:100]}", None)


def controls(op, cases):
    """The minimal input, and the minimal input with each member a case breaks filled with a
    valid value, must succeed: otherwise a refusal in the cases could come from something else
    than the one violation. Members the minimal input already holds are covered by the first."""
    makers, seen = [("minimal input", BASES[op])], set()
    sample = BASES[op]()
    for case in cases:
        if case.value is MISSING or case.value is None or case.path in seen or present(sample, case.path):
            continue
        seen.add(case.path)
        shape = member_shape(op, case.path)
        if shape.name == "NextToken":
            print(f"note {op} control: no valid {path_text(case.path)} without an earlier page; not sent")
            continue
        makers.append((f"valid {path_text(case.path)}", control_input(op, case.path, shape)))
    for what, make in makers:
        try:
            status, _, text = send(op, make())
            problem = None if status == 200 else f"expected 200; got {status} {text[:300]}"
        except Exception as e:
            problem = f"could not build the input: {e}"
        record(f"{op} control: {what}", problem, "controls")


def control_input(op, path, shape):
    derive = DERIVED.get((op, path))

    def make():
        doc = placed(op, path, valid(shape))()
        if derive:
            doc[path[0]] = derive(doc)
        return doc
    return make


def present(doc, path):
    node = doc
    for key in path:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return False
    return True


def member_shape(op, path):
    shape = MODEL.operation_model(op).input_shape
    for key in path:
        shape = shape.members[key] if shape.type_name == "structure" else shape.member
    return shape


def malformed_bodies():
    """Bodies that are not a JSON object, and targets that name no operation."""
    parse_errors = {"SerializationException", "InvalidParameterException"}
    for op in ("DescribeRepositories", "CreateRepository"):
        for what, body, mention in (
            ("not JSON", b"{not json", "JSON"),
            ("truncated JSON", b'{"repositoryName": "inputs/x"', "JSON"),
            ("trailing garbage", b'{"repositoryName": "inputs/x"} x', "JSON"),
            ("invalid UTF-8", b'{"repositoryName": "\xff\xfe"}', ""),
            ("JSON array", b"[]", "object"),
            ("JSON number", b"42", "object"),
            ("JSON string", b'"inputs/x"', "object"),
        ):
            status, doc, text = send(op, body)
            problem = judge(status, doc, text, parse_errors, "")
            if problem is None and mention and mention.lower() not in doc["message"].lower():
                problem = f"the message does not say {mention!r}: {doc['message']!r}"
            answer = f" -> {doc['__type']}: {doc['message']}" if problem is None else ""
            record(f"{op} malformed body [{what}]{answer}", problem and f"sent {body[:40]!r} -> {problem}", "malformed")
    status, _, text = send("DescribeRepositories", b"")
    record("DescribeRepositories control: empty body is {}",
           None if status == 200 else f"expected 200; got {status} {text[:200]}", "controls")
    for what, target in (
        ("unknown operation", f"{TARGET_PREFIX}.NoSuchOperation"),
        ("other service prefix", "AmazonEC2ContainerRegistry_V20990101.DescribeRepositories"),
        ("no operation", f"{TARGET_PREFIX}."),
        ("operation in lower case", f"{TARGET_PREFIX}.describerepositories"),
        ("missing", None),
    ):
        status, doc, text = send(body={}, target=target, with_target=target is not None)
        kind = doc.get("__type") if isinstance(doc, dict) else None
        ok = status == 400 and kind and isinstance(doc.get("message"), str) and doc["message"]
        record(f"X-Amz-Target [{what}]" + (f" -> {kind}: {doc['message']}" if ok else ""),
               None if ok else f"sent {target!r} -> expected 400 with a __type and a message; got {status} {text[:200]!r}",
               "malformed")


def main():
    ops = implemented_operations()
    missing = sorted(set(ops) - set(BASES))
    assert not missing, f"no minimal input for {missing}"
    make_fixtures()
    for op in ops:
        print(f"== {op}")
        try:
            cases = cases_for(op)
            controls(op, cases)
            for case in cases:
                run_case(case)
        except Exception:
            record(f"{op}: run abandoned", traceback.format_exc())
    print("== malformed requests")
    malformed_bodies()
    print("\n== summary")
    print(f"{COUNTS['violations']} violation cases, {COUNTS['controls']} controls, {COUNTS['malformed']} malformed "
          f"requests: {COUNTS['passed']} passed, {len(FAILURES)} failed, {len(SKIPPED)} skipped")
    for line in SKIPPED:
        print(f"skipped: {line}")
    if FAILURES:
        print(f"\n{len(FAILURES)} FAILURE(S):")
        for f in FAILURES:
            print(f"  - {f}")
        sys.exit(1)
    print("ALL OK")


if __name__ == "__main__":
    main()
