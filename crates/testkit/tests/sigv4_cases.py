"""Sends ECR API requests signed by botocore in ways a server must refuse.

usage: sigv4_cases.py URL ACCESS_KEY SECRET MODE
MODE: skewed (signed 20 minutes ago), presigned-expired (query auth valid for 1 s, sent after 2 s),
      presigned-fresh (the same, sent at once).
Prints one JSON object: {"status": N, "body": {...}}.
"""
import datetime
import json
import sys
import time
import urllib.error
import urllib.request
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.credentials

url, key, secret, mode = sys.argv[1:5]
creds = botocore.credentials.Credentials(key, secret)
target = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
req = botocore.awsrequest.AWSRequest(
    method="POST",
    url=url.rstrip("/") + "/",
    data=b"{}",
    headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
)
if mode == "skewed":
    past = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=past):
        botocore.auth.SigV4Auth(creds, "ecr", "ap-northeast-1").add_auth(req)
elif mode.startswith("presigned"):
    botocore.auth.SigV4QueryAuth(creds, "ecr", "ap-northeast-1", expires=1).add_auth(req)
    if mode == "presigned-expired":
        time.sleep(2.5)
else:
    sys.exit(f"unknown mode {mode}")

prepared = req.prepare()
body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
http_req = urllib.request.Request(prepared.url, data=body, method="POST")
for name, value in prepared.headers.items():
    http_req.add_header(name, value)
try:
    with urllib.request.urlopen(http_req) as resp:
        status, body = resp.status, resp.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
print(json.dumps({"status": status, "body": json.loads(body or b"{}")}))
