//! Real registry clients (skopeo, podman, buildah, the docker CLI) run against a test server, each
//! with its own configuration in a temporary directory, and the small images they push, built
//! here as OCI image layouts so that no test ever pulls anything from the internet.
//!
//! Isolation: every [`ClientEnv`] gets a private `HOME`, `storage.conf` (vfs driver, private
//! graph root and run root, so no daemon and no overlay mount), `containers.conf`,
//! `registries.conf`, `policy.json`, auth file, `TMPDIR` and docker config dir. Tests can run in
//! parallel and never read or write the machine's own client configuration. The one shared
//! file is containers/image's blob-info cache (`/var/lib/containers/cache` when run as root,
//! which has no override): it only suggests where a blob might be mounted from, and a failed
//! mount falls back to an upload.
//!
//! Credentials: the registry wants a login, as ECR does. [`ClientEnv::for_server`] holds the
//! bootstrap administrator's registry password, and [`ClientEnv::login`] /
//! [`ClientEnv::docker_login`] log a client in the way ECR users do (user `AWS`, the password on
//! stdin), so that the credentials land in this environment's own auth file and docker config.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use portcullis_oci::Digest;
use serde_json::{json, Value};

/// What to tell someone whose machine lacks a client.
pub const INSTALL_HINT: &str =
    "run `scripts/install-test-deps.sh` as root (installs skopeo, podman, buildah and the docker CLI)";

/// Longest a single client command may run; a hung client fails its test instead of the run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// Finds `tool` on the `PATH`, panicking with [`INSTALL_HINT`] when it is missing: a missing
/// client must fail the end-to-end tests, never skip them silently.
pub fn require(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("`{tool}` is not installed or not on the PATH: {INSTALL_HINT}");
}

/// A private set of client configuration files for one test, aimed at one registry.
pub struct ClientEnv {
    dir: tempfile::TempDir,
    registry: String,
    /// The registry password (token) this environment logs in with.
    password: Option<String>,
}

impl ClientEnv {
    /// Writes the configuration files for clients talking plain HTTP to `registry` (`host:port`).
    pub fn new(registry: &str) -> anyhow::Result<ClientEnv> {
        let dir = tempfile::Builder::new()
            .prefix("portcullis-clients-")
            .tempdir()?;
        let root = dir.path();
        for sub in [
            "home/.config/containers",
            "storage",
            "run",
            "tmp",
            "libpod-tmp",
            "docker",
            "work",
        ] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        std::fs::write(
            root.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                root.join("storage").display(),
                root.join("run").display()
            ),
        )?;
        // The file events logger and cgroupfs avoid journald and systemd, which containers and CI
        // machines often lack; nothing here runs a container, but podman reads these at start-up.
        std::fs::write(
            root.join("containers.conf"),
            format!(
                "[engine]\nevents_logger = \"file\"\ncgroup_manager = \"cgroupfs\"\ntmp_dir = \"{}\"\n",
                root.join("libpod-tmp").display()
            ),
        )?;
        std::fs::write(
            root.join("registries.conf"),
            format!(
                "unqualified-search-registries = []\n\n[[registry]]\nlocation = \"{registry}\"\ninsecure = true\n"
            ),
        )?;
        // containers/image reads `$HOME/.config/containers/policy.json` before the system one.
        std::fs::write(
            root.join("home/.config/containers/policy.json"),
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )?;
        std::fs::write(root.join("auth.json"), r#"{"auths":{}}"#)?;
        std::fs::write(root.join("docker/config.json"), "{}")?;
        Ok(ClientEnv {
            dir,
            registry: registry.to_owned(),
            password: None,
        })
    }

    /// An environment aimed at `server` that holds its administrator's registry password, for
    /// [`ClientEnv::login`], [`ClientEnv::docker_login`] and [`ClientEnv::http_get`]. Nothing is
    /// logged in yet.
    pub fn for_server(server: &crate::TestServer) -> anyhow::Result<ClientEnv> {
        let mut env = ClientEnv::new(&server.host())?;
        env.password = Some(server.admin_password());
        Ok(env)
    }

    /// The registry password this environment logs in with.
    pub fn password(&self) -> anyhow::Result<&str> {
        self.password
            .as_deref()
            .context("this client environment holds no registry password (use `for_server`)")
    }

    /// `--creds AWS:<password>`, for a single skopeo, podman or buildah command.
    pub fn creds(&self) -> anyhow::Result<String> {
        Ok(format!("AWS:{}", self.password()?))
    }

    /// `Basic base64("AWS:" + password)`, the header a logged-in client sends.
    pub fn basic_auth(&self) -> anyhow::Result<String> {
        Ok(crate::basic_auth("AWS", self.password()?))
    }

    /// `<tool> login --tls-verify=false --username AWS --password-stdin <registry>` for skopeo,
    /// podman or buildah: the credentials go to this environment's auth file, which all three
    /// read.
    pub fn login(&self, tool: &str) -> anyhow::Result<String> {
        let password = self.password()?.to_owned();
        self.run_with_stdin(
            tool,
            &[
                "login",
                "--tls-verify=false",
                "--username",
                "AWS",
                "--password-stdin",
                &self.registry,
            ],
            password.as_bytes(),
        )
    }

    /// `docker login --username AWS --password-stdin <registry>` into this environment's docker
    /// config dir.
    pub fn docker_login(&self) -> anyhow::Result<String> {
        let password = self.password()?.to_owned();
        let config = self.docker_config_dir();
        let config = config.to_str().context("docker config dir is not UTF-8")?;
        self.run_with_stdin(
            "docker",
            &[
                "--config",
                config,
                "login",
                "--username",
                "AWS",
                "--password-stdin",
                &self.registry,
            ],
            password.as_bytes(),
        )
    }

    /// `GET url` with the given `Accept` values and this environment's credentials.
    pub fn http_get(&self, url: &str, accept: &[&str]) -> anyhow::Result<HttpResponse> {
        http_get(url, accept, Some(&self.basic_auth()?))
    }

    /// The registry's `host:port`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `host:port/<repo_and_tag>`, a reference as podman, buildah and docker take it.
    pub fn reference(&self, repo_and_tag: &str) -> String {
        format!("{}/{repo_and_tag}", self.registry)
    }

    /// `docker://host:port/<repo_and_tag>`, a reference as skopeo takes it.
    pub fn docker_ref(&self, repo_and_tag: &str) -> String {
        format!("docker://{}/{repo_and_tag}", self.registry)
    }

    /// A scratch directory owned by this environment (build contexts, layouts).
    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// The docker CLI's config dir (`docker --config`).
    pub fn docker_config_dir(&self) -> PathBuf {
        self.dir.path().join("docker")
    }

    /// The auth file podman, buildah and skopeo use (`REGISTRY_AUTH_FILE`).
    pub fn auth_file(&self) -> PathBuf {
        self.dir.path().join("auth.json")
    }

    pub fn skopeo(&self, args: &[&str]) -> anyhow::Result<String> {
        self.run("skopeo", args)
    }

    pub fn podman(&self, args: &[&str]) -> anyhow::Result<String> {
        self.run("podman", args)
    }

    pub fn buildah(&self, args: &[&str]) -> anyhow::Result<String> {
        self.run("buildah", args)
    }

    /// The docker CLI with this environment's config dir. It is pointed at an engine socket
    /// that does not exist, so commands that can run client-side (login, manifest) always do.
    pub fn docker(&self, args: &[&str]) -> anyhow::Result<String> {
        let config = self.docker_config_dir();
        let config = config.to_str().context("docker config dir is not UTF-8")?;
        let mut all = vec!["--config", config];
        all.extend_from_slice(args);
        self.run("docker", &all)
    }

    /// Runs `tool args…` in this environment; returns stdout, or an error with the command line,
    /// exit status, stdout and stderr.
    pub fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<String> {
        succeeded(tool, args, self.output(tool, args)?)
    }

    /// As [`ClientEnv::run`], writing `stdin` to the command's standard input (passwords).
    pub fn run_with_stdin(
        &self,
        tool: &str,
        args: &[&str],
        stdin: &[u8],
    ) -> anyhow::Result<String> {
        succeeded(tool, args, self.output_with(tool, args, Some(stdin), &[])?)
    }

    /// What ECR's documentation tells docker users to run, as one shell pipeline in this
    /// environment: `aws ecr get-login-password --endpoint-url <endpoint_url> | docker login
    /// --username AWS --password-stdin <registry>`, with the access key in the aws CLI's
    /// environment variables.
    pub fn aws_ecr_docker_login(
        &self,
        endpoint_url: &str,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> anyhow::Result<ClientOutput> {
        require("aws");
        require("docker");
        let pipeline = format!(
            "set -o pipefail; aws ecr get-login-password --endpoint-url '{endpoint_url}' \
             | docker login --username AWS --password-stdin '{}'",
            self.registry
        );
        self.output_with(
            "bash",
            &["-c", &pipeline],
            None,
            &[
                ("AWS_ACCESS_KEY_ID", access_key_id),
                ("AWS_SECRET_ACCESS_KEY", secret_access_key),
                ("AWS_DEFAULT_REGION", "us-east-1"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
        )
    }

    /// Runs `tool args…` and returns its output whatever the exit status, for tests that expect
    /// a client to fail.
    pub fn output(&self, tool: &str, args: &[&str]) -> anyhow::Result<ClientOutput> {
        self.output_with(tool, args, None, &[])
    }

    /// As [`ClientEnv::output`], writing `stdin` (when given) to the command's standard input
    /// and adding `envs` to its environment.
    pub fn output_with(
        &self,
        tool: &str,
        args: &[&str],
        stdin: Option<&[u8]>,
        envs: &[(&str, &str)],
    ) -> anyhow::Result<ClientOutput> {
        let bin = require(tool);
        let root = self.dir.path();
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .current_dir(self.work_dir())
            .env("HOME", root.join("home"))
            .env("XDG_CONFIG_HOME", root.join("home/.config"))
            .env("XDG_DATA_HOME", root.join("home/.local/share"))
            .env("XDG_RUNTIME_DIR", root.join("run"))
            .env("TMPDIR", root.join("tmp"))
            .env("CONTAINERS_STORAGE_CONF", root.join("storage.conf"))
            .env("CONTAINERS_CONF", root.join("containers.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", root.join("registries.conf"))
            .env("REGISTRY_AUTH_FILE", root.join("auth.json"))
            .env("STORAGE_DRIVER", "vfs")
            .env("BUILDAH_ISOLATION", "chroot")
            .env("DOCKER_CONFIG", root.join("docker"))
            .env(
                "DOCKER_HOST",
                format!("unix://{}", root.join("no-engine.sock").display()),
            )
            .env("DOCKER_CLI_HINTS", "false")
            .env_remove("CONTAINER_HOST")
            .env_remove("CONTAINER_CONNECTION")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .envs(envs.iter().copied())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let line = format!("{tool} {}", args.join(" "));
        let mut child = cmd.spawn().with_context(|| format!("spawning `{line}`"))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // Dropping the pipe afterwards closes it, which `--password-stdin` waits for.
            pipe.write_all(input)
                .with_context(|| format!("writing stdin of `{line}`"))?;
        }
        let stdout = reader(child.stdout.take());
        let stderr = reader(child.stderr.take());
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "`{line}` did not finish within {COMMAND_TIMEOUT:?}; stderr so far:\n{}",
                    stderr.join().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(ClientOutput {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        })
    }
}

/// `out.stdout` when the command succeeded, else an error with the command line, exit status,
/// stdout and stderr.
fn succeeded(tool: &str, args: &[&str], out: ClientOutput) -> anyhow::Result<String> {
    if !out.status.success() {
        bail!(
            "`{tool} {}` failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
            args.join(" "),
            out.status,
            out.stdout,
            out.stderr
        );
    }
    Ok(out.stdout)
}

fn reader<R: Read + Send + 'static>(stream: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut s) = stream {
            let _ = s.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// What a client printed, and how it exited.
#[derive(Debug)]
pub struct ClientOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    Digest::sha256_of(bytes).to_string()
}

/// A plain HTTP response, for checking what the registry serves independently of the clients.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `GET url` with the given `Accept` values and, when given, `Authorization: <auth>`.
pub fn http_get(url: &str, accept: &[&str], auth: Option<&str>) -> anyhow::Result<HttpResponse> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut req = reqwest::Client::new().get(url);
        if let Some(a) = auth {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        for a in accept {
            req = req.header(reqwest::header::ACCEPT, *a);
        }
        let resp = req.send().await.with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    })
}

/// Every manifest media type, for `Accept` headers that must not trigger a conversion.
pub const ALL_MANIFEST_TYPES: [&str; 4] = [
    MediaTypes::OCI.manifest,
    MediaTypes::OCI.index,
    MediaTypes::DOCKER.manifest,
    MediaTypes::DOCKER.index,
];

/// The media types of one manifest family.
#[derive(Debug, Clone, Copy)]
pub struct MediaTypes {
    pub manifest: &'static str,
    pub index: &'static str,
    pub config: &'static str,
    pub layer_gzip: &'static str,
}

impl MediaTypes {
    pub const OCI: MediaTypes = MediaTypes {
        manifest: "application/vnd.oci.image.manifest.v1+json",
        index: "application/vnd.oci.image.index.v1+json",
        config: "application/vnd.oci.image.config.v1+json",
        layer_gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
    };
    pub const DOCKER: MediaTypes = MediaTypes {
        manifest: "application/vnd.docker.distribution.manifest.v2+json",
        index: "application/vnd.docker.distribution.manifest.list.v2+json",
        config: "application/vnd.docker.container.image.v1+json",
        layer_gzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
    };
}

/// A manifest (image or index) written into an [`OciLayout`].
#[derive(Debug, Clone)]
pub struct BuiltManifest {
    pub media_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
    /// `(os, architecture)` for image manifests.
    pub platform: Option<(String, String)>,
    /// Digests of the config and layer blobs (image manifests) or child manifests (indexes).
    pub children: Vec<String>,
}

impl BuiltManifest {
    /// An index/list descriptor for this manifest.
    fn descriptor(&self) -> Value {
        let mut d = json!({
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.bytes.len(),
        });
        if let Some((os, arch)) = &self.platform {
            d["platform"] = json!({ "architecture": arch, "os": os });
        }
        d
    }
}

/// An OCI image layout directory (`oci:` in skopeo's terms) built from files the test makes,
/// so the images a test pushes are small, deterministic and never come from the network.
pub struct OciLayout {
    dir: PathBuf,
    refs: Vec<Value>,
}

impl OciLayout {
    /// Creates an empty layout in `dir`.
    pub fn create(dir: &Path) -> anyhow::Result<OciLayout> {
        std::fs::create_dir_all(dir.join("blobs/sha256"))?;
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let layout = OciLayout {
            dir: dir.to_owned(),
            refs: Vec::new(),
        };
        layout.write_index()?;
        Ok(layout)
    }

    /// An existing layout (one a client wrote), for reading its blobs.
    pub fn open(dir: &Path) -> OciLayout {
        OciLayout {
            dir: dir.to_owned(),
            refs: Vec::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `oci:<dir>:<reference>` for skopeo.
    pub fn transport_ref(&self, reference: &str) -> String {
        format!("oci:{}:{reference}", self.dir.display())
    }

    /// Stores `bytes` as a blob and returns its digest.
    pub fn write_blob(&self, bytes: &[u8]) -> anyhow::Result<String> {
        let digest = Digest::sha256_of(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(digest.hex()), bytes)?;
        Ok(digest.to_string())
    }

    /// Reads a blob by digest.
    pub fn blob(&self, digest: &str) -> anyhow::Result<Vec<u8>> {
        let hex = digest
            .strip_prefix("sha256:")
            .context("only sha256 blobs are stored")?;
        std::fs::read(self.dir.join("blobs/sha256").join(hex))
            .with_context(|| format!("reading blob {digest} in {}", self.dir.display()))
    }

    /// Builds a single-layer image holding `files` (path, contents) for `os`/`arch`.
    pub fn add_image(
        &self,
        types: MediaTypes,
        os: &str,
        arch: &str,
        files: &[(&str, &[u8])],
    ) -> anyhow::Result<BuiltManifest> {
        let tar = tar_archive(files);
        let layer = gzip_stored(&tar);
        let layer_digest = self.write_blob(&layer)?;
        let config = serde_json::to_vec(&json!({
            "architecture": arch,
            "os": os,
            "config": {},
            "rootfs": { "type": "layers", "diff_ids": [sha256(&tar)] },
            "history": [{ "created_by": "portcullis-testkit", "comment": "test image" }],
        }))?;
        let config_digest = self.write_blob(&config)?;
        let manifest = serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2,
            "mediaType": types.manifest,
            "config": { "mediaType": types.config, "digest": config_digest, "size": config.len() },
            "layers": [{ "mediaType": types.layer_gzip, "digest": layer_digest, "size": layer.len() }],
        }))?;
        let digest = self.write_blob(&manifest)?;
        Ok(BuiltManifest {
            media_type: types.manifest.to_owned(),
            digest,
            bytes: manifest,
            platform: Some((os.to_owned(), arch.to_owned())),
            children: vec![config_digest, layer_digest],
        })
    }

    /// Builds an index (OCI) or manifest list (Docker) over `images`.
    pub fn add_index(
        &self,
        types: MediaTypes,
        images: &[&BuiltManifest],
    ) -> anyhow::Result<BuiltManifest> {
        let index = serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2,
            "mediaType": types.index,
            "manifests": images.iter().map(|m| m.descriptor()).collect::<Vec<_>>(),
        }))?;
        let digest = self.write_blob(&index)?;
        Ok(BuiltManifest {
            media_type: types.index.to_owned(),
            digest,
            bytes: index,
            platform: None,
            children: images.iter().map(|m| m.digest.clone()).collect(),
        })
    }

    /// Names `manifest` `reference` in the layout's `index.json`, where `oci:<dir>:<reference>`
    /// finds it.
    pub fn tag(&mut self, reference: &str, manifest: &BuiltManifest) -> anyhow::Result<()> {
        let mut d = manifest.descriptor();
        d["annotations"] = json!({ "org.opencontainers.image.ref.name": reference });
        self.refs.push(d);
        self.write_index()
    }

    /// Writes `manifest` and everything it references as a `dir:` transport directory, the form
    /// in which skopeo takes Docker-typed images and lists (its `oci:` source accepts only OCI
    /// media types in `index.json`). Instances of a list go in `<hex>.manifest.json`.
    pub fn export_dir(&self, manifest: &BuiltManifest, dest: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dest)?;
        std::fs::write(dest.join("version"), "Directory Transport Version: 1.1\n")?;
        std::fs::write(dest.join("manifest.json"), &manifest.bytes)?;
        let images: Vec<String> = if manifest.platform.is_some() {
            vec![manifest.digest.clone()]
        } else {
            for child in &manifest.children {
                let hex = child.strip_prefix("sha256:").context("sha256 digest")?;
                std::fs::write(dest.join(format!("{hex}.manifest.json")), self.blob(child)?)?;
            }
            manifest.children.clone()
        };
        for image in images {
            let parsed: Value = serde_json::from_slice(&self.blob(&image)?)?;
            let blobs = std::iter::once(&parsed["config"])
                .chain(parsed["layers"].as_array().into_iter().flatten());
            for d in blobs {
                let digest = d["digest"].as_str().context("descriptor without digest")?;
                let hex = digest.strip_prefix("sha256:").context("sha256 digest")?;
                std::fs::write(dest.join(hex), self.blob(digest)?)?;
            }
        }
        Ok(())
    }

    fn write_index(&self) -> anyhow::Result<()> {
        let index = json!({ "schemaVersion": 2, "manifests": self.refs });
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec_pretty(&index)?,
        )?;
        Ok(())
    }
}

/// A ustar archive of regular files, with fixed owners and times so it is reproducible.
fn tar_archive(files: &[(&str, &[u8])]) -> Vec<u8> {
    fn octal(field: &mut [u8], value: u64) {
        let s = format!("{value:0width$o}", width = field.len() - 1);
        field[..s.len()].copy_from_slice(s.as_bytes());
    }
    let mut out = Vec::new();
    for (name, data) in files {
        let mut h = [0u8; 512];
        let name = name.trim_start_matches('/').as_bytes();
        h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
        octal(&mut h[100..108], 0o644);
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], data.len() as u64);
        octal(&mut h[136..148], 0);
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        // The checksum is computed with its own field read as spaces.
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A gzip stream of `data` in stored (uncompressed) deflate blocks. The clients keep gzip
/// layers as they are, whereas they would compress a plain tar on push and so change the
/// manifest digests a byte-for-byte round trip has to keep.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn tar_header_checksum_is_valid() {
        let tar = tar_archive(&[("hello.txt", b"hello\n")]);
        assert_eq!(tar.len(), 512 * 2 + 1024);
        let mut h = tar[..512].to_vec();
        let stored = std::str::from_utf8(&h[148..154]).unwrap().to_owned();
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(u32::from_str_radix(&stored, 8).unwrap(), sum);
    }
}
