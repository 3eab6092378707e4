//! The "Content Discovery" workflow of the OCI distribution-spec conformance suite, written from
//! spec.md (v1.1): listing tags with `n`/`last` pagination and `Link` headers, the catalog, and
//! the referrers API with its `artifactType` filter and the `OCI-Subject` header.

use std::collections::BTreeMap;

use portcullis_testkit::fixtures::*;
use portcullis_testkit::TestServer;
use serde_json::Value;

fn start() -> (TestServer, Registry) {
    let server = TestServer::start();
    let reg = Registry::new(&server);
    (server, reg)
}

/// Tags chosen so that ASCII order differs from case-insensitive and numeric order.
const TAGS: &[&str] = &[
    "latest", "v1", "v10", "v2", "V3", "a_b", "a-b", "a.b", "0", "9z", "Z", "zz",
];

fn push_tags(reg: &Registry, repo: &str) -> Vec<String> {
    let image = reg.push_image(repo, TAGS[0], 1, 100);
    for t in &TAGS[1..] {
        reg.push_manifest(repo, t, OCI_MANIFEST, &image.manifest.bytes);
    }
    let mut all: Vec<String> = TAGS.iter().map(|t| t.to_string()).collect();
    all.sort();
    all
}

fn tag_page(reg: &Registry, url: &str) -> (Vec<String>, Option<String>, Value) {
    let resp = reg.get(url).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200, "GET {url}");
    let link = header(&resp, "Link");
    let v: Value = resp.json().unwrap();
    let tags = v["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    (tags, link, v)
}

/// The target of a `Link: <url>; rel="next"` header.
#[track_caller]
fn next_link(link: &str) -> String {
    let (target, params) = link
        .split_once(';')
        .unwrap_or_else(|| panic!("Link without parameters: {link}"));
    let target = target.trim();
    assert!(
        target.starts_with('<') && target.ends_with('>'),
        "Link target not in <>: {link}"
    );
    let params = params.replace(' ', "");
    assert!(
        params.contains("rel=\"next\"") || params.contains("rel=next"),
        "Link without rel=\"next\": {link}"
    );
    target[1..target.len() - 1].to_owned()
}

#[test]
fn list_tags() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/discovery");
    let all = push_tags(&reg, &repo);

    let (tags, link, v) = tag_page(&reg, &format!("/v2/{repo}/tags/list"));
    assert_eq!(v["name"], repo.as_str());
    assert_eq!(tags, all, "all tags, in ASCII order");
    assert!(link.is_none(), "no Link when everything fits: {link:?}");
}

#[test]
fn list_tags_with_n_and_last() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/discovery");
    let all = push_tags(&reg, &repo);

    // n limits the count; with more tags left the page is full or carries a Link.
    let n = 4;
    let (tags, link, _) = tag_page(&reg, &format!("/v2/{repo}/tags/list?n={n}"));
    assert_eq!(tags, all[..n], "the first {n} tags");
    let link = link.expect("Link header when more tags remain");
    let next = next_link(&link);
    assert!(
        next.starts_with(&format!("/v2/{repo}/tags/list?")),
        "{next}"
    );

    // `last` starts after the named tag, not including it.
    let (tags, _, _) = tag_page(
        &reg,
        &format!(
            "/v2/{repo}/tags/list?n={n}&last={}",
            encode_query(&all[n - 1])
        ),
    );
    assert_eq!(tags, all[n..2 * n]);
    assert!(!tags.contains(&all[n - 1]));

    // Following Link headers walks every tag exactly once, in order.
    let mut collected = Vec::new();
    let mut url = format!("/v2/{repo}/tags/list?n=5");
    let mut pages = 0;
    loop {
        let (tags, link, _) = tag_page(&reg, &url);
        assert!(tags.len() <= 5);
        collected.extend(tags);
        pages += 1;
        assert!(pages <= all.len() + 1, "pagination does not end");
        match link {
            Some(l) => url = next_link(&l),
            None => break,
        }
    }
    assert_eq!(collected, all);

    // n=0: an empty list and no Link.
    let (tags, link, _) = tag_page(&reg, &format!("/v2/{repo}/tags/list?n=0"));
    assert!(tags.is_empty(), "{tags:?}");
    assert!(link.is_none(), "no Link for n=0: {link:?}");

    // `last` alone: everything after it.
    let (tags, _, _) = tag_page(
        &reg,
        &format!("/v2/{repo}/tags/list?last={}", encode_query(&all[2])),
    );
    assert_eq!(tags, all[3..]);

    // `last` that is not a tag of the repository still orders lexically.
    let (tags, _, _) = tag_page(&reg, &format!("/v2/{repo}/tags/list?last=v0"));
    let expected: Vec<String> = all.iter().filter(|t| t.as_str() > "v0").cloned().collect();
    assert_eq!(tags, expected);

    // `last` at the end: an empty list, no Link.
    let (tags, link, _) = tag_page(
        &reg,
        &format!("/v2/{repo}/tags/list?n=3&last={}", all.last().unwrap()),
    );
    assert!(tags.is_empty());
    assert!(link.is_none());

    // n larger than the count: everything, no Link.
    let (tags, link, _) = tag_page(&reg, &format!("/v2/{repo}/tags/list?n=1000"));
    assert_eq!(tags, all);
    assert!(link.is_none());
}

#[test]
fn list_tags_of_an_unknown_repository_is_404() {
    let (_s, reg) = start();
    let resp = reg.get("/v2/no/such/repo/tags/list").send().unwrap();
    assert_error(resp, 404, "NAME_UNKNOWN");
}

#[test]
fn catalog_with_pagination() {
    let (_s, reg) = start();
    let mut repos: Vec<String> = ["alpha", "beta/one", "beta/two", "gamma", "delta-x", "e.f"]
        .iter()
        .map(|r| format!("catalog/{r}"))
        .collect();
    for r in &repos {
        reg.push_image(r, "latest", 1, 10);
    }
    repos.sort();

    let resp = reg.get("/v2/_catalog").send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().unwrap();
    let listed: Vec<String> = v["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, repos);

    let mut collected = Vec::new();
    let mut url = "/v2/_catalog?n=4".to_owned();
    for _ in 0..10 {
        let resp = reg.get(&url).send().unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let link = header(&resp, "Link");
        let v: Value = resp.json().unwrap();
        let page = v["repositories"].as_array().unwrap();
        assert!(page.len() <= 4);
        collected.extend(page.iter().map(|r| r.as_str().unwrap().to_owned()));
        match link {
            Some(l) => url = next_link(&l),
            None => break,
        }
    }
    assert_eq!(collected, repos);
}

/// The referrers setup of the suite: a subject image, two artifacts of type A and two of type B
/// (one typed by config media type, one by `artifactType`), an index artifact, and one artifact
/// whose subject was never pushed.
struct Referrers {
    _server: TestServer,
    reg: Registry,
    repo: String,
    subject: Blob,
    absent_subject: Blob,
    /// digest -> annotation value
    annotations: BTreeMap<String, String>,
    type_a: Vec<String>,
    b_config: Blob,
    c_layer: Blob,
}

const TYPE_A: &str = "application/vnd.nhl.peanut.butter.bagel";
const TYPE_B: &str = "application/vnd.nba.strawberry.jam.croissant";
const TYPE_INDEX: &str = "application/vnd.food.stand";
const ANNOTATION: &str = "org.opencontainers.conformance.test";

fn referrers_setup() -> Referrers {
    let (server, reg) = start();
    let repo = unique_name("conformance/referrers");

    let empty = Blob::empty_json();
    assert_eq!(empty.digest, EMPTY_JSON_DIGEST);
    reg.push(&repo, &empty);
    let blob_a = Blob::new(b"NHL Peanut Butter on my NHL bagel".to_vec(), TYPE_A);
    let blob_b = Blob::new(b"NBA Strawberry Jam on my NBA croissant".to_vec(), TYPE_B);
    reg.push(&repo, &blob_a);
    reg.push(&repo, &blob_b);

    let subject = reg.push_image(&repo, "tagged", 1, 200).manifest;
    let absent_subject = Blob::new(
        to_bytes(&oci_manifest(&Blob::config(OCI_CONFIG), &[])),
        OCI_MANIFEST,
    );

    let mut annotations = BTreeMap::new();
    let mut push_ref = |v: Value, media_type: &str, subject: &Blob| -> Blob {
        let m = Blob::new(to_bytes(&v), media_type);
        let resp = reg.put_manifest(&repo, &m.digest, media_type, &m.bytes);
        assert_eq!(resp.status().as_u16(), 201, "PUT referrer");
        assert_eq!(
            header(&resp, "OCI-Subject").as_deref(),
            Some(&*subject.digest),
            "OCI-Subject on a manifest PUT with a subject"
        );
        if let Some(a) = v["annotations"][ANNOTATION].as_str() {
            annotations.insert(m.digest.clone(), a.to_owned());
        }
        m
    };

    // Typed by config media type.
    let config_artifact = |blob: &Blob, note: &str| {
        let mut v = oci_manifest(blob, &[&Blob::empty_json()]);
        v["subject"] = subject.descriptor();
        v["annotations"] = serde_json::json!({ ANNOTATION: note });
        v
    };
    // Typed by artifactType, with the empty config.
    let layer_artifact = |t: &str, blob: &Blob, subject: &Blob, note: Option<&str>| {
        let mut v = oci_manifest(&Blob::empty_json(), &[blob]);
        v["artifactType"] = t.into();
        v["subject"] = subject.descriptor();
        if let Some(n) = note {
            v["annotations"] = serde_json::json!({ ANNOTATION: n });
        }
        v
    };

    let a_config = push_ref(
        config_artifact(&blob_a, "test config a"),
        OCI_MANIFEST,
        &subject,
    );
    let a_layer = push_ref(
        layer_artifact(TYPE_A, &blob_a, &subject, Some("test layer a")),
        OCI_MANIFEST,
        &subject,
    );
    let mut index = index_of(OCI_INDEX, &[&a_config, &a_layer]);
    index["artifactType"] = TYPE_INDEX.into();
    index["subject"] = subject.descriptor();
    index["annotations"] = serde_json::json!({ ANNOTATION: "test index" });
    push_ref(index, OCI_INDEX, &subject);
    let b_config = push_ref(
        config_artifact(&blob_b, "test config b"),
        OCI_MANIFEST,
        &subject,
    );
    push_ref(
        layer_artifact(TYPE_B, &blob_b, &subject, Some("test layer b")),
        OCI_MANIFEST,
        &subject,
    );
    let c_layer = push_ref(
        layer_artifact(TYPE_B, &blob_b, &absent_subject, None),
        OCI_MANIFEST,
        &absent_subject,
    );

    Referrers {
        _server: server,
        reg,
        repo,
        subject,
        absent_subject,
        annotations,
        type_a: vec![a_config.digest, a_layer.digest],
        b_config,
        c_layer,
    }
}

fn referrers(reg: &Registry, url: &str) -> (Vec<Value>, Option<String>) {
    let resp = reg.get(url).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200, "GET {url}");
    assert_eq!(header(&resp, "Content-Type").as_deref(), Some(OCI_INDEX));
    let filters = header(&resp, "OCI-Filters-Applied");
    let v: Value = resp.json().unwrap();
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["mediaType"], OCI_INDEX);
    (
        v["manifests"].as_array().expect("manifests").clone(),
        filters,
    )
}

#[test]
fn referrers_of_an_unknown_digest_is_an_empty_index() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/referrers");
    reg.push_image(&repo, "latest", 1, 10);
    let (list, _) = referrers(
        &reg,
        &format!("/v2/{repo}/referrers/{}", sha256_digest(b"hello world")),
    );
    assert!(list.is_empty());
}

#[test]
fn referrers_list_all() {
    let r = referrers_setup();
    let (list, _) = referrers(
        &r.reg,
        &format!("/v2/{}/referrers/{}", r.repo, r.subject.digest),
    );
    assert_eq!(list.len(), 5, "{list:#?}");
    let digests: Vec<&str> = list.iter().map(|d| d["digest"].as_str().unwrap()).collect();
    let mut unique = digests.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "no duplicates");
    for d in &list {
        let digest = d["digest"].as_str().unwrap();
        let notes = d["annotations"].as_object().expect("annotations copied");
        assert_eq!(notes.len(), 1);
        assert_eq!(
            notes[ANNOTATION].as_str(),
            r.annotations.get(digest).map(String::as_str),
            "annotation of {digest}"
        );
        let media_type = d["mediaType"].as_str().unwrap();
        assert!(media_type == OCI_MANIFEST || media_type == OCI_INDEX);
        assert!(d["size"].as_u64().unwrap() > 0);
        // artifactType: the manifest's own, else its config media type; an index's own.
        let at = d["artifactType"].as_str().expect("artifactType");
        assert!([TYPE_A, TYPE_B, TYPE_INDEX].contains(&at), "{at}");
        if media_type == OCI_INDEX {
            assert_eq!(at, TYPE_INDEX);
        }
    }
}

#[test]
fn referrers_filtered_by_artifact_type() {
    let r = referrers_setup();
    let url = with_query(
        &format!("/v2/{}/referrers/{}", r.repo, r.subject.digest),
        "artifactType",
        TYPE_A,
    );
    let (list, filters) = referrers(&r.reg, &url);
    // The spec makes filtering a SHOULD; the contract implements it, so the header must say so.
    assert_eq!(filters.as_deref(), Some("artifactType"));
    assert_eq!(list.len(), 2, "{list:#?}");
    let mut got: Vec<String> = list
        .iter()
        .map(|d| d["digest"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    let mut want = r.type_a.clone();
    want.sort();
    assert_eq!(got, want);
    for d in &list {
        assert_eq!(d["artifactType"], TYPE_A);
        assert_eq!(
            d["annotations"][ANNOTATION].as_str(),
            r.annotations
                .get(d["digest"].as_str().unwrap())
                .map(String::as_str)
        );
    }

    // A type nobody uses: an empty list, still filtered.
    let url = with_query(
        &format!("/v2/{}/referrers/{}", r.repo, r.subject.digest),
        "artifactType",
        "application/vnd.none",
    );
    let (list, filters) = referrers(&r.reg, &url);
    assert!(list.is_empty());
    assert_eq!(filters.as_deref(), Some("artifactType"));
}

#[test]
fn referrers_of_a_subject_never_pushed() {
    let r = referrers_setup();
    let (list, _) = referrers(
        &r.reg,
        &format!("/v2/{}/referrers/{}", r.repo, r.absent_subject.digest),
    );
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"].as_str(), Some(&*r.c_layer.digest));
    assert_eq!(list[0]["artifactType"], TYPE_B);
    assert_eq!(list[0]["size"].as_u64(), Some(r.c_layer.size() as u64));
}

#[test]
fn referrers_with_an_invalid_digest_is_400() {
    let r = referrers_setup();
    let resp = r
        .reg
        .get(&format!("/v2/{}/referrers/sha256:nothex", r.repo))
        .send()
        .unwrap();
    assert_error(resp, 400, "DIGEST_INVALID");
}

#[test]
fn deleting_a_referrer_removes_it_from_the_list() {
    let r = referrers_setup();
    // Not a child of the index artifact, so nothing else depends on it.
    let victim = &r.b_config.digest;
    let resp = r
        .reg
        .delete(&format!("/v2/{}/manifests/{victim}", r.repo))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let (list, _) = referrers(
        &r.reg,
        &format!("/v2/{}/referrers/{}", r.repo, r.subject.digest),
    );
    assert_eq!(list.len(), 4);
    assert!(list.iter().all(|d| d["digest"].as_str() != Some(victim)));
}

#[test]
fn referrer_descriptors_follow_the_artifact_type_rules() {
    let (_s, reg) = start();
    let repo = unique_name("conformance/referrers");
    let subject = reg.push_image(&repo, "latest", 1, 100).manifest;
    let empty = Blob::empty_json();
    reg.push(&repo, &empty);

    // An index referrer without artifactType: the descriptor omits it.
    let child = reg.push_image(&repo, "child", 1, 10).manifest;
    let mut index = index_of(OCI_INDEX, &[&child]);
    index["subject"] = subject.descriptor();
    let index = Blob::new(to_bytes(&index), OCI_INDEX);
    reg.push_manifest(&repo, &index.digest, OCI_INDEX, &index.bytes);

    // A manifest referrer with neither artifactType nor annotations: its config media type.
    let sbom_config = Blob::new(
        b"{\"sbom\":true}".to_vec(),
        "application/vnd.example.sbom.v1",
    );
    reg.push(&repo, &sbom_config);
    let mut m = oci_manifest(&sbom_config, &[&empty]);
    m["subject"] = subject.descriptor();
    let m = Blob::new(to_bytes(&m), OCI_MANIFEST);
    reg.push_manifest(&repo, &m.digest, OCI_MANIFEST, &m.bytes);

    let (list, _) = referrers(&reg, &format!("/v2/{repo}/referrers/{}", subject.digest));
    assert_eq!(list.len(), 2, "{list:#?}");
    let find = |d: &str| {
        list.iter()
            .find(|x| x["digest"] == d)
            .expect("listed")
            .clone()
    };
    let di = find(&index.digest);
    assert_eq!(di["mediaType"], OCI_INDEX);
    assert_eq!(di["size"].as_u64(), Some(index.size() as u64));
    assert!(
        di.get("artifactType").is_none_or(Value::is_null),
        "an index without artifactType has none in its descriptor: {di}"
    );
    let dm = find(&m.digest);
    assert_eq!(dm["artifactType"], "application/vnd.example.sbom.v1");
    assert_eq!(dm["size"].as_u64(), Some(m.size() as u64));
}

/// Without credentials the listings reveal nothing: tag lists are 401 with a challenge, and the
/// catalog either asks for credentials too or lists no repository (it shows only what the caller
/// may describe).
#[test]
fn listings_without_credentials_reveal_nothing() {
    let (server, reg) = start();
    let anonymous = Registry::anonymous(&server);
    let repo = unique_name("discovery/anon");
    push_tags(&reg, &repo);

    for path in [
        format!("/v2/{repo}/tags/list"),
        format!("/v2/{repo}/tags/list?n=2"),
        "/v2/no-such-repo/tags/list".to_owned(),
    ] {
        let resp = anonymous.get(&path).send().unwrap();
        assert!(
            header(&resp, "WWW-Authenticate").is_some(),
            "{path}: no challenge"
        );
        assert_error(resp, 401, "UNAUTHORIZED");
    }

    for path in ["/v2/_catalog", "/v2/_catalog?n=1"] {
        let resp = anonymous.get(path).send().unwrap();
        match resp.status().as_u16() {
            401 => {
                assert!(header(&resp, "WWW-Authenticate").is_some(), "{path}");
                assert_error(resp, 401, "UNAUTHORIZED");
            }
            200 => {
                assert!(header(&resp, "Link").is_none(), "{path}: a next page");
                let v: Value = resp.json().unwrap();
                let listed = v["repositories"].as_array().expect("repositories");
                assert!(listed.is_empty(), "{path} lists {listed:?} to anyone");
            }
            other => panic!("{path}: status {other}"),
        }
    }
}
