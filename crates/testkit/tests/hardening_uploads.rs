//! Issue 10, items 6 and 11, on the wire: deleting a repository ends the upload sessions opened
//! on it (and nothing brings the repository back), and upload sessions, blob sizes and upload
//! request durations are capped by `[limits]`, each refusal with the protocol's own error.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use portcullis_testkit::fixtures::{
    assert_error, assert_error_in, random_bytes, sha256_digest, with_query, Registry,
};
use portcullis_testkit::scenario::audit_lines;
use portcullis_testkit::{
    basic_auth, ServerOptions, TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY,
};
use serde_json::{json, Value};

fn start_with_env(env: &[(&str, &str)]) -> TestServer {
    TestServer::start_with(ServerOptions {
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..ServerOptions::default()
    })
}

/// Runs the real aws CLI against the server with a key pair.
fn aws_as(server: &TestServer, key: (&str, &str), args: &[&str]) -> Result<Value, String> {
    let out = Command::new("aws")
        .args(args)
        .args(["--endpoint-url", &server.base_url, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", key.0)
        .env("AWS_SECRET_ACCESS_KEY", key.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("the aws CLI is installed (scripts/install-test-deps.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        Ok(if stdout.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&stdout).expect("JSON output")
        })
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

const ADMIN: (&str, &str) = (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY);

fn ok(server: &TestServer, args: &[&str]) -> Value {
    aws_as(server, ADMIN, args).unwrap_or_else(|e| panic!("aws {args:?}: {e}"))
}

#[track_caller]
fn fails_with(server: &TestServer, key: (&str, &str), args: &[&str], code: &str) {
    let e = aws_as(server, key, args).expect_err("the call must fail");
    assert!(
        e.contains(&format!("({code})")),
        "expected {code} from {args:?}: {e}"
    );
}

fn staged_files(server: &TestServer) -> Vec<String> {
    std::fs::read_dir(server.data_dir().join("uploads"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A user allowed everything in ECR, with its access key and a registry client.
fn second_user(server: &TestServer, name: &str) -> ((String, String), Registry) {
    ok(server, &["iam", "create-user", "--user-name", name]);
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]
    });
    ok(
        server,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            name,
            "--policy-name",
            "all-ecr",
            "--policy-document",
            &policy.to_string(),
        ],
    );
    let key = ok(server, &["iam", "create-access-key", "--user-name", name]);
    let key = (
        key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_owned(),
        key["AccessKey"]["SecretAccessKey"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let out = Command::new("aws")
        .args([
            "ecr",
            "get-login-password",
            "--endpoint-url",
            &server.base_url,
        ])
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("aws ecr get-login-password");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let password = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let client = Registry::with_auth(&server.base_url, &basic_auth("AWS", &password));
    (key, client)
}

/// `POST /v2/<repo>/blobs/uploads/` that may be refused; returns the response.
fn post_upload(client: &Registry, repo: &str) -> reqwest::blocking::Response {
    client
        .post(&format!("/v2/{repo}/blobs/uploads/"))
        .header("Content-Length", "0")
        .send()
        .expect("POST upload")
}

/// Item 6: an upload session (OCI and ECR) opened before DeleteRepository --force is over
/// once the repository is gone: PATCH/PUT and UploadLayerPart/CompleteLayerUpload on it fail,
/// its staged bytes are removed, and the repository is not re-created by anyone's write (no
/// CreateRepository in the audit log after the delete), also once the name exists again.
#[test]
fn deleting_a_repository_ends_its_upload_sessions() {
    let server = TestServer::start();
    let client = Registry::new(&server);
    let repo = "team/app";
    ok(
        &server,
        &[
            "ecr",
            "create-repository",
            "--repository-name",
            repo,
            "--image-tag-mutability",
            "IMMUTABLE",
        ],
    );
    // A pushed image, so that the delete needs --force.
    let config = client.push_blob(repo, b"{}");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": []
    });
    let resp = client
        .put(&format!("/v2/{repo}/manifests/v1"))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.to_string())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);

    let data = random_bytes(4096);
    let digest = sha256_digest(&data);
    let location = client.start_upload(repo);
    let resp = client
        .patch(&location)
        .header("Content-Type", "application/octet-stream")
        .body(data[..1000].to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202, "the first chunk is staged");
    let ecr_upload = ok(
        &server,
        &["ecr", "initiate-layer-upload", "--repository-name", repo],
    );
    let ecr_id = ecr_upload["uploadId"].as_str().unwrap().to_owned();
    assert_eq!(staged_files(&server).len(), 2);

    ok(
        &server,
        &[
            "ecr",
            "delete-repository",
            "--repository-name",
            repo,
            "--force",
        ],
    );
    let deleted_at = audit_lines(server.data_dir()).len();
    assert!(
        staged_files(&server).is_empty(),
        "the staged bytes of the ended sessions are removed: {:?}",
        staged_files(&server)
    );

    let part = std::env::temp_dir().join(format!("portcullis-part-{}", std::process::id()));
    std::fs::write(&part, &data[..1000]).unwrap();
    let part_arg = format!("fileb://{}", part.display());
    let refused_on_the_old_sessions = |ecr_code: &str| {
        let resp = client
            .patch(&location)
            .header("Content-Type", "application/octet-stream")
            .body(data[1000..].to_vec())
            .send()
            .unwrap();
        assert_error_in(resp, &[404], &["BLOB_UPLOAD_UNKNOWN", "NAME_UNKNOWN"]);
        let resp = client
            .put(&with_query(&location, "digest", &digest))
            .header("Content-Type", "application/octet-stream")
            .body(data[1000..].to_vec())
            .send()
            .unwrap();
        assert_error_in(resp, &[404], &["BLOB_UPLOAD_UNKNOWN", "NAME_UNKNOWN"]);
        fails_with(
            &server,
            ADMIN,
            &[
                "ecr",
                "upload-layer-part",
                "--repository-name",
                repo,
                "--upload-id",
                &ecr_id,
                "--part-first-byte",
                "0",
                "--part-last-byte",
                "999",
                "--layer-part-blob",
                &part_arg,
            ],
            ecr_code,
        );
        fails_with(
            &server,
            ADMIN,
            &[
                "ecr",
                "complete-layer-upload",
                "--repository-name",
                repo,
                "--upload-id",
                &ecr_id,
                "--layer-digests",
                &digest,
            ],
            ecr_code,
        );
    };
    refused_on_the_old_sessions("RepositoryNotFoundException");
    fails_with(
        &server,
        ADMIN,
        &["ecr", "describe-repositories", "--repository-names", repo],
        "RepositoryNotFoundException",
    );
    let created_after_delete: Vec<Value> = audit_lines(server.data_dir())[deleted_at..]
        .iter()
        .filter(|e| {
            e["eventName"]
                .as_str()
                .is_some_and(|n| n.contains("CreateRepository"))
        })
        .cloned()
        .collect();
    assert!(
        created_after_delete.is_empty(),
        "nothing tried to create the repository: {created_after_delete:?}"
    );

    // The name exists again (an explicit CreateRepository): the old sessions stay ended, and
    // nothing of them lands in the new repository, which keeps its own settings.
    ok(
        &server,
        &["ecr", "create-repository", "--repository-name", repo],
    );
    refused_on_the_old_sessions("UploadNotFoundException");
    let resp = client
        .head(&format!("/v2/{repo}/blobs/{digest}"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let described = ok(
        &server,
        &["ecr", "describe-repositories", "--repository-names", repo],
    );
    assert_eq!(
        described["repositories"][0]["imageTagMutability"], "MUTABLE",
        "the repository is the one created again, not the old one"
    );
    let _ = std::fs::remove_file(part);
}

/// Item 11: open sessions are capped per principal and in total; one more is refused with
/// 429 TOOMANYREQUESTS on the registry API and LimitExceededException on the ECR API, and a
/// finished or cancelled session frees its slot.
#[test]
fn upload_sessions_are_capped_per_principal_and_in_total() {
    let server = start_with_env(&[
        ("PORTCULLIS_LIMITS__MAX_UPLOADS_PER_PRINCIPAL", "2"),
        ("PORTCULLIS_LIMITS__MAX_UPLOADS", "3"),
    ]);
    let admin = Registry::new(&server);
    let repo = "capped";
    let first = admin.start_upload(repo);
    admin.start_upload(repo);
    assert_error(post_upload(&admin, repo), 429, "TOOMANYREQUESTS");
    // A mount that falls back to a session counts too.
    let resp = admin
        .post(&format!(
            "/v2/{repo}/blobs/uploads/?mount={}&from=elsewhere",
            sha256_digest(b"absent")
        ))
        .header("Content-Length", "0")
        .send()
        .unwrap();
    assert_error(resp, 429, "TOOMANYREQUESTS");
    fails_with(
        &server,
        ADMIN,
        &["ecr", "initiate-layer-upload", "--repository-name", repo],
        "LimitExceededException",
    );

    // Another principal has its own count, up to the registry's total.
    let (key, other) = second_user(&server, "other");
    let key = (key.0.as_str(), key.1.as_str());
    aws_as(
        &server,
        key,
        &["ecr", "initiate-layer-upload", "--repository-name", repo],
    )
    .expect("the other principal's first session");
    assert_error(post_upload(&other, repo), 429, "TOOMANYREQUESTS");
    fails_with(
        &server,
        key,
        &["ecr", "initiate-layer-upload", "--repository-name", repo],
        "LimitExceededException",
    );

    // Cancelling a session frees a slot for anyone.
    let resp = admin.delete(&first).send().unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(post_upload(&other, repo).status().as_u16(), 202);
}

/// Item 11: a blob over `max_blob_bytes` is refused with 413 SIZE_INVALID, whether its size is
/// announced (Content-Length, Content-Range) or only streamed (chunked), and nothing of it
/// becomes visible; through the ECR API a part past the limit is LimitExceededException. A
/// blob of exactly the limit is accepted.
#[test]
fn blobs_over_the_size_limit_are_refused_and_never_visible() {
    let server = start_with_env(&[("PORTCULLIS_LIMITS__MAX_BLOB_BYTES", "1024")]);
    let client = Registry::new(&server);
    let repo = "sized";

    let fits = random_bytes(1024);
    assert_eq!(client.push_blob(repo, &fits), sha256_digest(&fits));

    let big = random_bytes(2048);
    let digest = sha256_digest(&big);
    let not_visible = |what: &str| {
        let resp = client
            .head(&format!("/v2/{repo}/blobs/{digest}"))
            .send()
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            404,
            "{what}: the blob is not visible"
        );
    };

    // Monolithic POST with the size announced.
    let resp = client
        .post(&format!("/v2/{repo}/blobs/uploads/?digest={digest}"))
        .header("Content-Type", "application/octet-stream")
        .body(big.clone())
        .send()
        .unwrap();
    assert_error(resp, 413, "SIZE_INVALID");
    not_visible("POST ?digest=");

    // A chunk whose Content-Length passes the limit: refused and the session discarded.
    let location = client.start_upload(repo);
    let resp = client
        .patch(&location)
        .header("Content-Type", "application/octet-stream")
        .body(big.clone())
        .send()
        .unwrap();
    assert_error(resp, 413, "SIZE_INVALID");
    assert_error(
        client.get(&location).send().unwrap(),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );

    // Two chunks whose sum passes it, the second announced by Content-Range.
    let location = client.start_upload(repo);
    let resp = client
        .patch(&location)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", "0-999")
        .body(big[..1000].to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let resp = client
        .put(&with_query(&location, "digest", &digest))
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", "1000-2047")
        .body(big[1000..].to_vec())
        .send()
        .unwrap();
    assert_error(resp, 413, "SIZE_INVALID");
    not_visible("chunked PATCH then PUT");

    // A chunked body with no announced size: the server answers as soon as the streamed
    // bytes pass the limit, without waiting for the rest (the body is never finished here).
    let location = client.start_upload(repo);
    let path = location
        .strip_prefix(&client.base)
        .unwrap_or(&location)
        .to_owned();
    let mut sock = TcpStream::connect(server.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.host(),
        client.auth_header().unwrap()
    );
    sock.write_all(head.as_bytes()).unwrap();
    sock.write_all(format!("{:x}\r\n", big.len()).as_bytes())
        .unwrap();
    sock.write_all(&big).unwrap();
    sock.write_all(b"\r\n").unwrap();
    let answer = read_head(&mut sock);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "a streamed body past the limit is cut: {answer}"
    );
    drop(sock);
    assert_error(
        client.get(&location).send().unwrap(),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    not_visible("chunked transfer encoding");

    // The ECR API: a part whose last byte passes the limit.
    let upload = ok(
        &server,
        &["ecr", "initiate-layer-upload", "--repository-name", repo],
    );
    let id = upload["uploadId"].as_str().unwrap();
    let part = std::env::temp_dir().join(format!("portcullis-big-{}", std::process::id()));
    std::fs::write(&part, &big).unwrap();
    fails_with(
        &server,
        ADMIN,
        &[
            "ecr",
            "upload-layer-part",
            "--repository-name",
            repo,
            "--upload-id",
            id,
            "--part-first-byte",
            "0",
            "--part-last-byte",
            "2047",
            "--layer-part-blob",
            &format!("fileb://{}", part.display()),
        ],
        "LimitExceededException",
    );
    let _ = std::fs::remove_file(part);
    not_visible("UploadLayerPart");
    assert!(
        server
            .data_dir()
            .join("uploads")
            .read_dir()
            .unwrap()
            .next()
            .is_none(),
        "no staged bytes are left of the refused blobs"
    );
}

/// Item 11: a body trickled slowly enough never to trip the idle timeout is still cut at
/// `upload_request_timeout_secs`.
#[test]
fn a_trickled_upload_is_cut_at_the_request_deadline() {
    let server = start_with_env(&[("PORTCULLIS_LIMITS__UPLOAD_REQUEST_TIMEOUT_SECS", "3")]);
    let client = Registry::new(&server);
    let repo = "slow";
    let location = client.start_upload(repo);
    let path = location
        .strip_prefix(&client.base)
        .unwrap_or(&location)
        .to_owned();
    let mut sock = TcpStream::connect(server.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n",
        server.host(),
        client.auth_header().unwrap()
    );
    sock.write_all(head.as_bytes()).unwrap();
    let mut writer = sock.try_clone().unwrap();
    let started = Instant::now();
    // One byte every 500 ms: 100 bytes would take 50 s, far past the 3 s deadline, while no
    // pause comes near the 60 s idle timeout.
    let trickle = std::thread::spawn(move || {
        for _ in 0..100 {
            if writer.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    let answer = read_head(&mut sock);
    let took = started.elapsed();
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "the request is failed at its deadline: {answer}"
    );
    assert!(answer.contains("BLOB_UPLOAD_INVALID"), "{answer}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "cut after {took:?}, expected about 3 s"
    );
    drop(sock);
    let _ = trickle.join();
    // The session survives with what it received, for a resumed push.
    let resp = client.get(&location).send().unwrap();
    assert_eq!(resp.status().as_u16(), 204);
}

/// Reads a response's head and whatever body arrived with it.
fn read_head(sock: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("}]}") {
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}
