//! What an operator's tooling meets, black box: the load balancer's health endpoints
//! (`/healthz`, `/readyz` failing while a backend is broken and recovering after), and
//! `portcullis migrate` with `[metadata] migrate_on_start = false`.

use std::process::Command;

use portcullis_testkit::scenario::Client2;
use portcullis_testkit::{portcullis_bin, ServerOptions, TestServer};

fn status(client: &Client2, method: reqwest::Method, path: &str) -> (u16, String) {
    let r = client.send(method, path, None);
    let code = r.status().as_u16();
    (code, r.text().unwrap_or_default())
}

#[test]
fn health_endpoints_answer_without_credentials_and_readiness_follows_the_backends() {
    let server = TestServer::start();
    let anyone = Client2::new(&server.base_url, None, None);
    assert_eq!(
        status(&anyone, reqwest::Method::GET, "/healthz"),
        (200, "ok\n".into())
    );
    assert_eq!(status(&anyone, reqwest::Method::HEAD, "/healthz").0, 200);
    assert_eq!(
        status(&anyone, reqwest::Method::GET, "/readyz"),
        (200, "ready\n".into())
    );
    for method in [
        reqwest::Method::POST,
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
    ] {
        assert_eq!(
            status(&anyone, method.clone(), "/healthz").0,
            405,
            "{method}"
        );
        assert_eq!(
            status(&anyone, method.clone(), "/readyz").0,
            405,
            "{method}"
        );
    }

    // The blob store loses its staging directory: not ready, and the answer names the part
    // without the path; back, and it is ready again.
    let uploads = server.data_dir().join("uploads");
    let aside = server.data_dir().join("uploads.aside");
    std::fs::rename(&uploads, &aside).expect("move uploads aside");
    let (code, body) = status(&anyone, reqwest::Method::GET, "/readyz");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("blob store (fs)"), "{body}");
    assert!(
        !body.contains(&*server.data_dir().to_string_lossy()),
        "{body}"
    );
    // The full reason goes to the log (read by another thread, so give it a moment).
    let logged = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(40));
        server.logs().contains("not ready")
    });
    assert!(logged, "{}", server.logs());
    std::fs::rename(&aside, &uploads).expect("move uploads back");
    assert_eq!(status(&anyone, reqwest::Method::GET, "/readyz").0, 200);
    // Liveness never depended on it.
    assert_eq!(status(&anyone, reqwest::Method::GET, "/healthz").0, 200);
}

fn migrate(data_dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(portcullis_bin())
        .args(["migrate", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("portcullis migrate");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn migrate_applies_the_schema_that_serve_then_requires() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("data");

    // Without migrations at start, a fresh database is refused with the way out.
    let out = Command::new(portcullis_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .env("PORTCULLIS_METADATA__MIGRATE_ON_START", "false")
        .output()
        .expect("portcullis serve");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("run `portcullis migrate`"), "{text}");
    assert!(text.contains("pending migrations: 0001"), "{text}");

    let (ok, text) = migrate(&data_dir);
    assert!(ok, "{text}");
    assert!(text.contains("applied 0001"), "{text}");
    let (ok, text) = migrate(&data_dir);
    assert!(ok && text.contains("the schema is up to date"), "{text}");

    let server = TestServer::start_with(ServerOptions {
        data_dir: Some(data_dir.clone()),
        env: vec![(
            "PORTCULLIS_METADATA__MIGRATE_ON_START".into(),
            "false".into(),
        )],
        ..ServerOptions::default()
    });
    let anyone = Client2::new(&server.base_url, None, None);
    assert_eq!(status(&anyone, reqwest::Method::GET, "/readyz").0, 200);
}

/// A fresh database on the test PostgreSQL server (`scripts/postgres.sh`), or `None` when the
/// test script did not start one.
fn postgres_database() -> Option<String> {
    let Ok(admin) = std::env::var("PORTCULLIS_TEST_POSTGRES_URL") else {
        println!("skipped: PORTCULLIS_TEST_POSTGRES_URL unset (scripts/test.sh starts PostgreSQL)");
        return None;
    };
    let name = format!("deploy_{}", std::process::id());
    let out = Command::new("psql")
        .args(["-q", &admin, "-c", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = admin.rsplit_once('/').expect("a database path").0;
    Some(format!("{base}/{name}"))
}

#[test]
fn a_node_keeps_its_metadata_in_postgresql_across_restarts() {
    let Some(url) = postgres_database() else {
        return;
    };
    // The test server trusts loopback, so any password works: it is only here to be redacted.
    let url = url.replacen("://postgres@", "://postgres:pw-never-logged@", 1);
    let mut server = TestServer::start_with(ServerOptions {
        env: vec![("PORTCULLIS_METADATA__URL".into(), url.clone())],
        ..ServerOptions::default()
    });
    assert!(
        server.logs().contains("postgres"),
        "the start-up log names the database:\n{}",
        server.logs()
    );
    assert!(
        !server.logs().contains("pw-never-logged"),
        "the database password is in the log:\n{}",
        server.logs()
    );
    let password = server.admin_password();
    let c = Client2::new(
        &server.base_url,
        None,
        Some(portcullis_testkit::basic_auth("AWS", &password)),
    );
    assert_eq!(c.push_image("pg/app", "v1").0, 201);
    let (_, manifest) = c.get("/v2/pg/app/manifests/v1");
    assert_eq!(status(&c, reqwest::Method::GET, "/readyz").0, 200);

    server.restart();
    let c = Client2::new(
        &server.base_url,
        None,
        Some(portcullis_testkit::basic_auth(
            "AWS",
            &server.admin_password(),
        )),
    );
    assert_eq!(c.get("/v2/pg/app/manifests/v1"), (200, manifest));
    assert_eq!(c.get("/v2/_catalog").0, 200);
    // Nothing of the metadata went to the data dir's SQLite file.
    assert!(!server.data_dir().join("meta.sqlite").exists());
}
