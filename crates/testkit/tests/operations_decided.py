"""Calls every ECR, IAM and Secrets Manager operation the server serves as a user who holds no permission at all,
with input that is valid for the operation, and checks that each one is refused as
`AccessDeniedException` (ECR, Secrets Manager) or `AccessDenied` (IAM): an operation that answers anything else
either acts without an authorization decision or checks something before it decides.

The operations come from the server's source (the `EcrOperation`, `IamOperation` and `SecretsOperation` enums), so an
operation added there without an input here fails this script until it is listed.

Usage: python3 operations_decided.py BASE_URL ROOT   (admin credentials in AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY; ROOT is the repository). Prints one line per operation and `ALL OK`.
"""
import json
import pathlib
import re
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

BASE = sys.argv[1].rstrip("/")
ROOT = pathlib.Path(sys.argv[2])
REGION = "us-east-1"
ACCOUNT = "123456789012"
CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"})
REPO = "decided/repo"
DIGEST = "sha256:" + "0" * 64
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}],
    }
)
IDENTITY_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}
)
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
)
LIFECYCLE = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
                "action": {"type": "expire"},
            }
        ]
    }
)
REPO_ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPO}"
MANAGED = f"arn:aws:iam::{ACCOUNT}:policy/decided-policy"

ECR_INPUT = {
    "GetAuthorizationToken": {},
    "CreateRepository": {"repositoryName": "decided/new"},
    "DescribeRepositories": {"repositoryNames": [REPO]},
    "DeleteRepository": {"repositoryName": REPO},
    "SetRepositoryPolicy": {"repositoryName": REPO, "policyText": POLICY},
    "GetRepositoryPolicy": {"repositoryName": REPO},
    "DeleteRepositoryPolicy": {"repositoryName": REPO},
    "PutRegistryPolicy": {"policyText": json.dumps({"Version": "2012-10-17", "Statement": []})},
    "GetRegistryPolicy": {},
    "DeleteRegistryPolicy": {},
    "DescribeRegistry": {},
    "PutImage": {"repositoryName": REPO, "imageManifest": "{}", "imageTag": "v1"},
    "BatchGetImage": {"repositoryName": REPO, "imageIds": [{"imageTag": "v1"}]},
    "BatchDeleteImage": {"repositoryName": REPO, "imageIds": [{"imageTag": "v1"}]},
    "ListImages": {"repositoryName": REPO},
    "DescribeImages": {"repositoryName": REPO},
    "ListImageReferrers": {"repositoryName": REPO, "subjectId": {"imageDigest": DIGEST}},
    "BatchCheckLayerAvailability": {"repositoryName": REPO, "layerDigests": [DIGEST]},
    "InitiateLayerUpload": {"repositoryName": REPO},
    "UploadLayerPart": {
        "repositoryName": REPO,
        "uploadId": "00000000-0000-0000-0000-000000000000",
        "partFirstByte": 0,
        "partLastByte": 0,
        "layerPartBlob": b"x",
    },
    "CompleteLayerUpload": {
        "repositoryName": REPO,
        "uploadId": "00000000-0000-0000-0000-000000000000",
        "layerDigests": [DIGEST],
    },
    "GetDownloadUrlForLayer": {"repositoryName": REPO, "layerDigest": DIGEST},
    "PutImageTagMutability": {"repositoryName": REPO, "imageTagMutability": "IMMUTABLE"},
    "PutLifecyclePolicy": {"repositoryName": REPO, "lifecyclePolicyText": LIFECYCLE},
    "GetLifecyclePolicy": {"repositoryName": REPO},
    "DeleteLifecyclePolicy": {"repositoryName": REPO},
    "StartLifecyclePolicyPreview": {"repositoryName": REPO},
    "GetLifecyclePolicyPreview": {"repositoryName": REPO},
    "TagResource": {"resourceArn": REPO_ARN, "tags": [{"Key": "team", "Value": "a"}]},
    "UntagResource": {"resourceArn": REPO_ARN, "tagKeys": ["team"]},
    "ListTagsForResource": {"resourceArn": REPO_ARN},
    "CreateRepositoryCreationTemplate": {"prefix": "decided", "appliedFor": ["CREATE_ON_PUSH"]},
    "DescribeRepositoryCreationTemplates": {},
    "UpdateRepositoryCreationTemplate": {"prefix": "decided", "description": "x"},
    "DeleteRepositoryCreationTemplate": {"prefix": "decided"},
    "GetAccountSetting": {"name": "BLOB_MOUNTING"},
    "PutAccountSetting": {"name": "BLOB_MOUNTING", "value": "DISABLED"},
    "CreatePullThroughCacheRule": {"ecrRepositoryPrefix": "decided-cache", "upstreamRegistryUrl": "quay.io"},
    "DescribePullThroughCacheRules": {},
    "UpdatePullThroughCacheRule": {"ecrRepositoryPrefix": "decided-cache",
                                   "credentialArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/decided-AbCdEf"},
    "DeletePullThroughCacheRule": {"ecrRepositoryPrefix": "decided-cache"},
}

IAM_INPUT = {
    "CreateUser": {"UserName": "decided-new"},
    "GetUser": {"UserName": "victim"},
    "ListUsers": {},
    "DeleteUser": {"UserName": "victim"},
    "CreateGroup": {"GroupName": "decided-new"},
    "GetGroup": {"GroupName": "victims"},
    "ListGroups": {},
    "DeleteGroup": {"GroupName": "victims"},
    "AddUserToGroup": {"GroupName": "victims", "UserName": "victim"},
    "RemoveUserFromGroup": {"GroupName": "victims", "UserName": "victim"},
    "ListGroupsForUser": {"UserName": "victim"},
    "CreateRole": {"RoleName": "decided-new", "AssumeRolePolicyDocument": TRUST},
    "GetRole": {"RoleName": "victim-role"},
    "ListRoles": {},
    "DeleteRole": {"RoleName": "victim-role"},
    "CreateAccessKey": {"UserName": "victim"},
    "ListAccessKeys": {"UserName": "victim"},
    "UpdateAccessKey": {"UserName": "victim", "AccessKeyId": "AKIAVICTIMVICTIMVICT", "Status": "Inactive"},
    "DeleteAccessKey": {"UserName": "victim", "AccessKeyId": "AKIAVICTIMVICTIMVICT"},
    "GetAccountAuthorizationDetails": {},
    "CreatePolicy": {"PolicyName": "decided-new", "PolicyDocument": IDENTITY_POLICY},
    "GetPolicy": {"PolicyArn": MANAGED},
    "ListPolicies": {},
    "DeletePolicy": {"PolicyArn": MANAGED},
    "GetPolicyVersion": {"PolicyArn": MANAGED, "VersionId": "v1"},
    "SimulateCustomPolicy": {"PolicyInputList": [IDENTITY_POLICY], "ActionNames": ["ecr:ListImages"]},
    "SimulatePrincipalPolicy": {
        "PolicySourceArn": f"arn:aws:iam::{ACCOUNT}:user/victim",
        "ActionNames": ["ecr:ListImages"],
    },
}
for noun, member, owner in [("User", "UserName", "victim"), ("Group", "GroupName", "victims"), ("Role", "RoleName", "victim-role")]:
    IAM_INPUT[f"Put{noun}Policy"] = {member: owner, "PolicyName": "p", "PolicyDocument": IDENTITY_POLICY}
    IAM_INPUT[f"Get{noun}Policy"] = {member: owner, "PolicyName": "p"}
    IAM_INPUT[f"List{noun}Policies"] = {member: owner}
    IAM_INPUT[f"Delete{noun}Policy"] = {member: owner, "PolicyName": "p"}
    IAM_INPUT[f"Attach{noun}Policy"] = {member: owner, "PolicyArn": MANAGED}
    IAM_INPUT[f"Detach{noun}Policy"] = {member: owner, "PolicyArn": MANAGED}
    IAM_INPUT[f"ListAttached{noun}Policies"] = {member: owner}
    if noun != "Group":
        IAM_INPUT[f"Tag{noun}"] = {member: owner, "Tags": [{"Key": "k", "Value": "v"}]}
        IAM_INPUT[f"Untag{noun}"] = {member: owner, "TagKeys": ["k"]}
        IAM_INPUT[f"List{noun}Tags"] = {member: owner}

SECRET = "ecr-pullthroughcache/decided"
SECRETS_INPUT = {
    "CreateSecret": {"Name": "ecr-pullthroughcache/decided-new", "SecretString": "{}"},
    "PutSecretValue": {"SecretId": SECRET, "SecretString": '{"username":"u","accessToken":"t"}'},
    "DescribeSecret": {"SecretId": SECRET},
    "ListSecrets": {},
    "DeleteSecret": {"SecretId": SECRET, "ForceDeleteWithoutRecovery": True},
    "GetSecretValue": {"SecretId": SECRET},
    "TagResource": {"SecretId": SECRET, "Tags": [{"Key": "k", "Value": "v"}]},
}


def served(path, enum, service):
    """The variants of `enum <Name>: "<service>" { ... }` in the server's source."""
    source = (ROOT / path).read_text()
    m = re.search(r"\benum\s+" + enum + r'\s*:\s*"' + service + r'"\s*\{(.*?)\}', source, re.S)
    if not m:
        raise SystemExit(f"no `enum {enum}` in {path}")
    return re.findall(r"\b([A-Z]\w*)\b", re.sub(r"//[^\n]*", "", m.group(1)))


def client(service, key, secret):
    return boto3.client(
        service,
        endpoint_url=BASE,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=CONFIG,
    )


failures = []


def check(service, operation, params, denied_code, nobody):
    method = getattr(nobody, re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower())
    try:
        method(**params)
        got = "success"
    except ClientError as e:
        got = e.response["Error"].get("Code", "?") + ": " + e.response["Error"].get("Message", "")
    if got.startswith(denied_code + ":"):
        print(f"ok   {service} {operation}")
    else:
        print(f"FAIL {service} {operation}: {got}")
        failures.append(f"{service} {operation}: {got}")


def main():
    ecr_ops = served("crates/api/src/ecr/ops.rs", "EcrOperation", "ecr")
    iam_ops = served("crates/api/src/iam/mod.rs", "IamOperation", "iam")
    secrets_ops = served("crates/api/src/secrets/ops.rs", "SecretsOperation", "secretsmanager")
    missing = [o for o in ecr_ops if o not in ECR_INPUT] + [o for o in iam_ops if o not in IAM_INPUT]
    missing += [o for o in secrets_ops if o not in SECRETS_INPUT]
    if missing:
        raise SystemExit(f"operations_decided.py has no input for {', '.join(missing)}: add one")

    admin_ecr = client("ecr", None, None)
    admin_iam = client("iam", None, None)
    # Things to act on, so that a refusal cannot be a "not found" in disguise.
    admin_ecr.create_repository(repositoryName=REPO)
    admin_ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="decided-cache", upstreamRegistryUrl="quay.io")
    admin_iam.create_user(UserName="victim")
    admin_iam.create_group(GroupName="victims")
    admin_iam.create_role(RoleName="victim-role", AssumeRolePolicyDocument=TRUST)
    admin_iam.create_policy(PolicyName="decided-policy", PolicyDocument=IDENTITY_POLICY)
    admin_secrets = client("secretsmanager", None, None)
    admin_secrets.create_secret(Name=SECRET, SecretString='{"username":"u","accessToken":"t"}')
    admin_iam.create_user(UserName="nobody")
    key = admin_iam.create_access_key(UserName="nobody")["AccessKey"]
    nobody_ecr = client("ecr", key["AccessKeyId"], key["SecretAccessKey"])
    nobody_iam = client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    nobody_secrets = client("secretsmanager", key["AccessKeyId"], key["SecretAccessKey"])

    for op in ecr_ops:
        check("ecr", op, ECR_INPUT[op], "AccessDeniedException", nobody_ecr)
    for op in iam_ops:
        check("iam", op, IAM_INPUT[op], "AccessDenied", nobody_iam)
    for op in secrets_ops:
        check("secretsmanager", op, SECRETS_INPUT[op], "AccessDeniedException", nobody_secrets)

    # A listing is filtered rather than refused: it shows nothing the caller may not describe.
    listed = nobody_ecr.describe_repositories()["repositories"]
    if listed:
        failures.append(f"ecr DescribeRepositories listing shows {listed}")
    # Nothing was changed by any of the refused calls.
    if admin_ecr.describe_repositories(repositoryNames=[REPO])["repositories"][0]["imageTagMutability"] != "MUTABLE":
        failures.append("a refused PutImageTagMutability changed the repository")
    users = sorted(u["UserName"] for u in admin_iam.list_users()["Users"])
    if "decided-new" in users:
        failures.append("a refused CreateUser created the user")

    if admin_secrets.get_secret_value(SecretId=SECRET)["SecretString"] != '{"username":"u","accessToken":"t"}':
        failures.append("a refused PutSecretValue changed the secret")
    if admin_secrets.list_secrets(Filters=[{"Key": "name", "Values": ["ecr-pullthroughcache/decided-new"]}])["SecretList"]:
        failures.append("a refused CreateSecret created the secret")

    print(f"checked {len(ecr_ops)} ECR, {len(iam_ops)} IAM and {len(secrets_ops)} Secrets Manager operations")
    if failures:
        print("\nFAILURES:\n" + "\n".join(failures))
        sys.exit(1)
    print("ALL OK")


main()
