//! Issue 10 item 18, a newcomer's first start: `portcullis serve --help` tells where the bootstrap
//! key and the endpoint/TLS listeners are configured (neither is a flag), `--listen 5000` says
//! what it wants, a start that cannot bind keeps the one-time admin key for the next start, and
//! piped output carries no colour codes.

use std::process::Command;

#[test]
fn serve_help_names_bootstrap_variables_and_listeners_table() {
    let out = Command::new(portcullis_testkit::server::portcullis_bin())
        .args(["serve", "--help"])
        .output()
        .expect("run portcullis serve --help");
    assert!(out.status.success(), "serve --help failed: {out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "PORTCULLIS_BOOTSTRAP_ACCESS_KEY_ID",
        "PORTCULLIS_BOOTSTRAP_SECRET_ACCESS_KEY",
        "[[listeners]]",
    ] {
        assert!(
            help.contains(needle),
            "serve --help does not mention {needle}:\n{help}"
        );
    }
}

fn serve(args: &[&str]) -> Command {
    let mut cmd = Command::new(portcullis_testkit::server::portcullis_bin());
    cmd.arg("serve")
        .args(args)
        .env_remove("PORTCULLIS_BOOTSTRAP_ACCESS_KEY_ID")
        .env_remove("PORTCULLIS_BOOTSTRAP_SECRET_ACCESS_KEY")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info");
    cmd
}

#[test]
fn a_port_alone_is_refused_with_the_form_it_wants() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let out = serve(&[
        "--listen",
        "5000",
        "--data-dir",
        data.to_str().expect("utf-8"),
    ])
    .output()
    .expect("run serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not HOST:PORT"), "{err}");
    assert!(
        err.contains("0.0.0.0:5000"),
        "the error shows the form: {err}"
    );
    assert!(!data.exists(), "nothing was created");
}

/// A start that fails to bind leaves no data dir and swallows no admin key; the next start
/// creates the key and shows it. Output to a pipe has no colour codes.
#[test]
fn the_one_time_admin_key_survives_a_failed_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8");
    let out = serve(&["--listen", &taken_addr, "--data-dir", data_arg])
        .output()
        .expect("run serve");
    assert!(!out.status.success(), "the port is in use");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&taken_addr),
        "the error names the address: {err}"
    );
    assert!(!err.contains("aws_secret_access_key"), "{err}");
    assert!(!data.exists(), "a failed start leaves no state behind");
    assert!(!err.contains('\u{1b}'), "no ANSI codes into a pipe: {err}");
    drop(taken);

    let mut child = serve(&["--listen", "127.0.0.1:0", "--data-dir", data_arg])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    use std::io::BufRead;
    for line in std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
    {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("listening on") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.contains("aws_secret_access_key = "),
        "the first successful start shows the key:\n{seen}"
    );
    assert!(
        !seen.contains('\u{1b}'),
        "no ANSI codes into a pipe:\n{seen}"
    );
}
