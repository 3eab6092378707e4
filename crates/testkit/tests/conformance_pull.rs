//! The "Pull" workflow of the OCI distribution-spec conformance suite, written from spec.md
//! (v1.1): pulling manifests and blobs, checking existence with HEAD, Range requests, content
//! negotiation and the error bodies of failed pulls.

use portcullis_testkit::fixtures::*;
use portcullis_testkit::TestServer;
use serde_json::Value;

/// A digest no test ever pushes.
fn dummy_digest() -> String {
    sha256_digest(b"hello world")
}

struct Pulled {
    server: TestServer,
    reg: Registry,
    repo: String,
    configs: [Blob; 2],
    layer: Blob,
    /// manifests[0] is pushed by tag, manifests[1] by digest.
    manifests: [Blob; 2],
    tag: String,
}

/// The suite's setup: two config blobs and a layer, one manifest pushed by tag and another by
/// digest.
fn setup() -> Pulled {
    let server = TestServer::start();
    let reg = Registry::new(&server);
    let repo = unique_name("conformance/pull");
    let configs = [Blob::config(OCI_CONFIG), Blob::config(OCI_CONFIG)];
    let layer = Blob::random(4096 + 17, OCI_LAYER);
    for b in configs.iter().chain([&layer]) {
        reg.push(&repo, b);
    }
    let manifests = [
        Blob::new(
            to_bytes(&oci_manifest(&configs[0], &[&layer])),
            OCI_MANIFEST,
        ),
        Blob::new(
            to_bytes(&oci_manifest(&configs[1], &[&layer])),
            OCI_MANIFEST,
        ),
    ];
    let tag = "tagtest0".to_owned();
    reg.push_manifest(&repo, &tag, OCI_MANIFEST, &manifests[0].bytes);
    reg.push_manifest(
        &repo,
        &manifests[1].digest,
        OCI_MANIFEST,
        &manifests[1].bytes,
    );
    Pulled {
        server,
        reg,
        repo,
        configs,
        layer,
        manifests,
        tag,
    }
}

#[test]
fn api_version_check_answers_200() {
    let server = TestServer::start();
    let reg = Registry::new(&server);
    let resp = reg.get("/v2/").send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Registries commonly advertise this; the spec makes it optional, so only check its value.
    if let Some(v) = header(&resp, "Docker-Distribution-API-Version") {
        assert_eq!(v, "registry/2.0");
    }
}

/// The spec's other answer to the version check: a registry that wants credentials says 401
/// with a `WWW-Authenticate` challenge, which is how clients learn to log in.
#[test]
fn api_version_check_without_credentials_is_401_with_a_challenge() {
    let server = TestServer::start();
    let resp = Registry::anonymous(&server).get("/v2/").send().unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let challenge = header(&resp, "WWW-Authenticate").expect("WWW-Authenticate on a 401");
    assert!(
        challenge.starts_with("Basic realm=\""),
        "challenge: {challenge}"
    );
    assert_error(resp, 401, "UNAUTHORIZED");
}

/// Pulling without credentials: every read endpoint answers 401 with a challenge (never the
/// content, and never 404, which would tell an outsider what exists).
#[test]
fn pulls_without_credentials_are_401() {
    let p = setup();
    let anonymous = Registry::anonymous(&p.server);
    let repo = &p.repo;
    let paths = [
        format!("/v2/{repo}/manifests/{}", p.tag),
        format!("/v2/{repo}/manifests/{}", p.manifests[1].digest),
        format!("/v2/{repo}/manifests/no-such-tag"),
        format!("/v2/{repo}/blobs/{}", p.layer.digest),
        format!("/v2/{repo}/blobs/{}", dummy_digest()),
        format!("/v2/{repo}/tags/list"),
        format!("/v2/{repo}/referrers/{}", p.manifests[0].digest),
        "/v2/no/such/repo/manifests/latest".to_owned(),
    ];
    for path in &paths {
        for head in [false, true] {
            let req = if head {
                anonymous.head(path)
            } else {
                anonymous.get(path)
            };
            let resp = req.send().unwrap();
            assert_eq!(resp.status().as_u16(), 401, "{path} (HEAD: {head})");
            assert!(
                header(&resp, "WWW-Authenticate").is_some(),
                "{path}: 401 without a challenge"
            );
            if !head {
                assert_error(resp, 401, "UNAUTHORIZED");
            }
        }
    }
}

#[test]
fn pull_blobs() {
    let p = setup();
    let reg = &p.reg;
    let repo = &p.repo;

    // HEAD to a nonexistent blob: 404.
    let resp = reg
        .head(&format!("/v2/{repo}/blobs/{}", dummy_digest()))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);

    // HEAD to an existing blob: 200, Docker-Content-Digest and Content-Length.
    for blob in p.configs.iter().chain([&p.layer]) {
        let resp = reg
            .head(&format!("/v2/{repo}/blobs/{}", blob.digest))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(
            header(&resp, "Docker-Content-Digest").as_deref(),
            Some(&*blob.digest)
        );
        assert_eq!(
            header(&resp, "Content-Length").as_deref(),
            Some(&*blob.size().to_string())
        );
        assert!(resp.bytes().unwrap().is_empty(), "HEAD has no body");
    }

    // GET a nonexistent blob: 404 BLOB_UNKNOWN.
    let resp = reg
        .get(&format!("/v2/{repo}/blobs/{}", dummy_digest()))
        .send()
        .unwrap();
    assert_error(resp, 404, "BLOB_UNKNOWN");

    // GET an existing blob: 200, the exact bytes, a digest header matching the body.
    for blob in p.configs.iter().chain([&p.layer]) {
        let resp = reg
            .get(&format!("/v2/{repo}/blobs/{}", blob.digest))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let dcd = header(&resp, "Docker-Content-Digest").expect("Docker-Content-Digest");
        assert_eq!(
            header(&resp, "Content-Length").as_deref(),
            Some(&*blob.size().to_string())
        );
        let body = resp.bytes().unwrap();
        assert_eq!(&body[..], &blob.bytes[..]);
        assert_eq!(dcd, sha256_digest(&body));
    }

    // A blob of another repository is not visible here.
    let other = unique_name("conformance/other");
    reg.push_blob(&other, b"only in the other repository");
    let resp = reg
        .get(&format!(
            "/v2/{repo}/blobs/{}",
            sha256_digest(b"only in the other repository")
        ))
        .send()
        .unwrap();
    assert_error(resp, 404, "BLOB_UNKNOWN");
}

#[test]
fn pull_blob_ranges() {
    let p = setup();
    let reg = &p.reg;
    let url = format!("/v2/{}/blobs/{}", p.repo, p.layer.digest);
    let len = p.layer.size();
    let bytes = &p.layer.bytes;

    let cases: Vec<(String, usize, usize)> = vec![
        ("bytes=0-9".into(), 0, 9),
        ("bytes=100-".into(), 100, len - 1),
        ("bytes=-16".into(), len - 16, len - 1),
        (format!("bytes=10-{}", len + 1000), 10, len - 1),
        (format!("bytes={}-{}", len - 1, len - 1), len - 1, len - 1),
    ];
    for (range, start, end) in cases {
        let resp = reg.get(&url).header("Range", &range).send().unwrap();
        assert_eq!(resp.status().as_u16(), 206, "{range}");
        assert_eq!(
            header(&resp, "Content-Range").as_deref(),
            Some(&*format!("bytes {start}-{end}/{len}")),
            "{range}"
        );
        assert_eq!(
            header(&resp, "Content-Length").as_deref(),
            Some(&*(end - start + 1).to_string()),
            "{range}"
        );
        let body = resp.bytes().unwrap();
        assert_eq!(&body[..], &bytes[start..=end], "{range}");
    }

    // A range starting past the end cannot be satisfied.
    let resp = reg
        .get(&url)
        .header("Range", format!("bytes={len}-"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 416);
    // RFC 9110 asks for the current length in an unsatisfied-range Content-Range.
    if let Some(cr) = header(&resp, "Content-Range") {
        assert_eq!(cr, format!("bytes */{len}"));
    }
}

#[test]
fn pull_manifests() {
    let p = setup();
    let reg = &p.reg;
    let repo = &p.repo;

    // HEAD to a nonexistent manifest: 404.
    let resp = reg
        .head(&format!("/v2/{repo}/manifests/{}", dummy_digest()))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let resp = reg
        .head(&format!("/v2/{repo}/manifests/nosuchtag"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);

    // HEAD by digest (both manifests) and by tag: 200, digest, length and type headers.
    let refs = [
        (p.manifests[0].digest.clone(), &p.manifests[0]),
        (p.manifests[1].digest.clone(), &p.manifests[1]),
        (p.tag.clone(), &p.manifests[0]),
    ];
    for (reference, m) in &refs {
        let resp = reg
            .head(&format!("/v2/{repo}/manifests/{reference}"))
            .header("Accept", OCI_MANIFEST)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "HEAD {reference}");
        assert_eq!(
            header(&resp, "Docker-Content-Digest").as_deref(),
            Some(&*m.digest)
        );
        assert_eq!(
            header(&resp, "Content-Length").as_deref(),
            Some(&*m.size().to_string())
        );
        assert_eq!(header(&resp, "Content-Type").as_deref(), Some(OCI_MANIFEST));
    }

    // GET a nonexistent manifest: 404 MANIFEST_UNKNOWN.
    let resp = reg
        .get(&format!("/v2/{repo}/manifests/nosuchtag"))
        .send()
        .unwrap();
    assert_error(resp, 404, "MANIFEST_UNKNOWN");
    let resp = reg
        .get(&format!("/v2/{repo}/manifests/{}", dummy_digest()))
        .send()
        .unwrap();
    assert_error(resp, 404, "MANIFEST_UNKNOWN");

    // GET by digest and by tag: 200, the exact bytes pushed, matching digest header.
    for (reference, m) in &refs {
        let resp = reg
            .get(&format!("/v2/{repo}/manifests/{reference}"))
            .header("Accept", OCI_MANIFEST)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "GET {reference}");
        assert_eq!(header(&resp, "Content-Type").as_deref(), Some(OCI_MANIFEST));
        let dcd = header(&resp, "Docker-Content-Digest").expect("Docker-Content-Digest");
        let body = resp.bytes().unwrap();
        assert_eq!(&body[..], &m.bytes[..], "stored byte for byte");
        assert_eq!(dcd, sha256_digest(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["mediaType"], OCI_MANIFEST);
    }
}

#[test]
fn pull_from_a_nonexistent_repository_is_404() {
    let server = TestServer::start();
    let reg = Registry::new(&server);
    let resp = reg
        .get("/v2/no/such/repository/manifests/latest")
        .send()
        .unwrap();
    assert_error_in(resp, &[404], &["NAME_UNKNOWN", "MANIFEST_UNKNOWN"]);
    let resp = reg
        .get(&format!("/v2/no/such/repository/blobs/{}", dummy_digest()))
        .send()
        .unwrap();
    assert_error_in(resp, &[404], &["NAME_UNKNOWN", "BLOB_UNKNOWN"]);
}

#[test]
fn error_body_for_a_malformed_digest_reference() {
    let p = setup();
    // The suite's "400 response body should contain OCI-conforming JSON message": 400 or 404,
    // and when 400, a body with a known error code.
    let resp = p
        .reg
        .get(&format!("/v2/{}/manifests/sha256:totallywrong", p.repo))
        .header("Content-Type", OCI_MANIFEST)
        .body("blablabla")
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    assert!(status == 400 || status == 404, "status {status}");
    if status == 400 {
        let codes = error_codes(&resp.bytes().unwrap()).expect("OCI error body");
        assert!(!codes.is_empty());
        assert!(ERROR_CODES.contains(&codes[0].as_str()), "{codes:?}");
    }
}

#[test]
fn content_negotiation_serves_the_pushed_type() {
    let server = TestServer::start();
    let reg = Registry::new(&server);
    let repo = unique_name("conformance/negotiation");

    let config = Blob::config(DOCKER_CONFIG);
    let layer = Blob::random(1000, DOCKER_LAYER);
    reg.push(&repo, &config);
    reg.push(&repo, &layer);
    let docker = Blob::new(
        to_bytes(&docker_manifest(&config, &[&layer])),
        DOCKER_MANIFEST,
    );
    reg.push_manifest(&repo, "docker", DOCKER_MANIFEST, &docker.bytes);

    let oci_config = Blob::config(OCI_CONFIG);
    reg.push(&repo, &oci_config);
    let oci = Blob::new(
        to_bytes(&oci_manifest(&oci_config, &[&layer])),
        OCI_MANIFEST,
    );
    reg.push_manifest(&repo, &oci.digest, OCI_MANIFEST, &oci.bytes);

    let list = Blob::new(
        to_bytes(&index_of(DOCKER_MANIFEST_LIST, &[&docker])),
        DOCKER_MANIFEST_LIST,
    );
    reg.push_manifest(&repo, "list", DOCKER_MANIFEST_LIST, &list.bytes);
    let index = Blob::new(to_bytes(&index_of(OCI_INDEX, &[&oci])), OCI_INDEX);
    reg.push_manifest(&repo, "index", OCI_INDEX, &index.bytes);

    let accept_all = [
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
    ]
    .join(", ");
    for (reference, m) in [
        ("docker", &docker),
        (oci.digest.as_str(), &oci),
        ("list", &list),
        ("index", &index),
    ] {
        let resp = reg
            .get(&format!("/v2/{repo}/manifests/{reference}"))
            .header("Accept", &accept_all)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{reference}");
        assert_eq!(
            header(&resp, "Content-Type").as_deref(),
            Some(&*m.media_type),
            "{reference}"
        );
        assert_eq!(
            header(&resp, "Docker-Content-Digest").as_deref(),
            Some(&*m.digest)
        );
        assert_eq!(&resp.bytes().unwrap()[..], &m.bytes[..], "{reference}");
    }
}

#[test]
fn nested_repository_names() {
    let server = TestServer::start();
    let reg = Registry::new(&server);
    let repo = format!("{}/app/api", unique_name("team"));
    let image = reg.push_image(&repo, "v1.0.0", 2, 300);
    let resp = reg
        .get(&format!("/v2/{repo}/manifests/v1.0.0"))
        .header("Accept", OCI_MANIFEST)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(&resp.bytes().unwrap()[..], &image.manifest.bytes[..]);
    for l in &image.layers {
        let (status, body) = reg.get_blob(&repo, &l.digest);
        assert_eq!(status, 200);
        assert_eq!(body, l.bytes);
    }
    // The parent path is a different repository.
    let parent = repo.rsplit_once('/').unwrap().0;
    let resp = reg
        .get(&format!("/v2/{parent}/manifests/v1.0.0"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}
