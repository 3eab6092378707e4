//! Issue 10 item 18: `portcullis serve --help` tells a newcomer where the bootstrap key and the
//! endpoint/TLS listeners are configured, because neither is a flag.

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
