//! Every bad-input case the registry must refuse, each checked for its status and for the error
//! code in the spec's JSON body: malformed names, tags and digests, digest mismatches, wrong
//! Content-Range, unknown uploads, manifests that are invalid, schema 1, oversized or that
//! reference missing blobs, unknown content and unsatisfiable ranges.

use portcullis_testkit::fixtures::*;
use portcullis_testkit::TestServer;
use serde_json::json;

fn start() -> (TestServer, Registry) {
    let server = TestServer::start();
    let reg = Registry::new(&server);
    (server, reg)
}

/// Names that break `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`
/// (or the 255-character limit), as they appear in a URL path.
fn bad_names() -> Vec<String> {
    let mut v: Vec<String> = [
        "Upper",
        "upper/Case",
        "a..b",
        "a___b",
        "a.-b",
        "-lead",
        "trail-",
        "trail.",
        "trail_",
        "a/-b",
        "a/b_",
        "_a",
        "a%20b",
        "a%21b",
        "%C3%A9t%C3%A9",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a".repeat(256));
    v.push(format!("{}/{}", "a".repeat(200), "b".repeat(60)));
    v
}

#[test]
fn malformed_names_are_name_invalid() {
    let (_s, reg) = start();
    let digest = sha256_digest(b"x");
    for name in bad_names() {
        let resp = reg
            .post(&format!("/v2/{name}/blobs/uploads/"))
            .send()
            .unwrap();
        assert_error(resp, 400, "NAME_INVALID");

        let resp = reg
            .get(&format!("/v2/{name}/manifests/latest"))
            .send()
            .unwrap();
        assert_error(resp, 400, "NAME_INVALID");

        let resp = reg.put_manifest(&name, "latest", OCI_MANIFEST, b"{}");
        assert_error(resp, 400, "NAME_INVALID");

        let resp = reg
            .get(&format!("/v2/{name}/blobs/{digest}"))
            .send()
            .unwrap();
        assert_error(resp, 400, "NAME_INVALID");

        let resp = reg.get(&format!("/v2/{name}/tags/list")).send().unwrap();
        assert_error(resp, 400, "NAME_INVALID");
    }
}

#[test]
fn a_name_of_255_characters_is_valid() {
    let (_s, reg) = start();
    let name = format!("{}/{}", "a".repeat(200), "b".repeat(54));
    assert_eq!(name.len(), 255);
    let blob = Blob::random(10, OCI_LAYER);
    reg.push(&name, &blob);
}

#[test]
fn bad_tags_are_tag_invalid() {
    let (_s, reg) = start();
    let repo = unique_name("bad/tags");
    let image = reg.push_image(&repo, "good", 1, 10);
    let long = "t".repeat(129);
    for tag in [
        "-lead",
        ".lead",
        "bad!tag",
        "bad%20tag",
        "bad%2Ftag",
        "t%C3%A9",
        &long,
    ] {
        let resp = reg.put_manifest(&repo, tag, OCI_MANIFEST, &image.manifest.bytes);
        assert_error(resp, 400, "TAG_INVALID");
    }
    // The longest valid tag is accepted.
    let longest = format!("_{}", "x".repeat(127));
    reg.push_manifest(&repo, &longest, OCI_MANIFEST, &image.manifest.bytes);
    assert!(reg.tags(&repo).contains(&longest));
}

/// References that are neither a tag nor a digest, or digests that break the grammar.
const BAD_DIGESTS: &[&str] = &[
    "sha256:totallywrong",
    "sha256:abc",
    // 63 hex digits
    "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde",
    // upper-case hex is not canonical
    "sha256:B94D27B9934D3E08A52E52D7DA7DABFAC484EFE37A5380EE9088F7ACE2EFCDE9",
    // 65 hex digits
    "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9a",
    "sha256:",
    ":b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
    "sha512:abc",
];

#[test]
fn bad_digests_are_digest_invalid() {
    let (_s, reg) = start();
    let repo = unique_name("bad/digests");
    reg.push_image(&repo, "latest", 1, 10);
    for d in BAD_DIGESTS {
        let resp = reg.get(&format!("/v2/{repo}/blobs/{d}")).send().unwrap();
        assert_error(resp, 400, "DIGEST_INVALID");
        let resp = reg.delete(&format!("/v2/{repo}/blobs/{d}")).send().unwrap();
        assert_error(resp, 400, "DIGEST_INVALID");

        // As an upload's closing digest.
        let loc = reg.start_upload(&repo);
        let resp = reg
            .put(&with_query(&loc, "digest", d))
            .body(b"x".to_vec())
            .send()
            .unwrap();
        assert_error(resp, 400, "DIGEST_INVALID");

        // As a single POST's digest.
        let resp = reg
            .post(&with_query(
                &format!("/v2/{repo}/blobs/uploads/"),
                "digest",
                d,
            ))
            .body(b"x".to_vec())
            .send()
            .unwrap();
        assert_error(resp, 400, "DIGEST_INVALID");

        let resp = reg
            .get(&format!("/v2/{repo}/referrers/{d}"))
            .send()
            .unwrap();
        assert_error(resp, 400, "DIGEST_INVALID");
    }
    // A manifest reference with a colon is a digest, so these are digest errors too.
    for d in ["sha256:abc", "sha256:totallywrong"] {
        let resp = reg.put_manifest(&repo, d, OCI_MANIFEST, b"{}");
        assert_error_in(resp, &[400], &["DIGEST_INVALID", "TAG_INVALID"]);
    }
    // An algorithm the registry does not support: 400 on push; on pull, 400 or simply unknown.
    let md5 = format!("md5:{}", "0123456789abcdef0123456789abcdef");
    let loc = reg.start_upload(&repo);
    let resp = reg
        .put(&with_query(&loc, "digest", &md5))
        .body(b"x".to_vec())
        .send()
        .unwrap();
    assert_error_in(resp, &[400], &["DIGEST_INVALID", "UNSUPPORTED"]);
    let resp = reg.get(&format!("/v2/{repo}/blobs/{md5}")).send().unwrap();
    assert_error_in(
        resp,
        &[400, 404],
        &["DIGEST_INVALID", "UNSUPPORTED", "BLOB_UNKNOWN"],
    );
}

#[test]
fn upload_put_with_a_mismatched_digest() {
    let (_s, reg) = start();
    let repo = unique_name("bad/mismatch");
    let blob = Blob::random(5000, OCI_LAYER);
    let wrong = sha256_digest(b"something else");

    // Monolithic POST+PUT.
    let loc = reg.start_upload(&repo);
    let resp = reg
        .put(&with_query(&loc, "digest", &wrong))
        .body(blob.bytes.clone())
        .send()
        .unwrap();
    assert_error(resp, 400, "DIGEST_INVALID");

    // Single POST.
    let resp = reg
        .post(&with_query(
            &format!("/v2/{repo}/blobs/uploads/"),
            "digest",
            &wrong,
        ))
        .body(blob.bytes.clone())
        .send()
        .unwrap();
    assert_error(resp, 400, "DIGEST_INVALID");

    // Chunked, closing PUT with no body.
    let loc = reg.start_upload(&repo);
    let resp = reg.patch_chunk(&loc, 0, &blob.bytes);
    assert_eq!(resp.status().as_u16(), 202);
    let loc = header(&resp, "Location").unwrap();
    let resp = reg
        .put(&with_query(&loc, "digest", &wrong))
        .header("Content-Length", "0")
        .send()
        .unwrap();
    assert_error(resp, 400, "DIGEST_INVALID");

    // A sha512 digest of other content.
    let loc = reg.start_upload(&repo);
    let resp = reg
        .put(&with_query(
            &loc,
            "digest",
            &format!("sha512:{}", "ab".repeat(64)),
        ))
        .body(blob.bytes.clone())
        .send()
        .unwrap();
    assert_error(resp, 400, "DIGEST_INVALID");

    // Nothing became visible under either digest.
    for d in [&blob.digest, &wrong] {
        let resp = reg.head(&format!("/v2/{repo}/blobs/{d}")).send().unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{d} must not be visible");
    }

    // A closing PUT without any digest is refused too.
    let loc = reg.start_upload(&repo);
    let resp = reg.put(&loc).body(blob.bytes.clone()).send().unwrap();
    assert_error_in(resp, &[400], &["DIGEST_INVALID", "BLOB_UPLOAD_INVALID"]);
}

#[test]
fn manifest_put_by_a_digest_that_does_not_match() {
    let (_s, reg) = start();
    let repo = unique_name("bad/mismatch");
    let image = reg.push_image(&repo, "latest", 1, 10);
    let other = sha256_digest(b"not this manifest");
    let resp = reg.put_manifest(&repo, &other, OCI_MANIFEST, &image.manifest.bytes);
    assert_error(resp, 400, "DIGEST_INVALID");
    let resp = reg
        .head(&format!("/v2/{repo}/manifests/{other}"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

#[test]
fn wrong_content_range() {
    let (_s, reg) = start();
    let repo = unique_name("bad/range");
    let data = random_bytes(300);
    let loc = reg.start_upload(&repo);

    // Malformed headers: not `<start>-<end>`. (The RFC 9110 form `bytes 0-99/300` is accepted
    // on purpose: it names the same range, and refusing it would only break a client.)
    for range in ["0-", "-99", "abc", "0--99", "99-0", "0-99-100"] {
        let resp = reg
            .patch(&loc)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", range)
            .body(data[..100].to_vec())
            .send()
            .unwrap();
        assert_error_in(
            resp,
            &[400, 416],
            &["BLOB_UPLOAD_INVALID", "RANGE_INVALID", "SIZE_INVALID"],
        );
    }

    // A range whose length disagrees with the body.
    let resp = reg
        .patch(&loc)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", "0-199")
        .body(data[..100].to_vec())
        .send()
        .unwrap();
    assert_error_in(
        resp,
        &[400, 416],
        &["BLOB_UPLOAD_INVALID", "RANGE_INVALID", "SIZE_INVALID"],
    );

    // None of that was committed: the session is still at offset 0 and takes a good chunk.
    let resp = reg.get(&loc).send().unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let range = header(&resp, "Range");
    assert!(
        range.is_none() || range.as_deref() == Some("0-0") || range.as_deref() == Some("0--1"),
        "nothing should be committed yet, got Range {range:?}"
    );
    let resp = reg.patch_chunk(&loc, 0, &data[..100]);
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(header(&resp, "Range").as_deref(), Some("0-99"));
}

#[test]
fn chunks_out_of_order_are_416() {
    let (_s, reg) = start();
    let repo = unique_name("bad/order");
    let data = random_bytes(300);
    let loc = reg.start_upload(&repo);

    // A first chunk that does not start at 0.
    let resp = reg.patch_chunk(&loc, 1, &data[1..100]);
    assert_error(resp, 416, "RANGE_INVALID");

    let resp = reg.patch_chunk(&loc, 0, &data[..100]);
    assert_eq!(resp.status().as_u16(), 202);
    let loc = header(&resp, "Location").unwrap();

    // A gap, an overlap and a repeat.
    for (start, end) in [(150, 199), (50, 149), (0, 99), (101, 200)] {
        let resp = reg.patch_chunk(&loc, start, &data[start..=end]);
        assert_error(resp, 416, "RANGE_INVALID");
    }

    // The committed offset did not move; the right next chunk still fits, and the blob is
    // complete and correct.
    let resp = reg.get(&loc).send().unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(header(&resp, "Range").as_deref(), Some("0-99"));
    let resp = reg.patch_chunk(&loc, 100, &data[100..]);
    assert_eq!(resp.status().as_u16(), 202);
    let loc = header(&resp, "Location").unwrap();
    let digest = sha256_digest(&data);
    let resp = reg
        .put(&with_query(&loc, "digest", &digest))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let (status, body) = reg.get_blob(&repo, &digest);
    assert_eq!(status, 200);
    assert_eq!(body, data);
}

#[test]
fn unknown_upload_ids_are_blob_upload_unknown() {
    let (_s, reg) = start();
    let repo = unique_name("bad/uploads");
    reg.push_image(&repo, "latest", 1, 10);
    let digest = sha256_digest(b"x");
    for id in [
        "3f0e8c56-62b6-4d4a-9b33-1c9a36b1e0aa".to_owned(),
        format!("{:032x}", 0xdead_beef_u64),
    ] {
        let loc = format!("/v2/{repo}/blobs/uploads/{id}");
        let resp = reg.get(&loc).send().unwrap();
        assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN");
        let resp = reg.patch_chunk(&loc, 0, b"x");
        assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN");
        let resp = reg
            .put(&with_query(&loc, "digest", &digest))
            .body(b"x".to_vec())
            .send()
            .unwrap();
        assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN");
        let resp = reg.delete(&loc).send().unwrap();
        assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN");
    }

    // An id that is not even well-formed: unknown (404) or invalid (400).
    let resp = reg
        .get(&format!("/v2/{repo}/blobs/uploads/not..an..id"))
        .send()
        .unwrap();
    assert_error_in(
        resp,
        &[404, 400],
        &["BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"],
    );

    // A live session used under another repository's path is unknown there.
    let loc = reg.start_upload(&repo);
    let other = unique_name("bad/elsewhere");
    let id = loc
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let resp = reg
        .get(&format!("/v2/{other}/blobs/uploads/{id}"))
        .send()
        .unwrap();
    assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN");
    let resp = reg
        .put(&with_query(
            &format!("/v2/{other}/blobs/uploads/{id}"),
            "digest",
            &digest,
        ))
        .body(b"x".to_vec())
        .send()
        .unwrap();
    assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN");
    // And the session itself is untouched.
    let resp = reg.get(&loc).send().unwrap();
    assert_eq!(resp.status().as_u16(), 204);
}

#[test]
fn manifest_referencing_missing_blobs_is_manifest_blob_unknown() {
    let (_s, reg) = start();
    let repo = unique_name("bad/refs");
    let config = Blob::config(OCI_CONFIG);
    let layer = Blob::random(100, OCI_LAYER);
    let missing = Blob::random(100, OCI_LAYER);
    reg.push(&repo, &config);
    reg.push(&repo, &layer);

    // A missing layer.
    let m = to_bytes(&oci_manifest(&config, &[&layer, &missing]));
    let resp = reg.put_manifest(&repo, "t1", OCI_MANIFEST, &m);
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN");

    // A missing config.
    let absent_config = Blob::config(OCI_CONFIG);
    let m = to_bytes(&oci_manifest(&absent_config, &[&layer]));
    let resp = reg.put_manifest(&repo, "t2", OCI_MANIFEST, &m);
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN");

    // A blob that exists, but only in another repository.
    let other = unique_name("bad/other");
    let elsewhere = Blob::random(100, OCI_LAYER);
    reg.push(&other, &elsewhere);
    let m = to_bytes(&oci_manifest(&config, &[&elsewhere]));
    let resp = reg.put_manifest(&repo, "t3", OCI_MANIFEST, &m);
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN");

    // A Docker manifest with a missing layer.
    let dconfig = Blob::config(DOCKER_CONFIG);
    reg.push(&repo, &dconfig);
    let m = to_bytes(&docker_manifest(&dconfig, &[&missing]));
    let resp = reg.put_manifest(&repo, "t4", DOCKER_MANIFEST, &m);
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN");

    // An index whose child manifest was never pushed.
    let child = Blob::new(to_bytes(&oci_manifest(&config, &[&layer])), OCI_MANIFEST);
    let idx = to_bytes(&index_of(OCI_INDEX, &[&child]));
    let resp = reg.put_manifest(&repo, "t5", OCI_INDEX, &idx);
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN");

    // None of the tags exist afterwards.
    for t in ["t1", "t2", "t3", "t4", "t5"] {
        let resp = reg
            .head(&format!("/v2/{repo}/manifests/{t}"))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{t}");
    }
}

#[test]
fn invalid_manifests_are_manifest_invalid() {
    let (_s, reg) = start();
    let repo = unique_name("bad/manifests");
    let config = Blob::config(OCI_CONFIG);
    let layer = Blob::random(100, OCI_LAYER);
    reg.push(&repo, &config);
    reg.push(&repo, &layer);
    let good = oci_manifest(&config, &[&layer]);

    let mut cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("not json", OCI_MANIFEST, b"blablabla".to_vec()),
        ("empty body", OCI_MANIFEST, Vec::new()),
        (
            "truncated json",
            OCI_MANIFEST,
            to_bytes(&good)[..40].to_vec(),
        ),
        ("json array", OCI_MANIFEST, b"[1,2,3]".to_vec()),
        ("empty object", OCI_MANIFEST, b"{}".to_vec()),
    ];
    let mut v = good.clone();
    v["schemaVersion"] = json!(3);
    cases.push(("schemaVersion 3", OCI_MANIFEST, to_bytes(&v)));
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("config");
    cases.push(("no config", OCI_MANIFEST, to_bytes(&v)));
    let mut v = good.clone();
    v["layers"] = json!("not a list");
    cases.push(("layers not a list", OCI_MANIFEST, to_bytes(&v)));
    let mut v = good.clone();
    v["layers"][0]["digest"] = json!("sha256:nothex");
    cases.push(("bad descriptor digest", OCI_MANIFEST, to_bytes(&v)));
    let mut v = good.clone();
    v["layers"][0]["size"] = json!(-1);
    cases.push(("negative size", OCI_MANIFEST, to_bytes(&v)));
    // The body says it is an index, the Content-Type says manifest.
    let mut v = good.clone();
    v["mediaType"] = json!(OCI_INDEX);
    cases.push(("mediaType mismatch", OCI_MANIFEST, to_bytes(&v)));
    // An index without `manifests`.
    cases.push((
        "index without manifests",
        OCI_INDEX,
        to_bytes(&json!({ "schemaVersion": 2, "mediaType": OCI_INDEX })),
    ));

    for (what, media_type, body) in cases {
        // Names the case in the captured output when an assertion below fails.
        eprintln!("case: {what}");
        let resp = reg.put_manifest(&repo, "latest", media_type, &body);
        let codes: &[&str] = if what == "bad descriptor digest" {
            &["MANIFEST_INVALID", "DIGEST_INVALID"]
        } else {
            &["MANIFEST_INVALID"]
        };
        assert_error_in(resp, &[400], codes);
    }
    let resp = reg
        .head(&format!("/v2/{repo}/manifests/latest"))
        .send()
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        404,
        "no invalid manifest was stored"
    );
}

#[test]
fn schema1_manifests_are_refused() {
    let (_s, reg) = start();
    let repo = unique_name("bad/schema1");
    let layer = Blob::random(100, DOCKER_LAYER);
    reg.push(&repo, &layer);
    let schema1 = json!({
        "schemaVersion": 1,
        "name": repo,
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [ { "blobSum": layer.digest } ],
        "history": [ { "v1Compatibility": "{\"id\":\"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5\"}" } ],
        "signatures": [ {
            "header": { "jwk": { "crv": "P-256", "kty": "EC", "x": "x", "y": "y" }, "alg": "ES256" },
            "signature": "c2lnbmF0dXJl",
            "protected": "cHJvdGVjdGVk"
        } ]
    });
    let body = to_bytes(&schema1);
    for media_type in [DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1, "application/json"] {
        let resp = reg.put_manifest(&repo, "latest", media_type, &body);
        assert_error_in(resp, &[400, 415], &["MANIFEST_INVALID", "UNSUPPORTED"]);
    }
    let resp = reg
        .head(&format!("/v2/{repo}/manifests/latest"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

/// An OCI manifest padded by an annotation to exactly `size` bytes.
fn manifest_of_size(config: &Blob, size: usize) -> Vec<u8> {
    let mut v = oci_manifest(config, &[]);
    v["annotations"] = json!({ "pad": "" });
    let base = serde_json::to_vec(&v).unwrap().len();
    assert!(size > base);
    v["annotations"]["pad"] = json!("p".repeat(size - base));
    let bytes = serde_json::to_vec(&v).unwrap();
    assert_eq!(bytes.len(), size);
    bytes
}

#[test]
fn manifests_over_4_mib_are_refused() {
    let (_s, reg) = start();
    let repo = unique_name("bad/size");
    let config = Blob::config(OCI_CONFIG);
    reg.push(&repo, &config);

    let over = manifest_of_size(&config, 4 * 1024 * 1024 + 1);
    let resp = reg.put_manifest(&repo, "big", OCI_MANIFEST, &over);
    assert_error_in(resp, &[413, 400], &["MANIFEST_INVALID", "SIZE_INVALID"]);
    let resp = reg
        .head(&format!("/v2/{repo}/manifests/big"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);

    // Much larger: the server refuses without reading it all (or after; either way no store).
    let huge = manifest_of_size(&config, 12 * 1024 * 1024);
    let resp = reg.put_manifest(&repo, "huge", OCI_MANIFEST, &huge);
    assert_error_in(resp, &[413, 400], &["MANIFEST_INVALID", "SIZE_INVALID"]);

    // Exactly 4 MiB is within the limit the spec asks registries to support.
    let at = manifest_of_size(&config, 4 * 1024 * 1024);
    let digest = reg.push_manifest(&repo, "atlimit", OCI_MANIFEST, &at);
    let resp = reg
        .get(&format!("/v2/{repo}/manifests/{digest}"))
        .header("Accept", OCI_MANIFEST)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().unwrap().len(), at.len());
}

#[test]
fn unknown_manifests_and_blobs_are_404() {
    let (_s, reg) = start();
    let repo = unique_name("bad/unknown");
    reg.push_image(&repo, "latest", 1, 10);
    let d = sha256_digest(b"never pushed");

    let resp = reg
        .get(&format!("/v2/{repo}/manifests/nope"))
        .send()
        .unwrap();
    assert_error(resp, 404, "MANIFEST_UNKNOWN");
    let resp = reg
        .get(&format!("/v2/{repo}/manifests/{d}"))
        .send()
        .unwrap();
    assert_error(resp, 404, "MANIFEST_UNKNOWN");
    let resp = reg
        .delete(&format!("/v2/{repo}/manifests/{d}"))
        .send()
        .unwrap();
    assert_error(resp, 404, "MANIFEST_UNKNOWN");
    let resp = reg.get(&format!("/v2/{repo}/blobs/{d}")).send().unwrap();
    assert_error(resp, 404, "BLOB_UNKNOWN");
    let resp = reg.head(&format!("/v2/{repo}/blobs/{d}")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let resp = reg
        .head(&format!("/v2/{repo}/manifests/nope"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

#[test]
fn unsatisfiable_blob_ranges_are_416() {
    let (_s, reg) = start();
    let repo = unique_name("bad/ranges");
    let blob = Blob::random(1000, OCI_LAYER);
    reg.push(&repo, &blob);
    let url = format!("/v2/{repo}/blobs/{}", blob.digest);
    for range in ["bytes=1000-", "bytes=1000-1999", "bytes=5000-6000"] {
        let resp = reg.get(&url).header("Range", range).send().unwrap();
        assert_error(resp, 416, "RANGE_INVALID");
    }
    // A range on an unknown blob is still a 404.
    let resp = reg
        .get(&format!("/v2/{repo}/blobs/{}", sha256_digest(b"nope")))
        .header("Range", "bytes=0-1")
        .send()
        .unwrap();
    assert_error(resp, 404, "BLOB_UNKNOWN");
}
