"""Drives every IAM operation of the server with boto3 and checks each parsed response against
botocore's IAM output shape: every member's type, and every required member present.

Usage: python3 iam_shapes.py BASE_URL   (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)
Prints one line per checked operation and `ALL OK` at the end; exits non-zero on the first
mismatch.
"""
import datetime
import json
import sys

import boto3
import botocore.session
from botocore.exceptions import ClientError

BASE = sys.argv[1]
iam = boto3.client("iam", endpoint_url=BASE, region_name="us-east-1")
model = botocore.session.get_session().get_service_model("iam")
ACCOUNT = None
checked = []

# botocore decodes these string shapes (URL-encoded JSON) into dicts.
DECODED = {"policyDocumentType"}


def check(shape, value, path):
    t = shape.type_name
    if shape.name in DECODED:
        assert isinstance(value, dict), f"{path}: expected decoded policy document, got {value!r}"
        return
    if t == "structure":
        assert isinstance(value, dict), f"{path}: expected structure, got {type(value)}"
        for req in shape.required_members:
            assert req in value, f"{path}: required member {req} missing"
        for k, v in value.items():
            assert k in shape.members, f"{path}: unknown member {k}"
            check(shape.members[k], v, f"{path}.{k}")
    elif t == "list":
        assert isinstance(value, list), f"{path}: expected list, got {type(value)}"
        for i, v in enumerate(value):
            check(shape.member, v, f"{path}[{i}]")
    elif t == "map":
        assert isinstance(value, dict), f"{path}: expected map"
    elif t == "string":
        assert isinstance(value, str), f"{path}: expected string, got {value!r}"
        if shape.enum:
            assert value in shape.enum or path.endswith("SourcePolicyType"), f"{path}: {value!r} not in {shape.enum}"
    elif t in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: expected int, got {value!r}"
    elif t == "boolean":
        assert isinstance(value, bool), f"{path}: expected bool, got {value!r}"
    elif t == "timestamp":
        assert isinstance(value, datetime.datetime), f"{path}: expected timestamp, got {value!r}"
    else:
        raise AssertionError(f"{path}: unhandled shape type {t}")


def call(op, **kwargs):
    method = getattr(iam, botocore.xform_name(op))
    resp = method(**kwargs)
    meta = resp.pop("ResponseMetadata")
    assert meta["HTTPStatusCode"] == 200, meta
    assert meta.get("RequestId"), f"{op}: no RequestId"
    out = model.operation_model(op).output_shape
    if out is None:
        assert resp == {}, f"{op}: unexpected output {resp}"
    else:
        check(out, resp, op)
    checked.append(op)
    return resp


def error(op, code, status, **kwargs):
    try:
        getattr(iam, botocore.xform_name(op))(**kwargs)
    except ClientError as e:
        got = (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
        assert got == (code, status), f"{op}: expected {code}/{status}, got {got}: {e}"
        assert e.response["Error"].get("Message"), f"{op}: error without message"
        assert e.response["Error"].get("Type") in ("Sender", "Receiver"), e.response
        return e
    raise AssertionError(f"{op}: expected {code}, succeeded")


DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})

u = call("CreateUser", UserName="shape-user", Path="/team/", Tags=[{"Key": "team", "Value": "a"}])
ACCOUNT = u["User"]["Arn"].split(":")[4]
assert u["User"]["Arn"].endswith(":user/team/shape-user"), u
call("GetUser", UserName="shape-user")
call("GetUser")
call("ListUsers")
call("ListUsers", PathPrefix="/team/")
k = call("CreateAccessKey", UserName="shape-user")
assert len(k["AccessKey"]["SecretAccessKey"]) >= 40
call("ListAccessKeys", UserName="shape-user")
call("UpdateAccessKey", UserName="shape-user", AccessKeyId=k["AccessKey"]["AccessKeyId"], Status="Inactive")
assert call("ListAccessKeys", UserName="shape-user")["AccessKeyMetadata"][0]["Status"] == "Inactive"
call("PutUserPolicy", UserName="shape-user", PolicyName="p1", PolicyDocument=DOC)
got = call("GetUserPolicy", UserName="shape-user", PolicyName="p1")
assert got["PolicyDocument"] == json.loads(DOC), got
call("ListUserPolicies", UserName="shape-user")
call("CreateGroup", GroupName="shape-group")
call("AddUserToGroup", GroupName="shape-group", UserName="shape-user")
g = call("GetGroup", GroupName="shape-group")
assert [x["UserName"] for x in g["Users"]] == ["shape-user"], g
call("ListGroups")
call("ListGroupsForUser", UserName="shape-user")
call("PutGroupPolicy", GroupName="shape-group", PolicyName="gp", PolicyDocument=DOC)
call("GetGroupPolicy", GroupName="shape-group", PolicyName="gp")
call("ListGroupPolicies", GroupName="shape-group")
r = call("CreateRole", RoleName="shape-role", AssumeRolePolicyDocument=TRUST, Description="d", Tags=[{"Key": "k", "Value": "v"}])
assert r["Role"]["AssumeRolePolicyDocument"] == json.loads(TRUST), r
call("GetRole", RoleName="shape-role")
call("ListRoles")
call("PutRolePolicy", RoleName="shape-role", PolicyName="rp", PolicyDocument=DOC)
call("GetRolePolicy", RoleName="shape-role", PolicyName="rp")
call("ListRolePolicies", RoleName="shape-role")
p = call("CreatePolicy", PolicyName="shape-policy", PolicyDocument=DOC, Description="managed")
arn = p["Policy"]["Arn"]
call("GetPolicy", PolicyArn=arn)
call("ListPolicies", Scope="Local")
v = call("GetPolicyVersion", PolicyArn=arn, VersionId="v1")
assert v["PolicyVersion"]["Document"] == json.loads(DOC) and v["PolicyVersion"]["IsDefaultVersion"], v
for kind, name in (("User", "shape-user"), ("Group", "shape-group"), ("Role", "shape-role")):
    call(f"Attach{kind}Policy", **{f"{kind}Name": name, "PolicyArn": arn})
    att = call(f"ListAttached{kind}Policies", **{f"{kind}Name": name})
    assert att["AttachedPolicies"] == [{"PolicyName": "shape-policy", "PolicyArn": arn}], att
assert call("GetPolicy", PolicyArn=arn)["Policy"]["AttachmentCount"] == 3
call("TagUser", UserName="shape-user", Tags=[{"Key": "env", "Value": "prod"}])
assert len(call("ListUserTags", UserName="shape-user")["Tags"]) == 2
call("UntagUser", UserName="shape-user", TagKeys=["env"])
call("TagRole", RoleName="shape-role", Tags=[{"Key": "env", "Value": "prod"}])
call("ListRoleTags", RoleName="shape-role")
call("UntagRole", RoleName="shape-role", TagKeys=["env"])
d = call("GetAccountAuthorizationDetails")
assert {x["UserName"] for x in d["UserDetailList"]} >= {"admin", "shape-user"}, d
assert d["Policies"][0]["PolicyVersionList"][0]["Document"] == json.loads(DOC)
call("GetAccountAuthorizationDetails", Filter=["Role"])
s = call("SimulateCustomPolicy", PolicyInputList=[DOC], ActionNames=["ecr:BatchGetImage", "ecr:PutImage"],
         ContextEntries=[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.0.0.1"], "ContextKeyType": "ip"}])
assert [x["EvalDecision"] for x in s["EvaluationResults"]] == ["allowed", "implicitDeny"], s
s = call("SimulatePrincipalPolicy", PolicySourceArn=u["User"]["Arn"], ActionNames=["ecr:BatchGetImage", "ecr:PutImage"])
assert [x["EvalDecision"] for x in s["EvaluationResults"]] == ["allowed", "implicitDeny"], s

# Pagination: Marker/MaxItems/IsTruncated across ListUsers.
for i in range(5):
    call("CreateUser", UserName=f"page-{i}", Path="/page/")
seen, marker = [], None
while True:
    kw = {"PathPrefix": "/page/", "MaxItems": 2}
    if marker:
        kw["Marker"] = marker
    pg = call("ListUsers", **kw)
    seen += [x["UserName"] for x in pg["Users"]]
    if not pg["IsTruncated"]:
        assert "Marker" not in pg
        break
    assert len(pg["Users"]) == 2
    marker = pg["Marker"]
assert seen == [f"page-{i}" for i in range(5)], seen

# Named errors with the model's statuses.
error("GetUser", "NoSuchEntity", 404, UserName="nobody")
error("CreateUser", "EntityAlreadyExists", 409, UserName="shape-user")
error("PutUserPolicy", "MalformedPolicyDocument", 400, UserName="shape-user", PolicyName="bad", PolicyDocument='{"Statement": 3}')
error("CreateUser", "ValidationError", 400, UserName="bad name")
error("DeleteUser", "DeleteConflict", 409, UserName="shape-user")
error("DeleteGroup", "DeleteConflict", 409, GroupName="shape-group")
error("DeleteRole", "DeleteConflict", 409, RoleName="shape-role")
error("DeletePolicy", "DeleteConflict", 409, PolicyArn=arn)
call("CreateAccessKey", UserName="shape-user")
error("CreateAccessKey", "LimitExceeded", 409, UserName="shape-user")
error("GetPolicy", "NoSuchEntity", 404, PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/none")
error("CreateRole", "MalformedPolicyDocument", 400, RoleName="bad-role", AssumeRolePolicyDocument="{}")

# Clean-up in IAM's order: detach, delete inline, keys, memberships, then the entities.
for kind, name in (("User", "shape-user"), ("Group", "shape-group"), ("Role", "shape-role")):
    call(f"Detach{kind}Policy", **{f"{kind}Name": name, "PolicyArn": arn})
call("DeletePolicy", PolicyArn=arn)
call("DeleteUserPolicy", UserName="shape-user", PolicyName="p1")
call("DeleteGroupPolicy", GroupName="shape-group", PolicyName="gp")
call("DeleteRolePolicy", RoleName="shape-role", PolicyName="rp")
for key in call("ListAccessKeys", UserName="shape-user")["AccessKeyMetadata"]:
    call("DeleteAccessKey", UserName="shape-user", AccessKeyId=key["AccessKeyId"])
call("RemoveUserFromGroup", GroupName="shape-group", UserName="shape-user")
call("DeleteGroup", GroupName="shape-group")
call("DeleteRole", RoleName="shape-role")
call("DeleteUser", UserName="shape-user")
error("GetUser", "NoSuchEntity", 404, UserName="shape-user")

for op in sorted(set(checked)):
    print("checked", op)
print("ALL OK", len(set(checked)), "operations")
