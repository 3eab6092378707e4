use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The binary under test: `$PORTCULLIS_BIN`, else `<target dir>/debug/portcullis`, where the
/// target dir is `$CARGO_TARGET_DIR` or the workspace's `target/`.
pub fn portcullis_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PORTCULLIS_BIN") {
        return PathBuf::from(p);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let bin = target.join("debug/portcullis");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --bin portcullis` first or set PORTCULLIS_BIN",
        bin.display()
    );
    bin
}

/// The access key every test server's `admin` user is bootstrapped with.
pub const ADMIN_ACCESS_KEY_ID: &str = "AKIAPORTCULLISTEST01";
/// The secret of [`ADMIN_ACCESS_KEY_ID`].
pub const ADMIN_SECRET_ACCESS_KEY: &str = "portcullis-test-secret-0123456789abcdef";

/// How to start a server.
#[derive(Debug, Default, Clone)]
pub struct ServerOptions {
    /// Reuse this data dir instead of a fresh temporary one (restarts, crash tests).
    pub data_dir: Option<PathBuf>,
    /// Listen address; `127.0.0.1:0` (a random port) when unset.
    pub listen: Option<String>,
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Start the server under this umask (through `sh -c 'umask ..; exec ..'`) instead of the
    /// test's own.
    pub umask: Option<u32>,
}

/// A running `portcullis serve`, killed when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    options: ServerOptions,
    data_dir: PathBuf,
    _temp: Option<Arc<tempfile::TempDir>>,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
}

impl TestServer {
    /// Starts a server on a random loopback port with a fresh data dir.
    pub fn start() -> TestServer {
        Self::start_with(ServerOptions::default())
    }

    pub fn start_with(options: ServerOptions) -> TestServer {
        let (temp, data_dir) = match &options.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::tempdir().expect("temp dir");
                let p = t.path().join("data");
                (Some(Arc::new(t)), p)
            }
        };
        let mut options = options;
        // A node joining another's deployment brings that deployment's engines.
        if !options
            .env
            .iter()
            .any(|(k, _)| k == "PORTCULLIS_METADATA__URL")
        {
            options.env.extend(shared_backends_env());
        }
        Self::spawn(options, data_dir, temp)
    }

    fn spawn(
        options: ServerOptions,
        data_dir: PathBuf,
        temp: Option<Arc<tempfile::TempDir>>,
    ) -> TestServer {
        let listen = options
            .listen
            .clone()
            .unwrap_or_else(|| "127.0.0.1:0".to_owned());
        let mut cmd = match options.umask {
            None => Command::new(portcullis_bin()),
            Some(mask) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("umask {mask:03o}; exec \"$0\" \"$@\""))
                    .arg(portcullis_bin());
                sh
            }
        };
        cmd.arg("serve")
            .arg("--listen")
            .arg(&listen)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(&options.args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.env("PORTCULLIS_BOOTSTRAP_ACCESS_KEY_ID", ADMIN_ACCESS_KEY_ID)
            .env(
                "PORTCULLIS_BOOTSTRAP_SECRET_ACCESS_KEY",
                ADMIN_SECRET_ACCESS_KEY,
            );
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn portcullis");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let log = log.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(found) = listening_on(&line) {
                        let _ = tx.send(found);
                    }
                    let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        // Only the readers hold senders now: a server that exits ends the wait at once.
        drop(tx);
        let (scheme, addr) = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(e) => {
                let _ = child.kill();
                let why = match e {
                    mpsc::RecvTimeoutError::Timeout => "did not report `listening on` within 60 s",
                    mpsc::RecvTimeoutError::Disconnected => "exited before it was listening",
                };
                // The readers may still be appending the last lines.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "portcullis {why}; output:\n{}",
                    log.lock().unwrap_or_else(|e| e.into_inner())
                );
            }
        };
        TestServer {
            addr,
            base_url: format!("{scheme}://{addr}"),
            options,
            data_dir,
            _temp: temp,
            child: Some(child),
            log,
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Everything the server printed so far.
    pub fn logs(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits (up to 10 s) for a log line that `matches`, then returns every line so far. A
    /// response can reach the test before the line logged with it has crossed the pipe.
    pub fn wait_for_log(&self, matches: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if logs.lines().any(&matches) || std::time::Instant::now() > deadline {
                return logs;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// `kill -9`: the process gets no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the process to exit (graceful shutdown).
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        c.wait().ok()
    }

    /// Starts the server again on the same data dir (and the same port when it was fixed).
    pub fn restart(&mut self) {
        self.kill9();
        let mut options = self.options.clone();
        options.data_dir = Some(self.data_dir.clone());
        let mut next = Self::spawn(options, self.data_dir.clone(), self._temp.clone());
        self.addr = next.addr;
        self.base_url = next.base_url.clone();
        self.child = next.child.take();
        self.log = next.log.clone();
    }

    /// What another node needs to join this server's deployment: the shared engines'
    /// variables (see [`shared_backends_env`]) and the master key. Empty on the embedded
    /// default, where nothing is shared.
    pub fn deployment_env(&self) -> Vec<(String, String)> {
        self.options
            .env
            .iter()
            .filter(|(k, _)| {
                k.starts_with("PORTCULLIS_METADATA__")
                    || k.starts_with("PORTCULLIS_STORAGE__")
                    || k == "PORTCULLIS_AUTH__MASTER_KEY"
            })
            .cloned()
            .collect()
    }

    /// The `portcullis` binary with this server's deployment (its shared metadata and blob
    /// store, if any) in the environment, for the offline commands a test runs against it.
    pub fn command(&self) -> Command {
        let mut command = Command::new(portcullis_bin());
        command.envs(self.deployment_env());
        command
    }

    /// The server's process id while it runs, for reading `/proc/<pid>/status`.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A registry password for a user (what `aws ecr get-login-password` prints), issued
    /// offline with `portcullis token issue`.
    pub fn password_for(&self, user: &str) -> String {
        let out = Command::new(portcullis_bin())
            .args(["token", "issue", "--user", user, "--data-dir"])
            .arg(&self.data_dir)
            .envs(
                self.options
                    .env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .output()
            .expect("run portcullis token issue");
        assert!(
            out.status.success(),
            "portcullis token issue failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The registry password of the bootstrap administrator (full access).
    pub fn admin_password(&self) -> String {
        self.password_for("admin")
    }

    /// `Basic base64("AWS:" + admin password)`, ready for an `Authorization` header.
    pub fn admin_basic_auth(&self) -> String {
        basic_auth("AWS", &self.admin_password())
    }

    /// `host:port`, as registry clients want it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

/// The scheme and address of a `listening on http://ADDR` (or `https://`) log line.
pub fn listening_on(line: &str) -> Option<(&'static str, SocketAddr)> {
    let rest = line.split("listening on ").nth(1)?;
    let (scheme, rest) = if let Some(r) = rest.strip_prefix("http://") {
        ("http", r)
    } else {
        ("https", rest.strip_prefix("https://")?)
    };
    let addr = rest.split_whitespace().next()?;
    let addr = addr.trim_end_matches(['"', ',']).parse().ok()?;
    Some((scheme, addr))
}

/// `Basic base64(user:password)`.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// With `PORTCULLIS_TEST_BACKENDS=postgres+s3`, every test server keeps its state in the
/// shared engines instead of its data dir: a database of its own on the PostgreSQL server at
/// `PORTCULLIS_TEST_POSTGRES_URL`, and a key prefix of its own in the bucket that
/// `PORTCULLIS_TEST_S3_*` name (the test script starts both). The black-box suites run once
/// on the embedded default and once like this. The variables go into the server's options,
/// so a restart finds the same database and prefix.
fn shared_backends_env() -> Vec<(String, String)> {
    let Ok(mode) = std::env::var("PORTCULLIS_TEST_BACKENDS") else {
        return Vec::new();
    };
    assert_eq!(
        mode, "postgres+s3",
        "PORTCULLIS_TEST_BACKENDS is unset (embedded) or postgres+s3"
    );
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("PORTCULLIS_TEST_BACKENDS needs {name}"))
    };
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = format!(
        "t{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
    );
    let admin_url = var("PORTCULLIS_TEST_POSTGRES_URL");
    let status = Command::new("psql")
        .arg(&admin_url)
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("CREATE DATABASE {id}"))
        .status()
        .expect("psql (PostgreSQL's client) on PATH");
    assert!(status.success(), "creating test database {id} failed");
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(base, _)| base);
    vec![
        ("PORTCULLIS_METADATA__URL".into(), format!("{base}/{id}")),
        // Every node of a deployment shares the key that seals secrets and signs tokens.
        ("PORTCULLIS_AUTH__MASTER_KEY".into(), {
            // Each deployment its own key: a token of one must not open another.
            use base64::Engine as _;
            let mut key = [0u8; 32];
            key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            base64::engine::general_purpose::STANDARD.encode(key)
        }),
        ("PORTCULLIS_STORAGE__BACKEND".into(), "s3".into()),
        (
            "PORTCULLIS_STORAGE__S3__ENDPOINT".into(),
            var("PORTCULLIS_TEST_S3_ENDPOINT"),
        ),
        (
            "PORTCULLIS_STORAGE__S3__BUCKET".into(),
            var("PORTCULLIS_TEST_S3_BUCKET"),
        ),
        (
            "PORTCULLIS_STORAGE__S3__REGION".into(),
            var("PORTCULLIS_TEST_S3_REGION"),
        ),
        ("PORTCULLIS_STORAGE__S3__PREFIX".into(), format!("{id}/")),
        ("PORTCULLIS_STORAGE__S3__PATH_STYLE".into(), "true".into()),
        (
            "PORTCULLIS_STORAGE__S3__ACCESS_KEY_ID".into(),
            var("PORTCULLIS_TEST_S3_ACCESS_KEY_ID"),
        ),
        (
            "PORTCULLIS_STORAGE__S3__SECRET_ACCESS_KEY".into(),
            var("PORTCULLIS_TEST_S3_SECRET_ACCESS_KEY"),
        ),
    ]
}
