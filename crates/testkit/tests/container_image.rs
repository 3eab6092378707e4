//! The image the Dockerfile builds: a push and a pull through it, where this machine can build
//! and run containers. Building needs the Dockerfile's base images (a Rust image and a
//! distroless runtime); a machine that has neither them nor a registry to pull them from says
//! so and skips only that part. What the Dockerfile promises is checked everywhere.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn dockerfile() -> (PathBuf, String) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
    (root, text)
}

fn base_images(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Multi-stage, a non-root user, the toolchain the workspace needs, and the data directory as
/// a volume: the promises an operator relies on, checked without building.
#[test]
fn the_dockerfile_builds_in_stages_and_runs_as_a_non_root_user() {
    let (root, text) = dockerfile();
    let bases = base_images(&text);
    assert_eq!(
        bases.len(),
        2,
        "a build stage and a runtime stage: {bases:?}"
    );
    assert!(bases[1].contains("distroless"), "{bases:?}");
    let user = text
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER line");
    assert!(
        !user.starts_with("0") && !user.starts_with("root"),
        "USER {user}"
    );
    assert!(
        text.contains("--locked"),
        "the image builds what the lock file says"
    );
    // The build stage's toolchain is at least the workspace's rust-version.
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("rust-version");
    let image_rust = bases[0]
        .rsplit_once(':')
        .and_then(|(_, tag)| tag.split('-').next())
        .expect("a versioned Rust image");
    let parse = |v: &str| -> Vec<u32> { v.split('.').filter_map(|p| p.parse().ok()).collect() };
    assert!(
        parse(image_rust) >= parse(&msrv),
        "the build image's Rust {image_rust} is older than rust-version {msrv}"
    );
}

fn podman(args: &[&str]) -> std::process::Output {
    Command::new("podman")
        .args(["--storage-driver", "vfs"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("podman")
}

/// Builds the image and pushes and pulls an image through a container of it.
#[test]
fn the_image_serves_a_push_and_a_pull() {
    if Command::new("podman").arg("--version").output().is_err() {
        println!("skipped: podman is not installed, so no image can be built here");
        return;
    }
    let (root, text) = dockerfile();
    let missing: Vec<String> = base_images(&text)
        .into_iter()
        .filter(|image| !podman(&["image", "exists", image]).status.success())
        .filter(|image| {
            // Bounded: a machine without a registry in reach fails at once or hangs in DNS.
            !Command::new("timeout")
                .args([
                    "120",
                    "podman",
                    "--storage-driver",
                    "vfs",
                    "pull",
                    "--quiet",
                ])
                .arg(image)
                .stdin(Stdio::null())
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if !missing.is_empty() {
        println!(
            "skipped: the Dockerfile's base images {missing:?} are not on this machine and no registry serving them is reachable; only the build and run of the image is skipped"
        );
        return;
    }
    let tag = "localhost/portcullis-test:latest";
    let build = Command::new("podman")
        .args(["--storage-driver", "vfs", "build", "-t", tag])
        .arg(&root)
        .output()
        .expect("podman build");
    assert!(
        build.status.success(),
        "podman build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let name = format!("portcullis-test-{port}");
    let run = podman(&[
        "run",
        "-d",
        "--rm",
        "--name",
        &name,
        "-p",
        &format!("127.0.0.1:{port}:5000"),
        "-e",
        &format!(
            "PORTCULLIS_AUTH__REGION={}",
            portcullis_testkit::scenario::REGION
        ),
        "-e",
        &format!(
            "PORTCULLIS_BOOTSTRAP_ACCESS_KEY_ID={}",
            portcullis_testkit::ADMIN_ACCESS_KEY_ID
        ),
        "-e",
        &format!(
            "PORTCULLIS_BOOTSTRAP_SECRET_ACCESS_KEY={}",
            portcullis_testkit::ADMIN_SECRET_ACCESS_KEY
        ),
        tag,
    ]);
    assert!(
        run.status.success(),
        "podman run: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::blocking::get(format!("{base}/healthz"))
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(
            Instant::now() < deadline,
            "the container never became healthy"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let token = portcullis_testkit::scenario::aws(
        &base,
        (
            portcullis_testkit::ADMIN_ACCESS_KEY_ID,
            portcullis_testkit::ADMIN_SECRET_ACCESS_KEY,
        ),
        &["ecr", "get-login-password"],
    );
    let result = std::panic::catch_unwind(|| {
        let token = token.expect("a registry token from the container");
        let reg = portcullis_testkit::fixtures::Registry::with_auth(
            &base,
            &portcullis_testkit::basic_auth("AWS", &token),
        );
        let image = reg.push_image("image/app", "v1", 1, 100_000);
        let (status, body) = reg.get_blob("image/app", &image.layers[0].digest);
        assert_eq!(status, 200);
        assert_eq!(body, image.layers[0].bytes);
    });
    podman(&["rm", "-f", &name]);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
