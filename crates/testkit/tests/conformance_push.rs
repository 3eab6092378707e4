//! The "Push" workflow of the OCI distribution-spec conformance suite, written from spec.md
//! (v1.1): streamed, monolithic (POST+PUT and single POST) and chunked blob uploads, upload
//! status and cancel, cross-repository mounts, and manifest pushes by tag and by digest.

use portcullis_testkit::fixtures::*;
use portcullis_testkit::TestServer;

fn start() -> (TestServer, Registry) {
    let server = TestServer::start();
    let reg = Registry::new(&server);
    (server, reg)
}

/// Locations may be relative or absolute per the spec; the contract makes them relative.
#[track_caller]
fn assert_relative_v2(location: &str) {
    assert!(
        location.starts_with("/v2/"),
        "Location {location:?} is not a relative /v2/ path"
    );
}

#[test]
fn blob_upload_streamed() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/push");
    let blob = Blob::random(3 * 1024 + 5, OCI_LAYER);

    // POST: 202 with a Location holding the session id.
    let resp = reg
        .post(&format!("/v2/{repo}/blobs/uploads/"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let loc = header(&resp, "Location").expect("Location");
    assert_relative_v2(&loc);
    assert!(
        loc.starts_with(&format!("/v2/{repo}/blobs/uploads/")),
        "session location {loc}"
    );
    let uuid_part = loc
        .trim_start_matches(&format!("/v2/{repo}/blobs/uploads/"))
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    assert!(!uuid_part.is_empty(), "Location must carry a session id");
    if let Some(u) = header(&resp, "Docker-Upload-UUID") {
        assert!(loc.contains(&u), "Docker-Upload-UUID {u} not in {loc}");
    }

    // PATCH the whole blob without Content-Range (a streamed upload): 202, Location, Range.
    let resp = reg
        .patch(&loc)
        .header("Content-Type", "application/octet-stream")
        .body(blob.bytes.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let loc = header(&resp, "Location").expect("PATCH Location");
    assert_relative_v2(&loc);
    assert_eq!(
        header(&resp, "Range").as_deref(),
        Some(&*format!("0-{}", blob.size() - 1))
    );

    // PUT with the digest and no body closes the session: 201 with the blob's location.
    let resp = reg
        .put(&with_query(&loc, "digest", &blob.digest))
        .header("Content-Type", "application/octet-stream")
        .header("Content-Length", "0")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let blob_loc = header(&resp, "Location").expect("blob Location");
    assert_eq!(blob_loc, format!("/v2/{repo}/blobs/{}", blob.digest));
    assert_eq!(
        header(&resp, "Docker-Content-Digest").as_deref(),
        Some(&*blob.digest)
    );

    let resp = reg.get(&blob_loc).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(&resp.bytes().unwrap()[..], &blob.bytes[..]);
}

#[test]
fn blob_upload_monolithic() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/push");
    let config = Blob::config(OCI_CONFIG);
    let layer = Blob::random(64 * 1024 + 3, OCI_LAYER);

    // GET before the push: 404.
    let (status, _) = reg.get_blob(&repo, &config.digest);
    assert_eq!(status, 404);

    // Single POST with ?digest=: the contract implements it, so 201 with a Location.
    let resp = reg
        .post(&with_query(
            &format!("/v2/{repo}/blobs/uploads/"),
            "digest",
            &config.digest,
        ))
        .header("Content-Type", "application/octet-stream")
        .body(config.bytes.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let loc = header(&resp, "Location").expect("Location");
    assert_eq!(loc, format!("/v2/{repo}/blobs/{}", config.digest));
    let resp = reg.get(&loc).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(&resp.bytes().unwrap()[..], &config.bytes[..]);

    // POST then PUT: 202 with a session, then 201 with the blob location.
    for blob in [&config, &layer] {
        let resp = reg
            .post(&format!("/v2/{repo}/blobs/uploads/"))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202);
        let session = header(&resp, "Location").expect("session Location");
        let resp = reg
            .put(&with_query(&session, "digest", &blob.digest))
            .header("Content-Type", "application/octet-stream")
            .body(blob.bytes.clone())
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let loc = header(&resp, "Location").expect("blob Location");
        assert_relative_v2(&loc);
        assert_eq!(
            header(&resp, "Docker-Content-Digest").as_deref(),
            Some(&*blob.digest)
        );
        let (status, body) = reg.get_blob(&repo, &blob.digest);
        assert_eq!(status, 200);
        assert_eq!(body, blob.bytes);
    }
}

#[test]
fn single_post_with_a_literal_colon_in_the_digest() {
    // Some clients send the digest unescaped, as the spec writes it.
    let (_s, reg) = start();
    let repo = unique_name("conformance/push");
    let blob = Blob::random(100, OCI_LAYER);
    let resp = reg
        .post(&format!("/v2/{repo}/blobs/uploads/?digest={}", blob.digest))
        .body(blob.bytes.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let (status, body) = reg.get_blob(&repo, &blob.digest);
    assert_eq!(status, 200);
    assert_eq!(body, blob.bytes);
}

#[test]
fn blob_upload_chunked() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/push");
    let blob = Blob::random(10_000, OCI_LAYER);
    let (c1, c2) = blob.bytes.split_at(6_000);
    let r1 = "0-5999";
    let r2 = format!("6000-{}", blob.size() - 1);

    // An out-of-order first chunk: 416.
    let resp = reg
        .post(&format!("/v2/{repo}/blobs/uploads/"))
        .header("Content-Length", "0")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let loc = header(&resp, "Location").expect("Location");
    let resp = reg
        .patch(&loc)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", &r2)
        .body(c2.to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 416);

    // A new session: the first chunk is accepted, with Range 0-<end>.
    let resp = reg
        .post(&format!("/v2/{repo}/blobs/uploads/"))
        .header("Content-Length", "0")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let loc = header(&resp, "Location").expect("Location");
    if let Some(min) = header(&resp, "OCI-Chunk-Min-Length") {
        let min: usize = min.parse().expect("OCI-Chunk-Min-Length is a number");
        assert!(
            min <= c1.len(),
            "chunk minimum {min} is above this test's chunk"
        );
    }
    let resp = reg
        .patch(&loc)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", r1)
        .body(c1.to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(header(&resp, "Range").as_deref(), Some(r1));
    let after_first = header(&resp, "Location").expect("PATCH Location");

    // Retrying the same chunk is out of order now: 416.
    let resp = reg
        .patch(&after_first)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", r1)
        .body(c1.to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 416);

    // GET on the session reports the committed range and a location.
    let resp = reg.get(&after_first).send().unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(header(&resp, "Range").as_deref(), Some(r1));
    let status_loc = header(&resp, "Location").expect("status Location");
    assert_relative_v2(&status_loc);
    if let Some(u) = header(&resp, "Docker-Upload-UUID") {
        assert!(status_loc.contains(&u));
    }

    // The second chunk continues from there.
    let resp = reg
        .patch(&status_loc)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", &r2)
        .body(c2.to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(
        header(&resp, "Range").as_deref(),
        Some(&*format!("0-{}", blob.size() - 1))
    );
    let loc = header(&resp, "Location").expect("PATCH Location");

    // PUT with the whole blob's digest and no body: 201.
    let resp = reg
        .put(&with_query(&loc, "digest", &blob.digest))
        .header("Content-Type", "application/octet-stream")
        .header("Content-Length", "0")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let blob_loc = header(&resp, "Location").expect("blob Location");
    assert_eq!(blob_loc, format!("/v2/{repo}/blobs/{}", blob.digest));
    let resp = reg.get(&blob_loc).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(&resp.bytes().unwrap()[..], &blob.bytes[..]);

    // The finished session is gone.
    let resp = reg.get(&loc).send().unwrap();
    assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN");
}

#[test]
fn chunked_upload_with_the_final_chunk_in_the_put() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/push");
    let blob = Blob::random(5_000, OCI_LAYER);
    let (c1, c2) = blob.bytes.split_at(2_048);

    let loc = reg.start_upload(&repo);
    let resp = reg.patch_chunk(&loc, 0, c1);
    assert_eq!(resp.status().as_u16(), 202);
    let loc = header(&resp, "Location").unwrap();

    // A final chunk that skips bytes is out of order: 416, and the session is intact.
    let resp = reg
        .put(&with_query(&loc, "digest", &blob.digest))
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", format!("2049-{}", blob.size()))
        .body(c2.to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 416);
    let resp = reg.get(&loc).send().unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(header(&resp, "Range").as_deref(), Some("0-2047"));

    let resp = reg
        .put(&with_query(&loc, "digest", &blob.digest))
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", format!("2048-{}", blob.size() - 1))
        .body(c2.to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let (status, body) = reg.get_blob(&repo, &blob.digest);
    assert_eq!(status, 200);
    assert_eq!(body, blob.bytes);
}

#[test]
fn many_small_chunks() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/push");
    let blob = Blob::random(100_003, OCI_LAYER);
    reg.push_blob_chunked(&repo, &blob.bytes, 7_919);
    let (status, body) = reg.get_blob(&repo, &blob.digest);
    assert_eq!(status, 200);
    assert_eq!(body, blob.bytes);
}

#[test]
fn cancel_an_upload() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/push");
    let loc = reg.start_upload(&repo);
    let resp = reg.patch_chunk(&loc, 0, b"some bytes");
    assert_eq!(resp.status().as_u16(), 202);
    let loc = header(&resp, "Location").unwrap();

    let resp = reg
        .delete(&loc)
        .header("Content-Length", "0")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);

    let resp = reg.get(&loc).send().unwrap();
    assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN");
    let resp = reg.patch_chunk(&loc, 10, b"more");
    assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN");
    let resp = reg
        .put(&with_query(&loc, "digest", &sha256_digest(b"some bytes")))
        .send()
        .unwrap();
    assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN");
    let resp = reg.delete(&loc).send().unwrap();
    assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN");
}

#[test]
fn cross_repository_mount() {
    let (_s, reg) = start();
    let from = unique_name("conformance/push");
    let to = unique_name("conformance/crossmount");
    let blob = Blob::random(2_222, OCI_LAYER);
    reg.push(&from, &blob);

    // Mount of an unknown digest without `from`: an upload session (202).
    let resp = reg
        .post(&with_query(
            &format!("/v2/{to}/blobs/uploads/"),
            "mount",
            &sha256_digest(b"hello world"),
        ))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let loc = header(&resp, "Location").expect("Location");
    assert!(
        loc.starts_with(&format!("/v2/{to}/blobs/uploads/")),
        "{loc}"
    );

    // Mount from a repository holding the blob: 201 with the blob's new location.
    let url = with_query(
        &with_query(&format!("/v2/{to}/blobs/uploads/"), "mount", &blob.digest),
        "from",
        &from,
    );
    let resp = reg.post(&url).send().unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let loc = header(&resp, "Location").expect("Location");
    assert_eq!(loc, format!("/v2/{to}/blobs/{}", blob.digest));
    if let Some(d) = header(&resp, "Docker-Content-Digest") {
        assert_eq!(d, blob.digest);
    }
    let resp = reg.get(&loc).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(&resp.bytes().unwrap()[..], &blob.bytes[..]);

    // Mount of a blob the source does not have: 202, a session in the target repository,
    // which then takes a normal upload.
    let missing = Blob::random(321, OCI_LAYER);
    let url = with_query(
        &with_query(
            &format!("/v2/{to}/blobs/uploads/"),
            "mount",
            &missing.digest,
        ),
        "from",
        &from,
    );
    let resp = reg.post(&url).send().unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let session = header(&resp, "Location").expect("Location");
    assert!(
        session.starts_with(&format!("/v2/{to}/blobs/uploads/")),
        "{session}"
    );
    let resp = reg
        .put(&with_query(&session, "digest", &missing.digest))
        .body(missing.bytes.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);

    // Without `from` the registry may mount (201) or open a session (202).
    let third = unique_name("conformance/automount");
    let resp = reg
        .post(&with_query(
            &format!("/v2/{third}/blobs/uploads/"),
            "mount",
            &blob.digest,
        ))
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    assert!(status == 201 || status == 202, "status {status}");
}

#[test]
fn manifest_upload() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/push");
    let config = Blob::config(OCI_CONFIG);
    let layer = Blob::random(1_234, OCI_LAYER);
    reg.push(&repo, &config);
    reg.push(&repo, &layer);
    let manifest = Blob::new(to_bytes(&oci_manifest(&config, &[&layer])), OCI_MANIFEST);

    // GET before the push: 404.
    let resp = reg
        .get(&format!("/v2/{repo}/manifests/tagtest0"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);

    // PUT by tag (several tags for the same manifest): 201, Location, Docker-Content-Digest.
    for tag in ["tagtest0", "tagtest1", "tagtest2"] {
        let resp = reg.put_manifest(&repo, tag, OCI_MANIFEST, &manifest.bytes);
        assert_eq!(resp.status().as_u16(), 201, "PUT {tag}");
        let loc = header(&resp, "Location").expect("Location");
        assert_relative_v2(&loc);
        assert_eq!(
            header(&resp, "Docker-Content-Digest").as_deref(),
            Some(&*manifest.digest)
        );
        let resp = reg.get(&loc).header("Accept", OCI_MANIFEST).send().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "GET {loc}");
        assert_eq!(&resp.bytes().unwrap()[..], &manifest.bytes[..]);
    }

    // A manifest with no layers is accepted.
    let empty = Blob::new(to_bytes(&oci_manifest(&config, &[])), OCI_MANIFEST);
    let resp = reg.put_manifest(&repo, &empty.digest, OCI_MANIFEST, &empty.bytes);
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(
        header(&resp, "Docker-Content-Digest").as_deref(),
        Some(&*empty.digest)
    );
    assert!(header(&resp, "Location").is_some());

    // GET by digest: 200 and the exact bytes.
    for m in [&manifest, &empty] {
        let resp = reg
            .get(&format!("/v2/{repo}/manifests/{}", m.digest))
            .header("Accept", OCI_MANIFEST)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(&resp.bytes().unwrap()[..], &m.bytes[..]);
    }

    // Re-pointing a tag: the tag now resolves to the new manifest.
    reg.push_manifest(&repo, "tagtest0", OCI_MANIFEST, &empty.bytes);
    let resp = reg
        .get(&format!("/v2/{repo}/manifests/tagtest0"))
        .header("Accept", OCI_MANIFEST)
        .send()
        .unwrap();
    assert_eq!(
        header(&resp, "Docker-Content-Digest").as_deref(),
        Some(&*empty.digest)
    );
}

#[test]
fn index_and_manifest_list_upload() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/push");
    let layer = Blob::random(512, OCI_LAYER);
    reg.push(&repo, &layer);
    let mut children = Vec::new();
    for _ in 0..2 {
        let config = Blob::config(OCI_CONFIG);
        reg.push(&repo, &config);
        let m = Blob::new(to_bytes(&oci_manifest(&config, &[&layer])), OCI_MANIFEST);
        reg.push_manifest(&repo, &m.digest, OCI_MANIFEST, &m.bytes);
        children.push(m);
    }
    let refs: Vec<&Blob> = children.iter().collect();
    let index = Blob::new(to_bytes(&index_of(OCI_INDEX, &refs)), OCI_INDEX);
    let resp = reg.put_manifest(&repo, "multi", OCI_INDEX, &index.bytes);
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(
        header(&resp, "Docker-Content-Digest").as_deref(),
        Some(&*index.digest)
    );

    let dconfig = Blob::config(DOCKER_CONFIG);
    let dlayer = Blob::random(600, DOCKER_LAYER);
    reg.push(&repo, &dconfig);
    reg.push(&repo, &dlayer);
    let dm = Blob::new(
        to_bytes(&docker_manifest(&dconfig, &[&dlayer])),
        DOCKER_MANIFEST,
    );
    reg.push_manifest(&repo, &dm.digest, DOCKER_MANIFEST, &dm.bytes);
    let list = Blob::new(
        to_bytes(&index_of(DOCKER_MANIFEST_LIST, &[&dm])),
        DOCKER_MANIFEST_LIST,
    );
    let resp = reg.put_manifest(&repo, "dockerlist", DOCKER_MANIFEST_LIST, &list.bytes);
    assert_eq!(resp.status().as_u16(), 201);

    for (tag, m) in [("multi", &index), ("dockerlist", &list)] {
        let resp = reg
            .get(&format!("/v2/{repo}/manifests/{tag}"))
            .header("Accept", format!("{OCI_INDEX}, {DOCKER_MANIFEST_LIST}"))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(
            header(&resp, "Content-Type").as_deref(),
            Some(&*m.media_type)
        );
        assert_eq!(&resp.bytes().unwrap()[..], &m.bytes[..]);
    }
}

#[test]
fn manifest_with_a_subject_that_does_not_exist_is_accepted() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/push");
    let empty = Blob::empty_json();
    reg.push(&repo, &empty);
    let absent = Blob::new(b"never pushed".to_vec(), OCI_MANIFEST);
    let mut v = oci_manifest(&empty, &[&empty]);
    v["artifactType"] = "application/vnd.example.sbom.v1".into();
    v["subject"] = absent.descriptor();
    let m = Blob::new(to_bytes(&v), OCI_MANIFEST);
    let resp = reg.put_manifest(&repo, &m.digest, OCI_MANIFEST, &m.bytes);
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(
        header(&resp, "OCI-Subject").as_deref(),
        Some(&*absent.digest)
    );
}

#[test]
fn sha512_blobs() {
    use sha2::{Digest as _, Sha512};
    let (_s, reg) = start();
    let repo = unique_name("conformance/push");
    let data = random_bytes(70_000);
    let digest = format!("sha512:{}", hex::encode(Sha512::digest(&data)));

    // A session opened for sha512, closed monolithically.
    let resp = reg
        .post(&format!(
            "/v2/{repo}/blobs/uploads/?digest-algorithm=sha512"
        ))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let loc = header(&resp, "Location").expect("Location");
    let resp = reg
        .put(&with_query(&loc, "digest", &digest))
        .body(data.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(
        header(&resp, "Location").as_deref(),
        Some(&*format!("/v2/{repo}/blobs/{digest}"))
    );

    let resp = reg
        .head(&format!("/v2/{repo}/blobs/{digest}"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        header(&resp, "Docker-Content-Digest").as_deref(),
        Some(&*digest)
    );
    assert_eq!(
        header(&resp, "Content-Length").as_deref(),
        Some(&*data.len().to_string())
    );
    let resp = reg
        .get(&format!("/v2/{repo}/blobs/{digest}"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(&resp.bytes().unwrap()[..], &data[..]);

    // Chunked, with a sha512 closing digest.
    let other = random_bytes(30_000);
    let other_digest = format!("sha512:{}", hex::encode(Sha512::digest(&other)));
    let loc = reg.start_upload(&repo);
    let resp = reg.patch_chunk(&loc, 0, &other);
    assert_eq!(resp.status().as_u16(), 202);
    let loc = header(&resp, "Location").unwrap();
    let resp = reg
        .put(&with_query(&loc, "digest", &other_digest))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let (status, body) = reg.get_blob(&repo, &other_digest);
    assert_eq!(status, 200);
    assert_eq!(body, other);
}

/// Every push endpoint refuses a caller without credentials with 401 and a challenge, even on
/// an upload session an authenticated client opened, and nothing the anonymous caller sent is
/// stored.
#[test]
fn pushes_without_credentials_are_401_and_store_nothing() {
    let (server, reg) = start();
    let anonymous = Registry::anonymous(&server);
    let repo = unique_name("conformance/push-anon");
    let config = Blob::config(OCI_CONFIG);
    let layer = Blob::random(2048, OCI_LAYER);
    reg.push(&repo, &config);
    let session = reg.start_upload(&repo);

    #[track_caller]
    fn refused(resp: reqwest::blocking::Response) {
        assert!(
            header(&resp, "WWW-Authenticate").is_some(),
            "{}: 401 without a challenge",
            resp.url()
        );
        assert_error(resp, 401, "UNAUTHORIZED");
    }

    refused(
        anonymous
            .post(&format!("/v2/{repo}/blobs/uploads/"))
            .header("Content-Length", "0")
            .send()
            .unwrap(),
    );
    refused(
        anonymous
            .post(&with_query(
                &format!("/v2/{repo}/blobs/uploads/"),
                "digest",
                &layer.digest,
            ))
            .header("Content-Type", "application/octet-stream")
            .body(layer.bytes.clone())
            .send()
            .unwrap(),
    );
    refused(anonymous.patch_chunk(&session, 0, &layer.bytes));
    refused(
        anonymous
            .put(&with_query(&session, "digest", &layer.digest))
            .header("Content-Type", "application/octet-stream")
            .body(layer.bytes.clone())
            .send()
            .unwrap(),
    );
    refused(
        anonymous
            .post(&format!(
                "/v2/{}/blobs/uploads/?mount={}&from={repo}",
                unique_name("conformance/push-anon-dst"),
                config.digest
            ))
            .header("Content-Length", "0")
            .send()
            .unwrap(),
    );
    let manifest = to_bytes(&oci_manifest(&config, &[]));
    refused(
        anonymous
            .put(&format!("/v2/{repo}/manifests/v1"))
            .header("Content-Type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()
            .unwrap(),
    );

    // Nothing landed: no layer, no tag, and the session is still at offset 0.
    let (status, _) = reg.get_blob(&repo, &layer.digest);
    assert_eq!(status, 404, "an anonymous upload stored the layer");
    let resp = reg
        .head(&format!("/v2/{repo}/manifests/v1"))
        .header("Accept", OCI_MANIFEST)
        .send()
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        404,
        "an anonymous manifest PUT landed"
    );
    let resp = reg.get(&session).send().unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let range = header(&resp, "Range");
    assert!(
        range.is_none() || range.as_deref() == Some("0-0"),
        "anonymous PATCH moved the session: Range {range:?}"
    );

    // The owner of the session can still finish it.
    let resp = reg
        .put(&with_query(&session, "digest", &layer.digest))
        .header("Content-Type", "application/octet-stream")
        .body(layer.bytes.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
}
