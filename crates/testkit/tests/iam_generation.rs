//! The IAM generation, black box: a change made to the data dir by an offline command (here
//! `portcullis admin reset-bootstrap-key`, documented as safe while the server runs) reaches
//! the running server's caches at once, with no other change passing through its API.

use portcullis_testkit::fixtures::*;
use portcullis_testkit::{basic_auth, TestServer};

fn catalog_status(server: &TestServer, password: &str) -> u16 {
    Registry::with_auth(&server.base_url, &basic_auth("AWS", password))
        .get("/v2/_catalog")
        .send()
        .expect("GET /v2/_catalog")
        .status()
        .as_u16()
}

#[test]
fn an_offline_key_reset_refuses_the_old_key_s_tokens_on_the_next_request() {
    let server = TestServer::start();
    let old = server.admin_password();
    // Twice, so that the principal of the old key is certainly cached.
    assert_eq!(catalog_status(&server, &old), 200);
    assert_eq!(catalog_status(&server, &old), 200);

    let out = server
        .command()
        .args(["admin", "reset-bootstrap-key", "--data-dir"])
        .arg(server.data_dir())
        .env_remove("PORTCULLIS_BOOTSTRAP_ACCESS_KEY_ID")
        .env_remove("PORTCULLIS_BOOTSTRAP_SECRET_ACCESS_KEY")
        .output()
        .expect("portcullis admin reset-bootstrap-key");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(
        catalog_status(&server, &old),
        401,
        "a token of the deactivated key still works:\n{}",
        server.logs()
    );
    // The new key (the only active one now) works at once too.
    assert_eq!(catalog_status(&server, &server.admin_password()), 200);
}
