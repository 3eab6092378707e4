"""StartLifecyclePolicyPreview and GetLifecyclePolicyPreview through boto3, on ecr_boto.py's
validating client: every raw response is checked strictly against botocore's model (output
shapes, modelled errors), and on top of that what the preview says: the stored policy or a
candidate, results oldest push first, tags, rule priorities, pages with a summary of the whole
preview, the tagStatus filter, imageIds, the waiter, the errors, authorization, and that a
preview changes nothing and goes with its repository.

Usage: python3 lifecycle_preview.py BASE_URL   (admin credentials in AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY). Prints one line per check and `ALL OK` at the end; exits 1 with the
failures listed otherwise.
"""
import pathlib
import sys
import time
import traceback

import boto3
from botocore.config import Config

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import ecr_boto as kit  # noqa: E402  (reads BASE_URL from argv like this script)

from ecr_boto import check, err, ok, paginate, policy_text, rule  # noqa: E402

REPO = "preview/app"
KEEP_ONE_RELEASE = policy_text({"rules": [
    rule(1, tagStatus="tagged", tagPrefixList=["release"]),
    rule(2, tagStatus="untagged", countNumber=1),
]})
KEEP_ALL = policy_text({"rules": [rule(1, tagStatus="any", countNumber=100)]})

# botocore refuses out-of-range values before sending them; the server's own checks need a
# client that sends them anyway.
RAW = boto3.session.Session().client(
    "ecr", endpoint_url=kit.BASE, region_name=kit.REGION,
    config=kit.CONFIG.merge(Config(parameter_validation=False)))
RAW.meta.events.register("before-parse.ecr", kit.on_before_parse)


def push_untagged(repo, note):
    """An image pushed by digest alone; returns its digest."""
    cfg, layer = kit.config_blob(note), f"layer {note}".encode()
    for blob in (cfg, layer):
        st, b = kit.push_blob(repo, blob)
        assert st == 201, (st, b)
    manifest = kit.image_manifest(cfg, [layer], note)
    digest = kit.sha(manifest)
    st, b = kit.put_manifest(repo, digest, manifest)
    assert st == 201, (st, b)
    return digest


def push_tagged(repo, tag, note):
    st, b = kit.push_image(repo, tag, note)
    assert st == 201, (st, b)
    return kit.ECR.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": tag}])["images"][0]["imageId"]["imageDigest"]


def setup():
    out = kit.ECR.get_authorization_token()
    kit.TOKEN = out["authorizationData"][0]["authorizationToken"]
    ok("CreateRepository", repositoryName=REPO)
    digests = {}
    # Oldest first: release-1, an untagged one, release-2, another untagged one, release-3 and
    # a `latest` no rule selects.
    for i, name in enumerate(["release-1", None, "release-2", None, "release-3", "latest"]):
        key = name or f"untagged-{i}"
        digests[key] = push_untagged(REPO, 900 + i) if name is None else push_tagged(REPO, name, 900 + i)
        time.sleep(0.02)
    return digests


def errors(run):
    err("GetLifecyclePolicyPreview", "LifecyclePolicyPreviewNotFoundException", "before any start",
        repositoryName=REPO)
    err("StartLifecyclePolicyPreview", "LifecyclePolicyNotFoundException", "no stored policy and no candidate",
        repositoryName=REPO)
    err("StartLifecyclePolicyPreview", "RepositoryNotFoundException", repositoryName="preview/missing")
    err("StartLifecyclePolicyPreview", "RepositoryNotFoundException", "with a candidate",
        repositoryName="preview/missing", lifecyclePolicyText=KEEP_ALL)
    err("GetLifecyclePolicyPreview", "RepositoryNotFoundException", repositoryName="preview/missing")
    for why, doc, words in [
        ("a candidate without rules", {"rules": []}, ["rule"]),
        ("a transition rule", {"rules": [rule(action="transition")]}, ["transition", "action"]),
        ("a candidate that is not JSON", "{\"rules\": [", ["json"]),
    ]:
        e = err("StartLifecyclePolicyPreview", "InvalidParameterException", why, repositoryName=REPO,
                lifecyclePolicyText=policy_text(doc))
        msg = e.response["Error"]["Message"]
        check(any(w in msg.lower() for w in words), f"  the message names the problem ({'/'.join(words)}): {msg}")


def stored_policy_preview(run):
    digests = run["digests"]
    ok("PutLifecyclePolicy", repositoryName=REPO, lifecyclePolicyText=KEEP_ONE_RELEASE)
    before = time.time()
    out = ok("StartLifecyclePolicyPreview", "the stored policy", repositoryName=REPO)
    check(out["status"] == "COMPLETE" and out["registryId"] == kit.ACCOUNT and out["repositoryName"] == REPO
          and out["lifecyclePolicyText"] == KEEP_ONE_RELEASE, f"Start answers COMPLETE with the stored policy: {out}")
    waiter = kit.ECR.get_waiter("lifecycle_policy_preview_complete")
    waiter.wait(repositoryName=REPO, WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    check(True, "the LifecyclePolicyPreviewComplete waiter is satisfied at once")

    out = ok("GetLifecyclePolicyPreview", repositoryName=REPO)
    check(out["status"] == "COMPLETE" and out["lifecyclePolicyText"] == KEEP_ONE_RELEASE,
          "Get answers COMPLETE with the policy previewed")
    results = out["previewResults"]
    want = [(digests["release-1"], 1), (digests["untagged-1"], 2), (digests["release-2"], 1)]
    got = [(r["imageDigest"], r["appliedRulePriority"]) for r in results]
    check(got == want, f"what expires, oldest push first, with its rule: {got}")
    check(out["summary"] == {"expiringImageTotalCount": 3}, f"summary: {out['summary']}")
    check(all(r["action"] == {"type": "EXPIRE"} for r in results), "every action is EXPIRE")
    check(results[0]["imageTags"] == ["release-1"] and "imageTags" not in results[1],
          "tags as pushed; an untagged image has none")
    pushed = [r["imagePushedAt"].timestamp() for r in results]
    check(pushed == sorted(pushed) and all(before - 120 < t <= before + 1 for t in pushed),
          f"imagePushedAt are the push times: {pushed}")
    check("nextToken" not in out, "one page")

    images = kit.ECR.describe_images(repositoryName=REPO)["imageDetails"]
    check(len(images) == 6, f"the preview expired nothing ({len(images)} images)")
    check(kit.ECR.get_lifecycle_policy(repositoryName=REPO)["lastEvaluatedAt"].timestamp() == 0,
          "and recorded no evaluation")
    run["want"] = want


def pages_filters_and_ids(run):
    digests, want = run["digests"], run["want"]
    items = paginate("GetLifecyclePolicyPreview", "previewResults", 1, min_pages=3, repositoryName=REPO)
    check([i["imageDigest"] for i in items] == [d for d, _ in want], "the paginator gives every result once, in order")
    token, seen = None, []
    while True:
        kw = {"nextToken": token} if token else {}
        out = ok("GetLifecyclePolicyPreview", "maxResults 2", repositoryName=REPO, maxResults=2, **kw)
        check(len(out["previewResults"]) <= 2 and out["summary"]["expiringImageTotalCount"] == 3,
              "  a page holds at most 2; its summary counts the whole preview")
        seen += [r["imageDigest"] for r in out["previewResults"]]
        token = out.get("nextToken")
        if not token:
            break
    check(seen == [d for d, _ in want], "maxResults and nextToken walk the preview")

    for status, expected in [("TAGGED", [digests["release-1"], digests["release-2"]]),
                             ("UNTAGGED", [digests["untagged-1"]]),
                             ("ANY", [d for d, _ in want])]:
        out = ok("GetLifecyclePolicyPreview", f"filter {status}", repositoryName=REPO, filter={"tagStatus": status})
        got = [r["imageDigest"] for r in out["previewResults"]]
        check(got == expected and out["summary"]["expiringImageTotalCount"] == 3,
              f"  the {status} images of the preview, the summary unchanged: {got}")

    out = ok("GetLifecyclePolicyPreview", "imageIds", repositoryName=REPO, imageIds=[
        {"imageTag": "release-2"}, {"imageDigest": digests["untagged-1"]},
        {"imageTag": "latest"},  # kept by the policy: not in the preview
    ])
    got = sorted(r["imageDigest"] for r in out["previewResults"])
    check(got == sorted([digests["release-2"], digests["untagged-1"]]), f"  only the images named: {got}")

    bad = [
        ("maxResults 0", {"maxResults": 0}),
        ("maxResults 101", {"maxResults": 101}),
        ("a nextToken this server did not issue", {"nextToken": "!!"}),
        ("an unknown tagStatus", {"filter": {"tagStatus": "SOMETIMES"}}),
        ("imageIds with maxResults", {"imageIds": [{"imageTag": "release-1"}], "maxResults": 5}),
        ("an image id without tag or digest", {"imageIds": [{}]}),
        ("an image id with a malformed digest", {"imageIds": [{"imageDigest": "sha256:xyz"}]}),
        ("101 image ids", {"imageIds": [{"imageTag": f"t{i}"} for i in range(101)]}),
    ]
    for why, kw in bad:
        err("GetLifecyclePolicyPreview", "InvalidParameterException", why, client=RAW, repositoryName=REPO, **kw)


def candidates_replace(run):
    out = ok("StartLifecyclePolicyPreview", "a candidate", repositoryName=REPO, lifecyclePolicyText=KEEP_ALL)
    check(out["lifecyclePolicyText"] == KEEP_ALL, "Start echoes the candidate")
    out = ok("GetLifecyclePolicyPreview", "after the candidate", repositoryName=REPO)
    check(out["lifecyclePolicyText"] == KEEP_ALL and out["previewResults"] == []
          and out["summary"]["expiringImageTotalCount"] == 0, "the candidate's preview replaced the stored policy's")
    check(kit.ECR.get_lifecycle_policy(repositoryName=REPO)["lifecyclePolicyText"] == KEEP_ONE_RELEASE,
          "the stored policy is unchanged")


def authorization(run):
    key, secret = kit.user_with_policy("preview-reader", ["ecr:GetLifecyclePolicyPreview"])
    reader = kit.ecr_client(key, secret)
    ok("GetLifecyclePolicyPreview", "as a user allowed only Get", client=reader, repositoryName=REPO)
    e = err("StartLifecyclePolicyPreview", "AccessDeniedException", "as that user", client=reader,
            repositoryName=REPO)
    msg = e.response["Error"]["Message"]
    check("ecr:StartLifecyclePolicyPreview" in msg and kit.repo_arn(REPO) in msg,
          f"  the denial names the action and the repository: {msg}")


def goes_with_the_repository(run):
    ok("DeleteRepository", repositoryName=REPO, force=True)
    err("GetLifecyclePolicyPreview", "RepositoryNotFoundException", "after the repository went", repositoryName=REPO)
    ok("CreateRepository", "the same name again", repositoryName=REPO)
    err("GetLifecyclePolicyPreview", "LifecyclePolicyPreviewNotFoundException", "in the new repository",
        repositoryName=REPO)


def main():
    steps = [errors, stored_policy_preview, pages_filters_and_ids, candidates_replace, authorization,
             goes_with_the_repository]
    try:
        run = {"digests": setup()}
    except Exception:
        kit.flush()
        kit.fail(f"setup failed:\n{traceback.format_exc()}")
        steps = []
    for step in steps:
        print(f"== {step.__name__}")
        try:
            step(run)
        except Exception:
            kit.flush()
            kit.fail(f"{step.__name__} abandoned:\n{traceback.format_exc()}")
    kit.flush()
    if kit.FAILURES:
        print(f"\n{len(kit.FAILURES)} FAILURE(S):")
        for f in kit.FAILURES:
            print(f"  - {f}")
        sys.exit(1)
    print("ALL OK")


if __name__ == "__main__":
    main()
