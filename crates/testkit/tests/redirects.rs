//! `[storage] redirect = true` on S3: blob GETs answer `307` to a presigned URL of the bucket,
//! `GetDownloadUrlForLayer` returns such a URL, and the bytes come from Garage, not the node
//! (its counters show none served). Only after the request was authorized: a caller the policy
//! refuses gets `403`, never a URL.
//!
//! Runs with `PORTCULLIS_TEST_BACKENDS=postgres+s3` (the second pass of scripts/test.sh).

use std::net::TcpListener;
use std::process::Command;

use portcullis_testkit::clients::{require, ClientEnv, MediaTypes, OciLayout};
use portcullis_testkit::fixtures::Registry;
use portcullis_testkit::scenario::{audit_lines, aws, user_with_policy, REGION};
use portcullis_testkit::{ServerOptions, TestServer};
use serde_json::Value;

/// A node with redirects on and its metrics listener, or `None` on the embedded default.
fn redirecting_node() -> Option<(TestServer, String)> {
    if std::env::var("PORTCULLIS_TEST_BACKENDS").is_err() {
        println!("skipped: PORTCULLIS_TEST_BACKENDS unset (redirects need the S3 backend)");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let server = TestServer::start_with(ServerOptions {
        env: vec![
            ("PORTCULLIS_STORAGE__REDIRECT".into(), "true".into()),
            ("PORTCULLIS_STORAGE__REDIRECT_TTL_SECS".into(), "120".into()),
            ("PORTCULLIS_METRICS__LISTEN".into(), metrics.clone()),
            ("PORTCULLIS_AUTH__REGION".into(), REGION.into()),
        ],
        ..ServerOptions::default()
    });
    Some((server, format!("http://{metrics}/metrics")))
}

/// A counter's value in the Prometheus text (0 when it was never incremented).
fn counter(metrics_url: &str, name: &str) -> u64 {
    let text = reqwest::blocking::get(metrics_url)
        .and_then(|r| r.text())
        .expect("GET /metrics");
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

fn curl(args: &[&str]) -> (String, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut body = out.stdout;
    let split = body.iter().rposition(|b| *b == b'\n').expect("status line");
    let status = String::from_utf8_lossy(&body[split + 1..]).into_owned();
    body.truncate(split);
    (status, body)
}

fn s3_endpoint_host() -> String {
    let endpoint = std::env::var("PORTCULLIS_TEST_S3_ENDPOINT").expect("S3 endpoint");
    endpoint
        .split_once("://")
        .map_or(endpoint.clone(), |(_, h)| {
            h.trim_end_matches('/').to_owned()
        })
}

#[test]
fn a_blob_get_redirects_to_the_bucket_and_no_byte_passes_the_node() {
    let Some((server, metrics)) = redirecting_node() else {
        return;
    };
    let reg = Registry::new(&server);
    let image = reg.push_image("redir/app", "v1", 2, 3 * 1024 * 1024 + 11);
    let layer = &image.layers[0];
    let path = format!("/v2/redir/app/blobs/{}", layer.digest);
    let before = counter(&metrics, "portcullis_blob_bytes_served_total");

    let resp = reg.get(&path).send().expect("GET blob");
    assert_eq!(resp.status().as_u16(), 307);
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_owned();
    assert!(
        location.contains(&s3_endpoint_host()) && location.contains("X-Amz-Signature="),
        "{location}"
    );

    // curl -L follows it with the registry's credentials on the first hop only.
    let auth = format!("Authorization: {}", server.admin_basic_auth());
    let (status, body) = curl(&["-L", "-H", &auth, &format!("{}{path}", server.base_url)]);
    assert_eq!(status, "200");
    assert_eq!(portcullis_testkit::clients::sha256(&body), layer.digest);
    // A range goes along to the bucket.
    let (status, part) = curl(&[
        "-L",
        "-H",
        &auth,
        "-H",
        "Range: bytes=10-19",
        &format!("{}{path}", server.base_url),
    ]);
    assert_eq!(status, "206");
    assert_eq!(part, layer.bytes[10..20]);

    // The presigned URL is for GET of that one blob only.
    let (status, _) = curl(&["-X", "DELETE", &location]);
    assert_eq!(status, "403", "a presigned GET URL must not delete");
    let (status, _) = curl(&["-X", "PUT", "--data-binary", "x", &location]);
    assert_eq!(status, "403", "a presigned GET URL must not write");
    let (status, body) = curl(&[&location]);
    assert_eq!(status, "200", "still readable");
    assert_eq!(portcullis_testkit::clients::sha256(&body), layer.digest);

    assert_eq!(
        counter(&metrics, "portcullis_blob_bytes_served_total"),
        before,
        "blob bytes went through the node"
    );
    assert!(counter(&metrics, "portcullis_blob_redirects_total") >= 2);
    // Every redirect was an audited decision, as a streamed pull is.
    let events = audit_lines(server.data_dir());
    assert!(
        events
            .iter()
            .any(|e| e["eventName"] == "GetDownloadUrlForLayer"
                && e["decision"] == "allow"
                && e["userIdentity"]["userName"] == "admin"),
        "{events:?}"
    );
}

#[test]
fn redirects_happen_only_after_authorization() {
    let Some((server, _metrics)) = redirecting_node() else {
        return;
    };
    let reg = Registry::new(&server);
    let image = reg.push_image("redir/private", "v1", 1, 4096);
    let digest = &image.layers[0].digest;
    let path = format!("/v2/redir/private/blobs/{digest}");

    let anonymous = Registry::anonymous(&server);
    let resp = anonymous.get(&path).send().expect("GET");
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().get("location").is_none());

    let deny = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], "Resource": "*"}]});
    let (key, secret) = user_with_policy(&server, "no-pull", &deny);
    let token = aws(
        &server.base_url,
        (&key, &secret),
        &["ecr", "get-login-password"],
    )
    .expect("a token");
    let refused = Registry::with_auth(
        &server.base_url,
        &portcullis_testkit::basic_auth("AWS", &token),
    );
    let resp = refused.get(&path).send().expect("GET");
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.headers().get("location").is_none());
    let err = aws(
        &server.base_url,
        (&key, &secret),
        &[
            "ecr",
            "get-download-url-for-layer",
            "--repository-name",
            "redir/private",
            "--layer-digest",
            digest,
        ],
    )
    .expect_err("denied");
    assert!(err.contains("AccessDenied"), "{err}");
    let events = audit_lines(server.data_dir());
    let denied = events
        .iter()
        .filter(|e| {
            e["eventName"] == "GetDownloadUrlForLayer"
                && e["decision"] == "deny"
                && e["userIdentity"]["userName"] == "no-pull"
        })
        .count();
    assert!(
        denied >= 2,
        "the blob GET and the API call are audited as denied: {events:?}"
    );
    // An unknown blob is 404, with no URL made for it.
    let missing = format!("/v2/redir/private/blobs/sha256:{}", "0".repeat(64));
    assert_eq!(
        reg.get(&missing).send().expect("GET").status().as_u16(),
        404
    );
}

#[test]
fn get_download_url_for_layer_returns_the_presigned_url() {
    let Some((server, _metrics)) = redirecting_node() else {
        return;
    };
    let reg = Registry::new(&server);
    let image = reg.push_image("redir/ecr", "v1", 1, 70_000);
    let layer = &image.layers[0];
    let out = aws(
        &server.base_url,
        (
            portcullis_testkit::ADMIN_ACCESS_KEY_ID,
            portcullis_testkit::ADMIN_SECRET_ACCESS_KEY,
        ),
        &[
            "ecr",
            "get-download-url-for-layer",
            "--repository-name",
            "redir/ecr",
            "--layer-digest",
            &layer.digest,
        ],
    )
    .expect("get-download-url-for-layer");
    let v: Value = serde_json::from_str(&out).expect("json");
    let url = v["downloadUrl"].as_str().expect("downloadUrl");
    assert!(url.contains(&s3_endpoint_host()), "{url}");
    let (status, body) = curl(&[url]);
    assert_eq!(status, "200");
    assert_eq!(portcullis_testkit::clients::sha256(&body), layer.digest);
}

#[test]
fn skopeo_pulls_through_the_redirect() {
    let Some((server, metrics)) = redirecting_node() else {
        return;
    };
    require("skopeo");
    let env = ClientEnv::for_server(&server).expect("client env");
    env.login("skopeo").expect("skopeo login");
    let mut layout = OciLayout::create(&env.work_dir().join("src")).unwrap();
    let big = vec![7u8; 9 * 1024 * 1024];
    let image = layout
        .add_image(MediaTypes::OCI, "linux", "amd64", &[("big.bin", &big[..])])
        .unwrap();
    layout.tag("v1", &image).unwrap();
    let src = format!("oci:{}:v1", env.work_dir().join("src").display());
    env.skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &src,
        &env.docker_ref("redir/skopeo:v1"),
    ])
    .expect("skopeo push");
    let before = counter(&metrics, "portcullis_blob_bytes_served_total");
    let redirects = counter(&metrics, "portcullis_blob_redirects_total");
    let dest = format!("dir:{}", env.work_dir().join("pulled").display());
    env.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &env.docker_ref("redir/skopeo:v1"),
        &dest,
    ])
    .expect("skopeo pull through the redirect (skopeo verifies every digest)");
    assert_eq!(
        counter(&metrics, "portcullis_blob_bytes_served_total"),
        before,
        "skopeo's blob bytes went through the node"
    );
    assert!(counter(&metrics, "portcullis_blob_redirects_total") >= redirects + 2);
}

/// Without redirects the node streams the blob and counts its bytes: the counter the tests
/// above read is live.
#[test]
fn streamed_blob_bytes_are_counted() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let server = TestServer::start_with(ServerOptions {
        env: vec![(
            "PORTCULLIS_METRICS__LISTEN".into(),
            format!("127.0.0.1:{port}"),
        )],
        ..ServerOptions::default()
    });
    let reg = Registry::new(&server);
    let image = reg.push_image("count/app", "v1", 1, 100_000);
    let before = counter(&metrics, "portcullis_blob_bytes_served_total");
    let (status, body) = reg.get_blob("count/app", &image.layers[0].digest);
    assert_eq!(status, 200);
    assert_eq!(body.len(), 100_000);
    assert_eq!(
        counter(&metrics, "portcullis_blob_bytes_served_total"),
        before + 100_000
    );
    assert_eq!(counter(&metrics, "portcullis_blob_redirects_total"), 0);
}
