//! File modes of the data dir, black box: under umask 022 the server creates the data dir and
//! every directory in it 0700 and every file 0600 (metadata database and its WAL files, blobs,
//! staging files, master key, audit log), and at start it tightens an existing data dir whose
//! modes are looser, saying so in the log.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use portcullis_testkit::fixtures::*;
use portcullis_testkit::{ServerOptions, TestServer};

/// Every path under `root`, and `root` itself, with its permission bits.
fn modes(root: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(p) = pending.pop() {
        let meta = std::fs::symlink_metadata(&p).expect("stat");
        out.push((p.clone(), meta.permissions().mode() & 0o7777, meta.is_dir()));
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).expect("read_dir") {
                pending.push(e.expect("entry").path());
            }
        }
    }
    out
}

/// The server, started under umask 022.
fn start_with_umask_022(data_dir: Option<PathBuf>) -> TestServer {
    TestServer::start_with(ServerOptions {
        data_dir,
        umask: Some(0o022),
        ..ServerOptions::default()
    })
}

#[track_caller]
fn assert_private(root: &Path) {
    let all = modes(root);
    let names: Vec<String> = all
        .iter()
        .map(|(p, _, _)| p.strip_prefix(root).unwrap().display().to_string())
        .collect();
    for expected in [
        "meta.sqlite",
        "meta.sqlite-wal",
        "master.key",
        "audit.log",
        "blobs",
        "uploads",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert!(
        names.iter().any(|n| n.starts_with("blobs/sha256/")),
        "{names:?}"
    );
    for (path, mode, dir) in all {
        let want = if dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
}

#[test]
fn under_umask_022_every_path_in_the_data_dir_is_private() {
    let server = start_with_umask_022(None);
    let reg = Registry::new(&server);
    reg.push_image("app", "v1", 2, 4096);
    // An upload left open: its staging file stays under uploads/.
    let location = reg.start_upload("app");
    reg.patch_chunk(&location, 0, b"staged bytes");
    let root = server.data_dir();
    let staged = modes(&root.join("uploads"));
    assert!(staged.len() > 1, "a staging file: {staged:?}");
    assert_private(root);
}

#[test]
fn an_existing_data_dir_with_loose_modes_is_fixed_at_start_and_the_log_says_so() {
    let mut server = start_with_umask_022(None);
    Registry::new(&server).push_image("app", "v1", 1, 1024);
    server.terminate();
    let root = server.data_dir().to_path_buf();
    for (path, _, dir) in modes(&root) {
        let loose = if dir { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).expect("chmod");
    }
    let doctor = server
        .command()
        .args(["doctor", "--data-dir"])
        .arg(&root)
        .output()
        .expect("portcullis doctor");
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{report}");
    assert!(report.contains("meta.sqlite` has mode 644"), "{report}");
    server.restart();
    let logs = server.wait_for_log(|l| l.contains("removed group and other access"));
    assert!(
        logs.contains("removed group and other access") && logs.contains("meta.sqlite"),
        "{logs}"
    );
    Registry::new(&server).push_image("app", "v2", 1, 1024);
    assert_private(&root);
}
