//! The "Content Management" workflow of the OCI distribution-spec conformance suite, written from
//! spec.md (v1.1): deleting tags, manifests by digest and blobs, and the 404s that follow.

use portcullis_testkit::fixtures::*;
use portcullis_testkit::TestServer;

fn start() -> (TestServer, Registry) {
    let server = TestServer::start();
    let reg = Registry::new(&server);
    (server, reg)
}

#[test]
fn delete_a_tag() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/management");
    let image = reg.push_image(&repo, "tagtodelete", 1, 300);
    reg.push_manifest(&repo, "keep", OCI_MANIFEST, &image.manifest.bytes);
    let before = reg.tags(&repo);
    assert_eq!(before, vec!["keep".to_owned(), "tagtodelete".to_owned()]);

    let resp = reg
        .delete(&format!("/v2/{repo}/manifests/tagtodelete"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);

    // The tag is gone; the manifest and the other tag are not.
    let resp = reg
        .get(&format!("/v2/{repo}/manifests/tagtodelete"))
        .send()
        .unwrap();
    assert_error(resp, 404, "MANIFEST_UNKNOWN");
    assert_eq!(reg.tags(&repo), vec!["keep".to_owned()]);
    for reference in ["keep", image.manifest.digest.as_str()] {
        let resp = reg
            .get(&format!("/v2/{repo}/manifests/{reference}"))
            .header("Accept", OCI_MANIFEST)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{reference}");
        assert_eq!(&resp.bytes().unwrap()[..], &image.manifest.bytes[..]);
    }

    // Deleting it again: 404.
    let resp = reg
        .delete(&format!("/v2/{repo}/manifests/tagtodelete"))
        .send()
        .unwrap();
    assert_error(resp, 404, "MANIFEST_UNKNOWN");
}

#[test]
fn delete_a_manifest_by_digest() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/management");
    let image = reg.push_image(&repo, "one", 1, 300);
    reg.push_manifest(&repo, "two", OCI_MANIFEST, &image.manifest.bytes);
    let other = reg.push_image(&repo, "other", 1, 300);
    let digest = &image.manifest.digest;

    let resp = reg
        .delete(&format!("/v2/{repo}/manifests/{digest}"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);

    // GET and HEAD by digest and by every tag that pointed at it: 404.
    for reference in [digest.as_str(), "one", "two"] {
        let resp = reg
            .get(&format!("/v2/{repo}/manifests/{reference}"))
            .send()
            .unwrap();
        assert_error(resp, 404, "MANIFEST_UNKNOWN");
        let resp = reg
            .head(&format!("/v2/{repo}/manifests/{reference}"))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "HEAD {reference}");
    }
    // The tags list reflects the deletion; the other image is untouched.
    assert_eq!(reg.tags(&repo), vec!["other".to_owned()]);
    let resp = reg
        .get(&format!("/v2/{repo}/manifests/other"))
        .header("Accept", OCI_MANIFEST)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(&resp.bytes().unwrap()[..], &other.manifest.bytes[..]);

    // Deleting it again: 404 MANIFEST_UNKNOWN.
    let resp = reg
        .delete(&format!("/v2/{repo}/manifests/{digest}"))
        .send()
        .unwrap();
    assert_error(resp, 404, "MANIFEST_UNKNOWN");
}

#[test]
fn delete_a_manifest_of_an_unknown_repository_is_404() {
    let (_s, reg) = start();
    let resp = reg
        .delete(&format!(
            "/v2/no/such/repo/manifests/{}",
            sha256_digest(b"x")
        ))
        .send()
        .unwrap();
    assert_error_in(resp, &[404], &["NAME_UNKNOWN", "MANIFEST_UNKNOWN"]);
}

#[test]
fn delete_blobs() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/management");
    let image = reg.push_image(&repo, "latest", 1, 300);
    // The suite deletes the manifest first, then its config and layer.
    let resp = reg
        .delete(&format!("/v2/{repo}/manifests/{}", image.manifest.digest))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);

    for blob in [&image.config, &image.layers[0]] {
        let url = format!("/v2/{repo}/blobs/{}", blob.digest);
        let resp = reg.delete(&url).send().unwrap();
        assert_eq!(resp.status().as_u16(), 202, "DELETE {url}");

        let resp = reg.get(&url).send().unwrap();
        assert_error(resp, 404, "BLOB_UNKNOWN");
        let resp = reg.head(&url).send().unwrap();
        assert_eq!(resp.status().as_u16(), 404);

        let resp = reg.delete(&url).send().unwrap();
        assert_error(resp, 404, "BLOB_UNKNOWN");
    }

    // A blob never pushed: 404 BLOB_UNKNOWN.
    let resp = reg
        .delete(&format!("/v2/{repo}/blobs/{}", sha256_digest(b"never")))
        .send()
        .unwrap();
    assert_error(resp, 404, "BLOB_UNKNOWN");
}

#[test]
fn deleting_a_blob_in_one_repository_keeps_it_in_another() {
    let (_s, reg) = start();
    let a = unique_name("conformance/management-a");
    let b = unique_name("conformance/management-b");
    let blob = Blob::random(777, OCI_LAYER);
    reg.push(&a, &blob);
    reg.push(&b, &blob);

    let resp = reg
        .delete(&format!("/v2/{a}/blobs/{}", blob.digest))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let (status, _) = reg.get_blob(&a, &blob.digest);
    assert_eq!(status, 404);
    let (status, body) = reg.get_blob(&b, &blob.digest);
    assert_eq!(status, 200);
    assert_eq!(body, blob.bytes);

    // And it can be pushed again after deletion.
    reg.push(&a, &blob);
    let (status, body) = reg.get_blob(&a, &blob.digest);
    assert_eq!(status, 200);
    assert_eq!(body, blob.bytes);
}

#[test]
fn a_manifest_can_be_pushed_again_after_deletion() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/management");
    let image = reg.push_image(&repo, "latest", 1, 300);
    let resp = reg
        .delete(&format!("/v2/{repo}/manifests/{}", image.manifest.digest))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    reg.push_manifest(&repo, "latest", OCI_MANIFEST, &image.manifest.bytes);
    let resp = reg
        .get(&format!("/v2/{repo}/manifests/latest"))
        .header("Accept", OCI_MANIFEST)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(&resp.bytes().unwrap()[..], &image.manifest.bytes[..]);
}

/// Deleting without credentials is 401 with a challenge, and the content stays.
#[test]
fn deletes_without_credentials_are_401_and_delete_nothing() {
    let (server, reg) = start();
    let anonymous = Registry::anonymous(&server);
    let repo = unique_name("conformance/manage-anon");
    let image = reg.push_image(&repo, "v1", 1, 1024);
    let paths = [
        format!("/v2/{repo}/manifests/v1"),
        format!("/v2/{repo}/manifests/{}", image.manifest.digest),
        format!("/v2/{repo}/blobs/{}", image.layers[0].digest),
    ];
    for path in &paths {
        let resp = anonymous.delete(path).send().unwrap();
        assert!(
            header(&resp, "WWW-Authenticate").is_some(),
            "DELETE {path}: no challenge"
        );
        assert_error(resp, 401, "UNAUTHORIZED");
    }
    assert_eq!(reg.tags(&repo), vec!["v1".to_owned()]);
    let (status, body) = reg.get_blob(&repo, &image.layers[0].digest);
    assert_eq!(status, 200);
    assert_eq!(body, image.layers[0].bytes);
}
