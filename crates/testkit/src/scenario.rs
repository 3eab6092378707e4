//! Building blocks for black-box scenarios with identities: a server with a config, the real
//! `aws` CLI as the admin or a user, users with inline policies, registry tokens from
//! `get-login-password`, an HTTP client bound to one source address and listener, and the audit
//! log as JSON.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::{ServerOptions, TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY};

pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "ap-northeast-1";

pub fn start(extra_config: &str) -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let config = dir.join("portcullis.toml");
    std::fs::write(
        &config,
        format!("[auth]\naccount_id = \"{ACCOUNT}\"\nregion = \"{REGION}\"\n{extra_config}"),
    )
    .expect("write config");
    TestServer::start_with(ServerOptions {
        data_dir: Some(dir.join("data")),
        args: vec!["--config".into(), config.display().to_string()],
        ..ServerOptions::default()
    })
}

/// Runs the real aws CLI against the server with a key pair.
pub fn aws(base_url: &str, key: (&str, &str), args: &[&str]) -> Result<String, String> {
    let out = Command::new("aws")
        .args(args)
        .args(["--endpoint-url", base_url, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", key.0)
        .env("AWS_SECRET_ACCESS_KEY", key.1)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("the aws CLI is installed (pip install awscli)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn admin(server: &TestServer, args: &[&str]) -> String {
    aws(
        &server.base_url,
        (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY),
        args,
    )
    .unwrap_or_else(|e| panic!("aws {args:?} as admin failed: {e}"))
}

/// Creates a user with an inline policy and returns its access key pair.
pub fn user_with_policy(server: &TestServer, name: &str, policy: &Value) -> (String, String) {
    admin(server, &["iam", "create-user", "--user-name", name]);
    admin(
        server,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            name,
            "--policy-name",
            "inline",
            "--policy-document",
            &policy.to_string(),
        ],
    );
    let key: Value = serde_json::from_str(&admin(
        server,
        &["iam", "create-access-key", "--user-name", name],
    ))
    .expect("create-access-key prints JSON");
    (
        key["AccessKey"]["AccessKeyId"]
            .as_str()
            .expect("key id")
            .to_owned(),
        key["AccessKey"]["SecretAccessKey"]
            .as_str()
            .expect("secret")
            .to_owned(),
    )
}

pub fn login_password(server: &TestServer, key: &(String, String)) -> String {
    aws(
        &server.base_url,
        (&key.0, &key.1),
        &["ecr", "get-login-password"],
    )
    .unwrap_or_else(|e| panic!("get-login-password failed: {e}"))
}

pub fn repo_arn(name: &str) -> String {
    format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}")
}

/// A blocking client speaking to one listener from one source address, with one identity.
pub struct Client2 {
    pub http: Client,
    pub base: String,
    pub auth: Option<String>,
}

impl Client2 {
    pub fn new(base: &str, from: Option<&str>, auth: Option<String>) -> Client2 {
        let mut b = Client::builder();
        if let Some(ip) = from {
            b = b.local_address(ip.parse::<IpAddr>().expect("ip"));
        }
        Client2 {
            http: b.build().expect("client"),
            base: base.to_owned(),
            auth,
        }
    }

    pub fn send(&self, method: reqwest::Method, path: &str, body: Option<Vec<u8>>) -> Response {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.http.request(method, url);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/octet-stream")
                .body(b);
        }
        req.send().expect("request")
    }

    /// Pushes one blob (POST + PUT) and returns the final status of the first failing step.
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> (u16, String) {
        let resp = self.send(
            reqwest::Method::POST,
            &format!("/v2/{repo}/blobs/uploads/"),
            None,
        );
        if resp.status().as_u16() != 202 {
            return (resp.status().as_u16(), resp.text().unwrap_or_default());
        }
        let loc = resp.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
        let sep = if loc.contains('?') { '&' } else { '?' };
        let resp = self.send(
            reqwest::Method::PUT,
            &format!("{loc}{sep}digest={digest}"),
            Some(data.to_vec()),
        );
        (resp.status().as_u16(), resp.text().unwrap_or_default())
    }

    /// Pushes a one-layer image; returns the manifest PUT status and body.
    pub fn push_image(&self, repo: &str, tag: &str) -> (u16, String) {
        let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
        let layer = format!("layer of {repo}:{tag}").into_bytes();
        for blob in [&config, &layer] {
            let (status, body) = self.push_blob(repo, blob);
            if status != 201 {
                return (status, body);
            }
        }
        let d = |b: &[u8]| format!("sha256:{}", hex::encode(Sha256::digest(b)));
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d(&layer), "size": layer.len()}],
        });
        let resp = self
            .http
            .put(format!("{}/v2/{repo}/manifests/{tag}", self.base))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .header("Authorization", self.auth.clone().unwrap_or_default())
            .body(manifest.to_string())
            .send()
            .expect("manifest put");
        (resp.status().as_u16(), resp.text().unwrap_or_default())
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let resp = self.send(reqwest::Method::GET, path, None);
        (resp.status().as_u16(), resp.text().unwrap_or_default())
    }
}

pub fn code_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["errors"][0]["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub fn assert_denied(result: (u16, String), action: &str, resource: &str) {
    let (status, body) = result;
    assert_eq!(
        status, 403,
        "expected 403 for {action}, got {status}: {body}"
    );
    assert_eq!(code_of(&body), "DENIED", "{body}");
    assert!(
        body.contains(&format!(
            "is not authorized to perform: {action} on resource: {resource}"
        )),
        "the denial names the action and resource: {body}"
    );
}

pub fn audit_lines(data_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(data_dir.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The URL of the listener tagged with `endpoint_id` (`tagged`) or of the untagged one, from
/// the server's start-up log (each listener logs a line; the second may come a moment later).
pub fn listener_url(server: &TestServer, endpoint_id: &str, tagged: bool) -> String {
    for _ in 0..100 {
        let found = server
            .logs()
            .lines()
            .filter(|l| l.contains("listening on http://"))
            .filter(|l| l.contains(endpoint_id) == tagged)
            .find_map(|l| {
                let url = l.split("listening on ").nth(1)?.split_whitespace().next()?;
                Some(url.trim_end_matches(['"', ',']).to_owned())
            });
        if let Some(url) = found {
            return url;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("each listener logs its address:\n{}", server.logs())
}

/// Runs one of the suite's Python scripts (`crates/testkit/tests/<script>`) against `server`
/// with the admin's key and no shared AWS config, `args` after the server's URL.
pub fn python_script(server: &TestServer, script: &str, args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests")
                .join(script),
        )
        .arg(&server.base_url)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", ADMIN_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET_ACCESS_KEY)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("python3 with boto3 (scripts/install-test-deps.sh)")
}

/// Runs a model-checking script (one whose last line starts `ALL OK` when every check passed) and fails
/// with its output and the tail of the server's log otherwise.
pub fn assert_script_passes(server: &TestServer, script: &str) {
    let out = python_script(server, script, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let logs = server.logs();
    let lines: Vec<&str> = logs.lines().collect();
    assert!(
        out.status.success() && stdout.lines().any(|l| l.starts_with("ALL OK")),
        "{script} failed ({}):\n{stdout}\n{}\nserver log (last 150 lines):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        lines[lines.len().saturating_sub(150)..].join("\n")
    );
}
