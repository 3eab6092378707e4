//! Several stateless nodes of one deployment (PostgreSQL + S3), black box: three `portcullis
//! serve` processes on their own ports sharing one database and one bucket prefix. A chunked
//! upload hops from node to node, an image pushed through one node is pulled through the
//! others, two nodes race to move one tag while a third reads it, two nodes create one
//! repository at once, and a node killed in the middle of an upload loses nothing.
//!
//! Runs when the test script sets `PORTCULLIS_TEST_BACKENDS=postgres+s3` (with the engines it
//! starts); on the embedded default there is nothing to share and the tests say so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use portcullis_testkit::fixtures::sha256_digest;
use portcullis_testkit::scenario::Client2;
use portcullis_testkit::{
    basic_auth, ServerOptions, TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY,
};

/// `aws ecr create-repository` through one node, as the administrator.
fn create_repository(url: &str, name: &str) -> Result<String, String> {
    portcullis_testkit::scenario::aws(
        url,
        (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY),
        &["ecr", "create-repository", "--repository-name", name],
    )
}

/// Three nodes of one deployment, or `None` (with a note) on the embedded default.
fn deployment() -> Option<Vec<TestServer>> {
    if std::env::var("PORTCULLIS_TEST_BACKENDS").is_err() {
        println!("skipped: PORTCULLIS_TEST_BACKENDS unset (the embedded default has one node)");
        return None;
    }
    // The region the aws CLI helpers sign for.
    let region = (
        "PORTCULLIS_AUTH__REGION".to_owned(),
        portcullis_testkit::scenario::REGION.to_owned(),
    );
    let first = TestServer::start_with(ServerOptions {
        env: vec![region.clone()],
        ..ServerOptions::default()
    });
    let mut shared = first.deployment_env();
    shared.push(region);
    assert!(
        shared.iter().any(|(k, _)| k == "PORTCULLIS_METADATA__URL"),
        "{shared:?}"
    );
    let mut nodes = vec![first];
    for _ in 0..2 {
        nodes.push(TestServer::start_with(ServerOptions {
            env: shared.clone(),
            ..ServerOptions::default()
        }));
    }
    Some(nodes)
}

fn client(node: &TestServer, password: &str) -> Client2 {
    Client2::new(&node.base_url, None, Some(basic_auth("AWS", password)))
}

fn location_path(location: &str) -> String {
    // Locations name the node that answered; the next request goes to another node.
    match location.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map_or("/".to_owned(), |i| rest[i..].to_owned()),
        None => location.to_owned(),
    }
}

#[test]
fn a_chunked_upload_hops_between_nodes_and_the_image_is_pulled_through_the_others() {
    let Some(nodes) = deployment() else { return };
    // A token issued through one node works on every node: one master key, one database.
    let password = nodes[0].admin_password();
    let c: Vec<Client2> = nodes.iter().map(|n| client(n, &password)).collect();
    let data = portcullis_testkit::fixtures::random_bytes(13 * 1024 * 1024 + 17);
    let digest = sha256_digest(&data);
    let started = c[0].send(reqwest::Method::POST, "/v2/hop/app/blobs/uploads/", None);
    assert_eq!(started.status().as_u16(), 202);
    let mut location = location_path(started.headers()["location"].to_str().expect("location"));
    let chunks: Vec<&[u8]> = data.chunks(3 * 1024 * 1024 + 1).collect();
    let mut offset = 0usize;
    for (i, chunk) in chunks.iter().enumerate() {
        let node = &c[(i + 1) % 3];
        let r = node
            .http
            .patch(format!("{}{location}", node.base))
            .header("Authorization", node.auth.clone().unwrap_or_default())
            .header("Content-Type", "application/octet-stream")
            .header(
                "Content-Range",
                format!("{}-{}", offset, offset + chunk.len() - 1),
            )
            .body(chunk.to_vec())
            .send()
            .expect("patch");
        assert_eq!(
            r.status().as_u16(),
            202,
            "chunk {i} through node {}",
            (i + 1) % 3
        );
        offset += chunk.len();
        assert_eq!(
            r.headers()["range"].to_str().expect("range"),
            format!("0-{}", offset - 1)
        );
        location = location_path(r.headers()["location"].to_str().expect("location"));
    }
    let sep = if location.contains('?') { '&' } else { '?' };
    let done = c[2].send(
        reqwest::Method::PUT,
        &format!("{location}{sep}digest={digest}"),
        None,
    );
    assert_eq!(done.status().as_u16(), 201, "{:?}", done.text());
    for node in &c {
        let got = node.send(
            reqwest::Method::GET,
            &format!("/v2/hop/app/blobs/{digest}"),
            None,
        );
        assert_eq!(got.status().as_u16(), 200);
        let bytes = got.bytes().expect("body");
        assert_eq!(
            sha256_digest(&bytes),
            digest,
            "every node serves the verified bytes"
        );
    }

    assert_eq!(c[1].push_image("hop/img", "v1").0, 201);
    let (status, through_b) = c[1].get("/v2/hop/img/manifests/v1");
    assert_eq!(status, 200);
    for node in [&c[0], &c[2]] {
        assert_eq!(
            node.get("/v2/hop/img/manifests/v1"),
            (200, through_b.clone())
        );
    }
}

#[test]
fn two_nodes_race_on_one_tag_and_every_read_sees_a_whole_manifest() {
    let Some(nodes) = deployment() else { return };
    let password = nodes[0].admin_password();
    let c: Vec<Client2> = nodes.iter().map(|n| client(n, &password)).collect();
    // Two images, pushed once; the race is over which one `race` names.
    assert_eq!(c[0].push_image("race/app", "a").0, 201);
    assert_eq!(c[1].push_image("race/app", "b").0, 201);
    let manifests: Vec<String> = ["a", "b"]
        .iter()
        .map(|t| c[2].get(&format!("/v2/race/app/manifests/{t}")).1)
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let base = nodes[2].base_url.clone();
        let auth = c[2].auth.clone();
        let manifests = manifests.clone();
        std::thread::spawn(move || {
            let c = Client2::new(&base, None, auth);
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = c.get("/v2/race/app/manifests/race");
                if status == 200 {
                    assert!(
                        manifests.contains(&body),
                        "a read saw a manifest that was never pushed"
                    );
                    reads += 1;
                } else {
                    assert_eq!(status, 404, "{body}");
                }
            }
            reads
        })
    };
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let base = nodes[w].base_url.clone();
            let auth = c[w].auth.clone();
            let body = manifests[w].clone();
            std::thread::spawn(move || {
                let c = Client2::new(&base, None, auth);
                for _ in 0..500 {
                    let r = c
                        .http
                        .put(format!("{base}/v2/race/app/manifests/race"))
                        .header("Authorization", c.auth.clone().unwrap_or_default())
                        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                        .body(body.clone())
                        .send()
                        .expect("put");
                    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text());
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().expect("reader");
    assert!(reads > 0);
    let (status, last) = c[0].get("/v2/race/app/manifests/race");
    assert_eq!(status, 200);
    assert!(manifests.contains(&last));
    for node in &c[1..] {
        assert_eq!(
            node.get("/v2/race/app/manifests/race"),
            (200, last.clone()),
            "nodes agree"
        );
    }
}

#[test]
fn two_nodes_create_one_repository_and_exactly_one_wins() {
    let Some(nodes) = deployment() else { return };
    for round in 0..10 {
        let name = format!("dup/r{round}");
        let handles: Vec<_> = nodes[..2]
            .iter()
            .map(|n| {
                let url = n.base_url.clone();
                let name = name.clone();
                std::thread::spawn(move || create_repository(&url, &name))
            })
            .collect();
        let results: Vec<Result<String, String>> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "{results:?}");
        let lost = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .expect("a loser");
        assert!(lost.contains("RepositoryAlreadyExistsException"), "{lost}");
    }
}

#[test]
fn a_node_killed_mid_upload_loses_nothing_and_the_client_finishes_elsewhere() {
    let Some(mut nodes) = deployment() else {
        return;
    };
    let password = nodes[0].admin_password();
    let data = portcullis_testkit::fixtures::random_bytes(11 * 1024 * 1024);
    let digest = sha256_digest(&data);
    let a = client(&nodes[0], &password);
    let started = a.send(reqwest::Method::POST, "/v2/kill/app/blobs/uploads/", None);
    assert_eq!(started.status().as_u16(), 202);
    let location = location_path(started.headers()["location"].to_str().expect("location"));
    let half = 6 * 1024 * 1024;
    let r = a
        .http
        .patch(format!("{}{location}", a.base))
        .header("Authorization", a.auth.clone().unwrap_or_default())
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", format!("0-{}", half - 1))
        .body(data[..half].to_vec())
        .send()
        .expect("patch");
    assert_eq!(r.status().as_u16(), 202);
    nodes[0].kill9();

    let b = client(&nodes[1], &password);
    let status = b.send(reqwest::Method::GET, &location, None);
    assert_eq!(status.status().as_u16(), 204);
    assert_eq!(
        status.headers()["range"].to_str().expect("range"),
        format!("0-{}", half - 1)
    );
    let sep = if location.contains('?') { '&' } else { '?' };
    let done = b
        .http
        .put(format!("{}{location}{sep}digest={digest}", b.base))
        .header("Authorization", b.auth.clone().unwrap_or_default())
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", format!("{half}-{}", data.len() - 1))
        .body(data[half..].to_vec())
        .send()
        .expect("put");
    assert_eq!(done.status().as_u16(), 201, "{:?}", done.text());
    let c = client(&nodes[2], &password);
    let got = c.send(
        reqwest::Method::GET,
        &format!("/v2/kill/app/blobs/{digest}"),
        None,
    );
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(sha256_digest(&got.bytes().expect("body")), digest);
}

#[test]
fn skopeo_pushes_through_one_node_and_pulls_through_another() {
    use portcullis_testkit::clients::{require, ClientEnv, MediaTypes, OciLayout};
    let Some(nodes) = deployment() else { return };
    require("skopeo");
    let push = ClientEnv::for_server(&nodes[0]).expect("client env");
    let pull = ClientEnv::for_server(&nodes[1]).expect("client env");
    push.login("skopeo").expect("login");
    pull.login("skopeo").expect("login");
    let mut layout = OciLayout::create(&push.work_dir().join("src")).expect("layout");
    let big = portcullis_testkit::fixtures::random_bytes(7 * 1024 * 1024);
    let image = layout
        .add_image(
            MediaTypes::OCI,
            "linux",
            "amd64",
            &[("big.bin", big.as_slice())],
        )
        .expect("image");
    layout.tag("v1", &image).expect("tag");
    let src = format!("oci:{}:v1", push.work_dir().join("src").display());
    push.skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &src,
        &push.docker_ref("multi/skopeo:v1"),
    ])
    .expect("push through node 0");
    let out = pull.work_dir().join("out");
    let dest = format!("oci:{}:v1", out.display());
    pull.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &pull.docker_ref("multi/skopeo:v1"),
        &dest,
    ])
    .expect("pull through node 1");
    let raw = pull
        .skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &pull.docker_ref("multi/skopeo:v1"),
        ])
        .expect("inspect through node 1");
    assert_eq!(
        raw.trim_end(),
        String::from_utf8_lossy(&image.bytes).trim_end(),
        "node 1 serves the manifest node 0 stored"
    );
}

#[test]
fn a_policy_change_through_one_node_holds_on_every_node_at_the_next_request() {
    use portcullis_testkit::scenario::{admin, aws, user_with_policy};
    let Some(nodes) = deployment() else { return };
    let allow = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]});
    let key = user_with_policy(&nodes[0], "roaming", &allow);
    admin(
        &nodes[0],
        &["ecr", "create-repository", "--repository-name", "prop/app"],
    );
    let describe = |node: &TestServer| {
        aws(
            &node.base_url,
            (&key.0, &key.1),
            &[
                "ecr",
                "describe-repositories",
                "--repository-names",
                "prop/app",
            ],
        )
    };
    for node in &nodes {
        describe(node).expect("allowed everywhere before the change");
    }
    let deny = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "ecr:DescribeRepositories", "Resource": "*"}]});
    admin(
        &nodes[0],
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "roaming",
            "--policy-name",
            "deny",
            "--policy-document",
            &deny.to_string(),
        ],
    );
    // The bound is one read of the stored IAM generation (trusted for 5 ms): by the time the
    // aws CLI has started, every node has seen the change.
    for node in &nodes[1..] {
        let refused = describe(node).expect_err("the deny holds on the other nodes");
        assert!(refused.contains("AccessDenied"), "{refused}");
    }
}

/// A TCP relay in front of PostgreSQL that the test can cut, so that one node loses its
/// database while the shared server keeps serving every other test.
struct Gate {
    addr: std::net::SocketAddr,
    open: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Gate {
    fn new(upstream: String) -> Gate {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let open = Arc::new(AtomicBool::new(true));
        let conns: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let (o, c) = (open.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if !o.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused as soon as it opens
                }
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut held = c.lock().unwrap_or_else(|e| e.into_inner());
                for (mut from, mut to) in [
                    (
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    ),
                    (
                        server.try_clone().expect("clone"),
                        client.try_clone().expect("clone"),
                    ),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
                held.push(client);
                held.push(server);
            }
        });
        Gate { addr, open, conns }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for s in self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn mend(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

fn readyz(node: &TestServer) -> u16 {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .expect("client")
        .get(format!("{}/readyz", node.base_url))
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ok() {
        assert!(std::time::Instant::now() < until, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_node_without_its_database_fails_readiness_and_recovers_when_it_returns() {
    let Some(nodes) = deployment() else { return };
    let mut env = nodes[0].deployment_env();
    let url = env
        .iter_mut()
        .find(|(k, _)| k == "PORTCULLIS_METADATA__URL")
        .map(|(_, v)| v)
        .expect("a database URL");
    // postgres://user@host:port/db: the node reaches host:port through the gate.
    let (scheme_user, rest) = url.split_once('@').expect("user@host");
    let (host_port, db) = rest.split_once('/').expect("host/db");
    let gate = Gate::new(host_port.to_owned());
    *url = format!("{scheme_user}@{}/{db}", gate.addr);
    let mut node = TestServer::start_with(ServerOptions {
        env,
        ..ServerOptions::default()
    });
    assert_eq!(readyz(&node), 200);

    gate.cut();
    wait_for("readiness fails without the database", || {
        readyz(&node) == 503
    });
    let live = reqwest::blocking::get(format!("{}/healthz", node.base_url)).expect("healthz");
    assert_eq!(
        live.status().as_u16(),
        200,
        "liveness does not depend on it"
    );
    gate.mend();
    wait_for("readiness recovers", || readyz(&node) == 200);

    // Restarted while the database is away, the node waits for it (not listening, so not
    // ready) and serves once it is back.
    gate.cut();
    let mend_later = {
        let open = gate.open.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(4));
            open.store(true, Ordering::SeqCst);
        })
    };
    let began = std::time::Instant::now();
    node.restart();
    mend_later.join().expect("gate");
    assert!(
        began.elapsed() >= std::time::Duration::from_secs(3),
        "the node was ready before its database:\n{}",
        node.logs()
    );
    assert!(
        node.logs().contains("waiting for the database"),
        "{}",
        node.logs()
    );
    wait_for("ready after the restart", || readyz(&node) == 200);
    drop(nodes);
}
