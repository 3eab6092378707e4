//! The contract every metadata store keeps ([`MetaStore`] and [`IamStore`] together), as
//! cases a backend's tests run through [`meta_store_suite!`](crate::meta_store_suite). Each
//! case gets a fresh, empty database and an [`Open`] that opens handles to it: calling it
//! twice gives two independent handles (two pools, as two nodes have), which the concurrency
//! cases race against each other.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use portcullis_oci::Digest;

use crate::iam::{GroupRecord, ManagedPolicyRecord, PrincipalKind};
use crate::{
    AccessKeyRecord, BeginAppend, CompleteUpload, CreateUpload, DeleteRepository, DocumentKind,
    EndedUpload, IamStore, LifecyclePreviewRecord, ManifestRecord, ManifestRef, MetaStore,
    NewRepository, PutManifestError, TagRepository, TagWrite, UploadLimits, UploadProgress,
    UserRecord,
};

pub use super::meta_gc::{
    a_claim_lost_to_a_collection_links_nothing, a_collection_and_a_manifest_put_cannot_both_win,
    blobs_are_referenced_by_manifests_and_unreferenced_when_they_go,
    blobs_found_in_the_store_are_adopted_unreferenced, referrers_go_with_their_subject,
};

/// Opens another handle to the case's database.
pub type Open<S> = Arc<dyn Fn() -> BoxFuture<'static, Arc<S>> + Send + Sync>;

const ROOMY: UploadLimits = UploadLimits {
    per_principal: 100,
    total: 100,
};

fn manifest(content: &[u8], subject: Option<Digest>) -> ManifestRecord {
    ManifestRecord {
        digest: Digest::sha256_of(content),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        artifact_type: Some("application/x-test".into()),
        subject,
        annotations: Some("{\"a\":\"b\"}".into()),
        content: Bytes::copy_from_slice(content),
        created_at: 1,
    }
}

fn tag(name: &str) -> Option<TagWrite<'_>> {
    Some(TagWrite {
        name,
        immutable: false,
    })
}

fn fixed(name: &str) -> Option<TagWrite<'_>> {
    Some(TagWrite {
        name,
        immutable: true,
    })
}

async fn with_repos<S: MetaStore>(open: &Open<S>, repos: &[&str]) -> Arc<S> {
    let store = open().await;
    for r in repos {
        assert!(store
            .create_repository(r, &NewRepository::default())
            .await
            .expect("create repository"));
    }
    store
}

fn user(name: &str) -> UserRecord {
    UserRecord {
        name: name.into(),
        user_id: format!("AIDA{}", name.to_uppercase()),
        path: "/".into(),
        created_at: 1,
    }
}

pub async fn repositories_are_created_once_and_listed_in_byte_order<S: MetaStore + IamStore>(
    open: Open<S>,
) {
    let store = open().await;
    assert!(store.check().await.is_ok());
    assert_eq!(store.repository_count().await.expect("count"), 0);
    let new = NewRepository {
        tags: vec![("team".into(), "a".into()), ("env".into(), "prod".into())],
        settings: Some("{\"imageTagMutability\":\"MUTABLE\"}".into()),
        policy: Some("{\"Version\":\"2012-10-17\"}".into()),
        lifecycle_policy: None,
    };
    // Byte order puts upper case first and `-` before letters, whatever the server's locale.
    for name in ["b", "a-b", "ab", "B", "a/c"] {
        assert!(store.create_repository(name, &new).await.expect("create"));
    }
    assert!(!store.create_repository("ab", &new).await.expect("again"));
    assert_eq!(store.repository_count().await.expect("count"), 5);
    assert_eq!(
        store.list_repositories(None, 10).await.expect("list"),
        ["B", "a-b", "a/c", "ab", "b"]
    );
    assert_eq!(
        store.list_repositories(Some("a-b"), 2).await.expect("page"),
        ["a/c", "ab"]
    );
    let record = store.repository("ab").await.expect("get").expect("exists");
    assert_eq!(record.name, "ab");
    assert_eq!(
        record.tags,
        [
            ("env".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "a".to_owned())
        ]
    );
    assert_eq!(record.settings, new.settings);
    assert_eq!(record.policy, new.policy);
    let records = store
        .repository_records(Some("a/c"), 10)
        .await
        .expect("records");
    assert_eq!(
        records.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["ab", "b"]
    );
    assert!(store
        .set_repository_settings("ab", "{}")
        .await
        .expect("settings"));
    assert!(store
        .set_lifecycle_policy("ab", Some("{\"rules\":[]}"))
        .await
        .expect("lifecycle"));
    assert!(store
        .set_repository_policy("ab", None)
        .await
        .expect("policy"));
    let record = store.repository("ab").await.expect("get").expect("exists");
    assert_eq!(record.settings.as_deref(), Some("{}"));
    assert_eq!(record.lifecycle_policy.as_deref(), Some("{\"rules\":[]}"));
    assert_eq!(record.policy, None);
    assert_eq!(record.lifecycle_evaluated_at, None);
    let generation = store.iam_generation().await.expect("generation");
    assert!(store
        .set_lifecycle_evaluated_at("ab", 1234)
        .await
        .expect("evaluated"));
    assert!(!store
        .set_lifecycle_evaluated_at("ghost", 1234)
        .await
        .expect("evaluated"));
    let record = store.repository("ab").await.expect("get").expect("exists");
    assert_eq!(record.lifecycle_evaluated_at, Some(1234));
    assert_eq!(
        store.iam_generation().await.expect("generation"),
        generation,
        "bookkeeping flushes no cache"
    );
    assert!(!store
        .set_repository_settings("ghost", "{}")
        .await
        .expect("settings"));
    assert!(!store.repository_exists("ghost").await.expect("exists"));
    assert!(store.repository_exists("B").await.expect("exists"));
    assert_eq!(store.repository("ghost").await.expect("get"), None);
}

pub async fn manifests_need_their_references_and_their_repository<S: MetaStore + IamStore>(
    open: Open<S>,
) {
    let store = with_repos(&open, &["r", "other"]).await;
    let layer = Digest::sha256_of(b"layer");
    let child = manifest(b"child", None);
    let index = manifest(b"index", None);
    let refs = [ManifestRef::Blob(layer.clone())];
    assert!(matches!(
        store.put_manifest("r", &child, &refs, tag("latest")).await,
        Err(PutManifestError::Missing(d)) if d == layer
    ));
    assert_eq!(store.manifest("r", &child.digest).await.expect("get"), None);
    assert!(matches!(
        store.put_manifest("ghost", &child, &[], None).await,
        Err(PutManifestError::NameUnknown(n)) if n == "ghost"
    ));
    assert!(!store.link_blob("ghost", &layer, 5).await.expect("link"));
    assert!(!store.repository_exists("ghost").await.expect("exists"));

    assert!(store.link_blob("r", &layer, 5).await.expect("link"));
    assert!(store.link_blob("r", &layer, 5).await.expect("link again"));
    assert_eq!(store.blob_link("r", &layer).await.expect("size"), Some(5));
    assert_eq!(store.blob_link("other", &layer).await.expect("size"), None);
    let put = store
        .put_manifest("r", &child, &refs, tag("latest"))
        .await
        .expect("put");
    assert!(put.created);
    assert_eq!(put.previous_tag_target, None);
    assert_eq!(
        store.manifest("r", &child.digest).await.expect("get"),
        Some(child.clone())
    );
    assert!(store
        .blob_referenced("r", &layer)
        .await
        .expect("referenced"));
    assert!(!store
        .blob_referenced("other", &layer)
        .await
        .expect("referenced"));

    let index_refs = [ManifestRef::Manifest(child.digest.clone())];
    assert!(matches!(
        store.put_manifest("other", &index, &index_refs, None).await,
        Err(PutManifestError::Missing(d)) if d == child.digest
    ));
    store
        .put_manifest("r", &index, &index_refs, None)
        .await
        .expect("index");
    assert_eq!(
        store
            .manifest_parents("r", &child.digest)
            .await
            .expect("parents"),
        std::slice::from_ref(&index.digest)
    );
    assert_eq!(store.image_count("r").await.expect("count"), 2);
    store
        .record_pull("r", &child.digest, 42)
        .await
        .expect("pull");
    let images = store.images("r").await.expect("images");
    assert_eq!(images.len(), 2);
    let pulled = images
        .iter()
        .find(|i| i.manifest.digest == child.digest)
        .expect("child image");
    assert_eq!(pulled.last_pulled_at, Some(42));
    assert_eq!(pulled.tags, ["latest"]);

    assert!(store
        .delete_manifest("r", &index.digest)
        .await
        .expect("delete"));
    assert!(!store
        .delete_manifest("r", &index.digest)
        .await
        .expect("again"));
    assert!(store
        .manifest_parents("r", &child.digest)
        .await
        .expect("parents")
        .is_empty());
    assert!(store
        .delete_manifest("r", &child.digest)
        .await
        .expect("delete"));
    assert_eq!(
        store.manifest_by_tag("r", "latest").await.expect("tag"),
        None
    );
    // The deleted image's blobs went with it from the repository; the orphaned link can
    // still be deleted (OCI conformance deletes the blobs after the manifest), once.
    assert_eq!(store.blob_link("r", &layer).await.expect("size"), None);
    assert!(store.unlink_blob("r", &layer).await.expect("unlink"));
    assert!(!store.unlink_blob("r", &layer).await.expect("unlink again"));
}

pub async fn tags_move_list_in_byte_order_and_immutable_tags_stay<S: MetaStore + IamStore>(
    open: Open<S>,
) {
    let store = with_repos(&open, &["r"]).await;
    let m1 = manifest(b"one", None);
    let m2 = manifest(b"two", None);
    store
        .put_manifest("r", &m1, &[], tag("latest"))
        .await
        .expect("put");
    let moved = store
        .put_manifest("r", &m2, &[], tag("latest"))
        .await
        .expect("move");
    assert!(moved.created);
    assert_eq!(moved.previous_tag_target, Some(m1.digest.clone()));
    assert_eq!(
        store
            .manifest_by_tag("r", "latest")
            .await
            .expect("tag")
            .map(|m| m.digest),
        Some(m2.digest.clone())
    );

    let first = store
        .put_manifest("r", &m1, &[], fixed("v1"))
        .await
        .expect("v1");
    assert!(!first.created);
    assert_eq!(first.previous_tag_target, None);
    let again = store
        .put_manifest("r", &m1, &[], fixed("v1"))
        .await
        .expect("same");
    assert_eq!(again.previous_tag_target, Some(m1.digest.clone()));
    let m3 = manifest(b"three", None);
    assert!(matches!(
        store.put_manifest("r", &m3, &[], fixed("v1")).await,
        Err(PutManifestError::TagImmutable { tag, current }) if tag == "v1" && current == m1.digest
    ));
    // The refused push left nothing behind.
    assert_eq!(store.manifest("r", &m3.digest).await.expect("get"), None);

    for t in ["b", "a-b", "aa", "B"] {
        store
            .put_manifest("r", &m1, &[], tag(t))
            .await
            .expect("tag");
    }
    assert_eq!(
        store.list_tags("r", None, 3).await.expect("list"),
        ["B", "a-b", "aa"]
    );
    assert_eq!(
        store.list_tags("r", Some("aa"), 10).await.expect("page"),
        ["b", "latest", "v1"]
    );
    assert_eq!(
        store.tags_of("r", &m1.digest).await.expect("tags of"),
        ["B", "a-b", "aa", "b", "v1"]
    );
    assert!(store.delete_tag("r", "b").await.expect("delete tag"));
    assert!(!store.delete_tag("r", "b").await.expect("again"));
    assert!(!store.delete_tag("ghost", "b").await.expect("ghost"));
    assert_eq!(
        store.tags_of("r", &m2.digest).await.expect("tags of"),
        ["latest"]
    );
}

pub async fn referrers_are_the_manifests_with_that_subject<S: MetaStore + IamStore>(open: Open<S>) {
    let store = with_repos(&open, &["r", "other"]).await;
    let subject = manifest(b"subject", None);
    store
        .put_manifest("r", &subject, &[], None)
        .await
        .expect("subject");
    let sig = manifest(b"signature", Some(subject.digest.clone()));
    let sbom = manifest(b"sbom", Some(subject.digest.clone()));
    for m in [&sig, &sbom] {
        store
            .put_manifest("r", m, &[], None)
            .await
            .expect("referrer");
    }
    store
        .put_manifest("other", &sig, &[], None)
        .await
        .expect("elsewhere");
    let found = store
        .referrers("r", &subject.digest)
        .await
        .expect("referrers");
    let mut expected = vec![sig.digest.clone(), sbom.digest.clone()];
    expected.sort_by_key(|d| d.to_string());
    assert_eq!(
        found.iter().map(|r| r.digest.clone()).collect::<Vec<_>>(),
        expected
    );
    let first = found.iter().find(|r| r.digest == sig.digest).expect("sig");
    assert_eq!(first.size, sig.content.len() as u64);
    assert_eq!(first.artifact_type.as_deref(), Some("application/x-test"));
    assert_eq!(first.annotations, sig.annotations);
    assert!(store
        .referrers("r", &sig.digest)
        .await
        .expect("none")
        .is_empty());
}

pub async fn repository_tags_stay_within_the_limit<S: MetaStore + IamStore>(open: Open<S>) {
    let store = with_repos(&open, &["t"]).await;
    let kv = |k: &str| (k.to_owned(), "v".to_owned());
    assert_eq!(
        store
            .tag_repository("t", &[kv("a"), kv("b")], 2)
            .await
            .expect("tag"),
        TagRepository::Done
    );
    // Overwriting an existing key does not count twice.
    assert_eq!(
        store.tag_repository("t", &[kv("a")], 2).await.expect("tag"),
        TagRepository::Done
    );
    assert_eq!(
        store.tag_repository("t", &[kv("c")], 2).await.expect("tag"),
        TagRepository::TooMany
    );
    assert_eq!(
        store
            .repository("t")
            .await
            .expect("get")
            .expect("exists")
            .tags,
        [kv("a"), kv("b")]
    );
    assert!(store
        .untag_repository("t", &["a".to_owned(), "zz".to_owned()])
        .await
        .expect("untag"));
    assert_eq!(
        store
            .repository("t")
            .await
            .expect("get")
            .expect("exists")
            .tags,
        [kv("b")]
    );
    assert_eq!(
        store
            .tag_repository("nope", &[kv("c")], 2)
            .await
            .expect("tag"),
        TagRepository::NotFound
    );
    assert!(!store
        .untag_repository("nope", &["a".to_owned()])
        .await
        .expect("untag"));
}

pub async fn templates_and_registry_settings<S: MetaStore + IamStore>(open: Open<S>) {
    let store = open().await;
    // The schema seeds the ROOT template.
    let seeded = store
        .documents(DocumentKind::CreationTemplate)
        .await
        .expect("templates");
    assert_eq!(seeded.len(), 1);
    assert_eq!(seeded[0].prefix, "ROOT");
    assert!(store
        .create_document(DocumentKind::CreationTemplate, "team", "{}")
        .await
        .expect("create"));
    assert!(!store
        .create_document(DocumentKind::CreationTemplate, "team", "{}")
        .await
        .expect("again"));
    assert!(store
        .update_document(DocumentKind::CreationTemplate, "team", "{\"a\":1}")
        .await
        .expect("update"));
    assert!(!store
        .update_document(DocumentKind::CreationTemplate, "ghost", "{}")
        .await
        .expect("update"));
    assert_eq!(
        store
            .document(DocumentKind::CreationTemplate, "team")
            .await
            .expect("get")
            .expect("exists")
            .document,
        "{\"a\":1}"
    );
    assert_eq!(
        store
            .documents(DocumentKind::CreationTemplate)
            .await
            .expect("templates")
            .iter()
            .map(|t| t.prefix.as_str())
            .collect::<Vec<_>>(),
        ["ROOT", "team"]
    );
    assert!(store
        .delete_document(DocumentKind::CreationTemplate, "team")
        .await
        .expect("delete")
        .is_some());
    assert!(store
        .delete_document(DocumentKind::CreationTemplate, "team")
        .await
        .expect("again")
        .is_none());

    // Each kind is its own set: a cache rule and a template with one prefix do not meet.
    let rules = DocumentKind::PullThroughCacheRule;
    assert!(store.documents(rules).await.expect("rules").is_empty());
    assert!(store
        .create_document(rules, "ROOT", "{\"u\":1}")
        .await
        .expect("rule"));
    assert!(store
        .create_document(rules, "hub", "{}")
        .await
        .expect("rule"));
    assert!(!store
        .create_document(rules, "hub", "{}")
        .await
        .expect("again"));
    assert_eq!(
        store
            .document(DocumentKind::CreationTemplate, "ROOT")
            .await
            .expect("template")
            .expect("seeded")
            .prefix,
        "ROOT"
    );
    assert_eq!(
        store
            .document(rules, "ROOT")
            .await
            .expect("rule")
            .expect("created")
            .document,
        "{\"u\":1}"
    );
    assert!(store
        .update_document(rules, "hub", "{\"v\":2}")
        .await
        .expect("update"));
    let gone = store
        .delete_document(rules, "hub")
        .await
        .expect("delete")
        .expect("was there");
    assert_eq!(gone.document, "{\"v\":2}");
    assert!(gone.updated_at >= gone.created_at);
    assert_eq!(store.documents(rules).await.expect("rules").len(), 1);
    assert_eq!(
        store
            .documents(DocumentKind::CreationTemplate)
            .await
            .expect("templates")
            .len(),
        1
    );

    assert_eq!(
        store
            .registry_setting("registry_policy")
            .await
            .expect("get"),
        None
    );
    assert!(!store
        .set_registry_setting("registry_policy", Some("{}"))
        .await
        .expect("set"));
    assert!(store
        .set_registry_setting("registry_policy", Some("{\"x\":1}"))
        .await
        .expect("overwrite"));
    assert_eq!(
        store
            .registry_setting("registry_policy")
            .await
            .expect("get")
            .as_deref(),
        Some("{\"x\":1}")
    );
    assert!(store
        .set_registry_setting("registry_policy", None)
        .await
        .expect("clear"));
    assert!(!store
        .set_registry_setting("registry_policy", None)
        .await
        .expect("clear again"));
    assert_eq!(
        store
            .registry_setting("registry_policy")
            .await
            .expect("get"),
        None
    );
}

pub async fn upload_limits_count_per_principal_and_in_total<S: MetaStore + IamStore>(
    open: Open<S>,
) {
    let store = with_repos(&open, &["r"]).await;
    let limits = UploadLimits {
        per_principal: 2,
        total: 3,
    };
    let create = |id: &'static str, who: &'static str| {
        let store = &store;
        async move {
            store
                .create_upload(id, "r", who, limits, None)
                .await
                .expect("create")
        }
    };
    assert_eq!(create("a1", "alice").await, CreateUpload::Created);
    assert_eq!(create("a2", "alice").await, CreateUpload::Created);
    assert_eq!(create("a3", "alice").await, CreateUpload::PrincipalLimit);
    assert_eq!(create("b1", "bob").await, CreateUpload::Created);
    assert_eq!(create("b2", "bob").await, CreateUpload::TotalLimit);
    store.delete_upload("a1").await.expect("delete");
    assert_eq!(create("b2", "bob").await, CreateUpload::Created);
    let b2 = store.upload("b2").await.expect("get").expect("exists");
    assert_eq!(b2.principal.as_deref(), Some("bob"));
    assert_eq!(b2.repository, "r");
    assert_eq!(
        store
            .create_upload("g", "ghost", "bob", ROOMY, None)
            .await
            .expect("create"),
        CreateUpload::NameUnknown
    );
    assert_eq!(store.upload("g").await.expect("get"), None);
}

pub async fn sessions_complete_touch_count_parts_and_go_stale<S: MetaStore + IamStore>(
    open: Open<S>,
) {
    let store = with_repos(&open, &["r"]).await;
    assert_eq!(
        store
            .create_upload("u1", "r", "p", ROOMY, None)
            .await
            .expect("create"),
        CreateUpload::Created
    );
    let created = store.upload("u1").await.expect("get").expect("exists");
    assert!(store.touch_upload("u1").await.expect("touch"));
    assert!(!store.touch_upload("ghost").await.expect("touch"));
    let stale = store
        .stale_uploads(created.updated_at + 60_000)
        .await
        .expect("stale");
    assert_eq!(stale.len(), 1);
    assert!(store
        .stale_uploads(created.created_at - 1)
        .await
        .expect("stale")
        .is_empty());

    let mib = 1024 * 1024;
    store
        .record_upload_part("u1", 6 * mib, 5 * mib)
        .await
        .expect("part");
    let p = store
        .record_upload_part("u1", 2 * mib, 5 * mib)
        .await
        .expect("part");
    assert_eq!((p.parts, p.undersized_part), (2, false));
    let p = store
        .record_upload_part("u1", 6 * mib, 5 * mib)
        .await
        .expect("part");
    assert_eq!(
        (p.parts, p.undersized_part, p.last_part_size),
        (3, true, Some(6 * mib))
    );
    assert_eq!(store.upload_parts("u1").await.expect("parts"), p);
    assert_eq!(
        store.upload_parts("ghost").await.expect("parts"),
        Default::default()
    );

    let layer = Digest::sha256_of(b"layer");
    let claim = store
        .claim_blob(&layer, 5)
        .await
        .expect("claim")
        .expect("free");
    assert_eq!(
        store
            .complete_upload("u1", "other", &layer, 5, claim)
            .await
            .expect("complete"),
        CompleteUpload::UploadUnknown,
        "a session completes only into its own repository"
    );
    assert_eq!(
        store
            .complete_upload("u1", "r", &layer, 5, claim)
            .await
            .expect("complete"),
        CompleteUpload::Linked
    );
    assert_eq!(store.blob_link("r", &layer).await.expect("size"), Some(5));
    assert_eq!(store.upload("u1").await.expect("get"), None);
    assert_eq!(
        store
            .complete_upload("u1", "r", &layer, 5, claim)
            .await
            .expect("again"),
        CompleteUpload::UploadUnknown
    );
}

pub async fn deleting_a_repository_ends_its_upload_sessions<S: MetaStore + IamStore>(
    open: Open<S>,
) {
    let store = with_repos(&open, &["r", "other"]).await;
    store
        .put_manifest("r", &manifest(b"m", None), &[], tag("t"))
        .await
        .expect("put");
    for (id, repo) in [("u1", "r"), ("u2", "r"), ("u3", "other")] {
        store
            .create_upload(id, repo, "p", ROOMY, None)
            .await
            .expect("create");
    }
    assert_eq!(
        store.delete_repository("r", false).await.expect("delete"),
        DeleteRepository::NotEmpty
    );
    let outcome = store.delete_repository("r", true).await.expect("delete");
    let DeleteRepository::Deleted { mut ended_uploads } = outcome else {
        panic!("not deleted: {outcome:?}");
    };
    ended_uploads.sort();
    let ended: Vec<&str> = ended_uploads.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ended, ["u1", "u2"]);
    assert_eq!(
        store.delete_repository("r", true).await.expect("again"),
        DeleteRepository::NotFound
    );
    assert_eq!(store.upload("u1").await.expect("get"), None);
    assert!(!store.touch_upload("u1").await.expect("touch"));
    assert_eq!(
        store.begin_append("u1", 0, 60_000).await.expect("append"),
        BeginAppend::Unknown
    );
    assert!(store.touch_upload("u3").await.expect("touch"));
    store
        .create_repository("r", &NewRepository::default())
        .await
        .expect("recreate");
    assert_eq!(store.image_count("r").await.expect("count"), 0);
    let layer = Digest::sha256_of(b"layer");
    let claim = store
        .claim_blob(&layer, 5)
        .await
        .expect("claim")
        .expect("free");
    assert_eq!(
        store
            .complete_upload("u1", "r", &layer, 5, claim)
            .await
            .expect("complete"),
        CompleteUpload::UploadUnknown
    );
    assert_eq!(store.blob_link("r", &layer).await.expect("size"), None);
    assert_eq!(
        store
            .delete_repository("other", false)
            .await
            .expect("empty"),
        DeleteRepository::Deleted {
            ended_uploads: vec![EndedUpload {
                id: "u3".to_owned(),
                backend_state: None,
            }]
        }
    );
}

pub async fn appends_are_claimed_at_the_stored_offset<S: MetaStore + IamStore>(open: Open<S>) {
    let store = with_repos(&open, &["r"]).await;
    store
        .create_upload("u", "r", "p", ROOMY, None)
        .await
        .expect("create");
    assert_eq!(
        store.upload_progress("u").await.expect("progress"),
        Some(UploadProgress::default())
    );
    assert_eq!(
        store.upload_progress("ghost").await.expect("progress"),
        None
    );
    assert_eq!(
        store.begin_append("ghost", 0, 60_000).await.expect("claim"),
        BeginAppend::Unknown
    );
    assert_eq!(
        store.begin_append("u", 3, 60_000).await.expect("claim"),
        BeginAppend::Offset(0)
    );
    assert_eq!(
        store.begin_append("u", 0, 60_000).await.expect("claim"),
        BeginAppend::Claimed(UploadProgress::default())
    );
    assert_eq!(
        store.begin_append("u", 0, 60_000).await.expect("claim"),
        BeginAppend::Busy
    );
    // A renewed claim holds past its first lease; only a claim at the offset can be renewed.
    assert!(!store.renew_append("u", 3).await.expect("renew"));
    assert!(!store.renew_append("ghost", 0).await.expect("renew"));
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    assert!(store.renew_append("u", 0).await.expect("renew"));
    assert_eq!(
        store.begin_append("u", 0, 25).await.expect("claim"),
        BeginAppend::Busy,
        "renewed just now"
    );
    let after = UploadProgress {
        offset: 10,
        hash_state: Some(vec![1, 2, 3]),
        backend_state: Some("{\"parts\":[]}".into()),
    };
    assert!(!store.finish_append("u", 4, &after).await.expect("finish"));
    assert!(store.finish_append("u", 0, &after).await.expect("finish"));
    assert_eq!(
        store.upload_progress("u").await.expect("progress"),
        Some(after.clone())
    );
    // The old offset is gone; a second finish from it is refused.
    assert!(!store.finish_append("u", 0, &after).await.expect("finish"));
    assert_eq!(
        store.begin_append("u", 0, 60_000).await.expect("claim"),
        BeginAppend::Offset(10)
    );
    assert_eq!(
        store.begin_append("u", 10, 60_000).await.expect("claim"),
        BeginAppend::Claimed(after.clone())
    );
    // Releasing without progress keeps the stored states.
    let release = UploadProgress {
        offset: 10,
        ..Default::default()
    };
    assert!(store
        .finish_append("u", 10, &release)
        .await
        .expect("release"));
    assert_eq!(
        store.upload_progress("u").await.expect("progress"),
        Some(after.clone())
    );

    // A claim older than the lease is abandoned: the next request takes it over.
    assert!(matches!(
        store.begin_append("u", 10, 200).await.expect("claim"),
        BeginAppend::Claimed(_)
    ));
    assert_eq!(
        store.begin_append("u", 10, 200).await.expect("claim"),
        BeginAppend::Busy
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        store.begin_append("u", 10, 200).await.expect("claim"),
        BeginAppend::Claimed(after.clone())
    );
    let before = store
        .upload("u")
        .await
        .expect("get")
        .expect("exists")
        .updated_at;
    tokio::time::sleep(Duration::from_millis(5)).await;
    store
        .finish_append("u", 10, &release)
        .await
        .expect("release");
    assert!(
        store
            .upload("u")
            .await
            .expect("get")
            .expect("exists")
            .updated_at
            >= before
    );

    // Sessions opened later start over, and completing drops the progress with the row.
    store
        .create_upload("v", "r", "p", ROOMY, None)
        .await
        .expect("create");
    assert_eq!(
        store.upload_progress("v").await.expect("progress"),
        Some(UploadProgress::default())
    );
    let x = Digest::sha256_of(b"x");
    let claim = store
        .claim_blob(&x, 10)
        .await
        .expect("claim")
        .expect("free");
    store
        .complete_upload("u", "r", &x, 10, claim)
        .await
        .expect("complete");
    assert_eq!(store.upload_progress("u").await.expect("progress"), None);
    assert!(!store.finish_append("u", 10, &after).await.expect("finish"));
}

pub async fn iam_users_keys_and_policies<S: MetaStore + IamStore>(open: Open<S>) {
    let store = open().await;
    assert_eq!(store.user_count().await.expect("count"), 0);
    let alice = user("alice");
    assert!(store.create_user(&alice).await.expect("create"));
    assert!(!store.create_user(&alice).await.expect("again"));
    assert_eq!(store.user("alice").await.expect("get"), Some(alice.clone()));
    let key = AccessKeyRecord {
        access_key_id: "AKIAEXAMPLE".into(),
        user_name: "alice".into(),
        secret_sealed: vec![0, 1, 2, 255],
        active: true,
        created_at: 2,
    };
    store.create_access_key(&key).await.expect("key");
    assert!(matches!(
        store.create_access_key(&key).await,
        Err(crate::Error::Conflict(_))
    ));
    assert_eq!(
        store.access_key("AKIAEXAMPLE").await.expect("get"),
        Some(key.clone())
    );
    assert!(store
        .set_access_key_active("AKIAEXAMPLE", false)
        .await
        .expect("deactivate"));
    assert!(!store.access_keys_of("alice").await.expect("keys")[0].active);

    store
        .put_inline_policy(PrincipalKind::User, "alice", "p1", "{}")
        .await
        .expect("inline");
    store
        .put_inline_policy(PrincipalKind::User, "alice", "p1", "{\"v\":2}")
        .await
        .expect("replace");
    assert_eq!(
        store
            .inline_policy(PrincipalKind::User, "alice", "p1")
            .await
            .expect("get")
            .as_deref(),
        Some("{\"v\":2}")
    );
    let group = GroupRecord {
        name: "devs".into(),
        group_id: "AGPADEVS".into(),
        path: "/".into(),
        created_at: 1,
    };
    assert!(store.create_group(&group).await.expect("group"));
    store
        .put_inline_policy(PrincipalKind::Group, "devs", "g1", "{\"g\":1}")
        .await
        .expect("group inline");
    assert!(store
        .add_group_member("devs", "alice")
        .await
        .expect("member"));
    assert!(!store
        .add_group_member("devs", "alice")
        .await
        .expect("again"));
    let policy = ManagedPolicyRecord {
        arn: "arn:aws:iam::111122223333:policy/push".into(),
        name: "push".into(),
        policy_id: "ANPAPUSH".into(),
        path: "/".into(),
        description: None,
        default_version: "v1".into(),
        created_at: 3,
        updated_at: 3,
    };
    assert!(store
        .create_managed_policy(&policy, "{\"m\":1}")
        .await
        .expect("managed"));
    assert!(!store
        .create_managed_policy(&policy, "{}")
        .await
        .expect("again"));
    assert!(store
        .attach_policy(PrincipalKind::Group, "devs", &policy.arn)
        .await
        .expect("attach"));
    let ids: Vec<String> = store
        .user_identity_policies("alice")
        .await
        .expect("policies")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(
        ids,
        [
            policy.arn.clone(),
            "group/devs/g1".into(),
            "user/alice/p1".into()
        ]
    );
    assert_eq!(
        store.policy_attachment_count(&policy.arn).await.expect("n"),
        1
    );

    store
        .put_principal_tags(
            PrincipalKind::User,
            "alice",
            &[("a".into(), "1".into()), ("b".into(), "2".into())],
        )
        .await
        .expect("tags");
    store
        .remove_principal_tags(PrincipalKind::User, "alice", &["b".into()])
        .await
        .expect("untag");
    assert_eq!(
        store
            .principal_tags(PrincipalKind::User, "alice")
            .await
            .expect("tags"),
        [("a".to_owned(), "1".to_owned())]
    );

    assert!(store.delete_user("alice").await.expect("delete"));
    assert_eq!(store.access_key("AKIAEXAMPLE").await.expect("get"), None);
    assert!(store
        .group_members("devs")
        .await
        .expect("members")
        .is_empty());
    assert!(store.delete_group("devs").await.expect("delete group"));
    assert_eq!(
        store.policy_attachment_count(&policy.arn).await.expect("n"),
        0
    );
    assert!(store
        .delete_managed_policy(&policy.arn)
        .await
        .expect("delete"));
    assert!(store
        .policy_versions(&policy.arn)
        .await
        .expect("versions")
        .is_empty());
}

pub async fn every_authorization_change_bumps_the_iam_generation<S: MetaStore + IamStore>(
    open: Open<S>,
) {
    let store = open().await;
    let mut last = store.iam_generation().await.expect("generation");
    let mut bumped = |now: u64, what: &str| {
        assert!(now > last, "{what} did not bump the generation");
        last = now;
    };
    store.create_user(&user("bob")).await.expect("user");
    bumped(
        store.iam_generation().await.expect("generation"),
        "create_user",
    );
    store
        .put_inline_policy(PrincipalKind::User, "bob", "p", "{}")
        .await
        .expect("inline");
    bumped(
        store.iam_generation().await.expect("generation"),
        "put_inline_policy",
    );
    store
        .create_repository("r", &NewRepository::default())
        .await
        .expect("repository");
    bumped(
        store.iam_generation().await.expect("generation"),
        "create_repository",
    );
    store
        .set_repository_policy("r", Some("{}"))
        .await
        .expect("policy");
    bumped(
        store.iam_generation().await.expect("generation"),
        "set_repository_policy",
    );
    store
        .set_registry_setting("registry_policy", Some("{}"))
        .await
        .expect("setting");
    bumped(
        store.iam_generation().await.expect("generation"),
        "set_registry_setting",
    );
    let before = store.iam_generation().await.expect("generation");
    // A push is no authorization change.
    store
        .put_manifest("r", &manifest(b"m", None), &[], tag("t"))
        .await
        .expect("put");
    assert_eq!(store.iam_generation().await.expect("generation"), before);
    // Another handle (another node) sees the same counter move.
    let other = open().await;
    other.delete_user("bob").await.expect("delete");
    assert!(store.iam_generation().await.expect("generation") > before);
}

/// Ten creations of one name, split over two handles: exactly one wins.
pub async fn concurrent_creations_have_one_winner<S: MetaStore + IamStore>(open: Open<S>) {
    let a = open().await;
    let b = open().await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .create_repository("race", &NewRepository::default())
                .await
                .expect("create")
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("task") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(a.repository_count().await.expect("count"), 1);

    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        // Each request draws its own unique id, as core does.
        let carol = UserRecord {
            user_id: format!("AIDACAROL{i}"),
            ..user("carol")
        };
        tasks.push(tokio::spawn(async move {
            store.create_user(&carol).await.expect("create user")
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("task") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

/// Fifty pushes moving one tag, split over two handles: every push lands, the tag always
/// resolves to a stored manifest, and no move is lost (each push saw the tag where the push
/// before it left it, so the previous targets form one chain).
pub async fn concurrent_tag_moves_lose_no_update<S: MetaStore + IamStore>(open: Open<S>) {
    let a = with_repos(&open, &["r"]).await;
    let b = open().await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let m = manifest(format!("manifest {i}").as_bytes(), None);
            let outcome = store
                .put_manifest("r", &m, &[], tag("latest"))
                .await
                .expect("push");
            let now = store
                .manifest_by_tag("r", "latest")
                .await
                .expect("resolve")
                .expect("the tag resolves");
            assert!(store
                .manifest("r", &now.digest)
                .await
                .expect("get")
                .is_some());
            (m.digest, outcome.previous_tag_target)
        }));
    }
    let mut written = HashSet::new();
    let mut previous = Vec::new();
    for t in tasks {
        let (digest, prev) = t.await.expect("task");
        written.insert(digest);
        previous.push(prev);
    }
    assert_eq!(
        previous.iter().filter(|p| p.is_none()).count(),
        1,
        "exactly one push created the tag"
    );
    let overwritten: Vec<Digest> = previous.into_iter().flatten().collect();
    let distinct: HashSet<&Digest> = overwritten.iter().collect();
    assert_eq!(
        distinct.len(),
        overwritten.len(),
        "two pushes moved the tag from one place"
    );
    assert!(overwritten.iter().all(|d| written.contains(d)));
    let last = a
        .manifest_by_tag("r", "latest")
        .await
        .expect("resolve")
        .expect("tagged");
    assert!(written.contains(&last.digest));
    assert!(
        !distinct.contains(&last.digest),
        "the final target was never overwritten"
    );
    assert_eq!(a.image_count("r").await.expect("count"), 50);
}

/// Twenty sessions opened at once over two handles against a limit of five: five open.
pub async fn concurrent_sessions_respect_the_limits<S: MetaStore + IamStore>(open: Open<S>) {
    let a = with_repos(&open, &["r"]).await;
    let b = open().await;
    let limits = UploadLimits {
        per_principal: 100,
        total: 5,
    };
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .create_upload(&format!("u{i}"), "r", "p", limits, None)
                .await
                .expect("create")
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.expect("task") {
            CreateUpload::Created => created += 1,
            other => assert_eq!(other, CreateUpload::TotalLimit),
        }
    }
    assert_eq!(created, 5);
    assert_eq!(a.stale_uploads(i64::MAX).await.expect("sessions").len(), 5);
}

/// Ten claims of one session at once over two handles: one holds it, the others are busy.
pub async fn concurrent_claims_have_one_winner<S: MetaStore + IamStore>(open: Open<S>) {
    let a = with_repos(&open, &["r"]).await;
    let b = open().await;
    a.create_upload("u", "r", "p", ROOMY, None)
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store.begin_append("u", 0, 60_000).await.expect("claim")
        }));
    }
    let mut claimed = 0;
    for t in tasks {
        match t.await.expect("task") {
            BeginAppend::Claimed(_) => claimed += 1,
            other => assert_eq!(other, BeginAppend::Busy),
        }
    }
    assert_eq!(claimed, 1);
}

/// A worker lease: one holder at a time, renewable by it, free once expired or released.
pub async fn worker_leases_have_one_holder<S: MetaStore + IamStore>(open: Open<S>) {
    let a = open().await;
    let b = open().await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .acquire_lease("reaper", &format!("node-{i}"), 60_000)
                .await
                .expect("lease")
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += usize::from(t.await.expect("task"));
    }
    assert_eq!(granted, 1, "exactly one node holds the lease");

    assert!(a.acquire_lease("gc", "node-a", 60_000).await.expect("take"));
    assert!(!b.acquire_lease("gc", "node-b", 60_000).await.expect("held"));
    assert!(a
        .acquire_lease("gc", "node-a", 60_000)
        .await
        .expect("renew"));
    // Another name is another lease.
    assert!(b
        .acquire_lease("lifecycle", "node-b", 60_000)
        .await
        .expect("other"));
    // Releasing someone else's lease does nothing; its holder's release frees it.
    b.release_lease("gc", "node-b").await.expect("release");
    assert!(!b
        .acquire_lease("gc", "node-b", 60_000)
        .await
        .expect("still held"));
    a.release_lease("gc", "node-a").await.expect("release");
    assert!(b.acquire_lease("gc", "node-b", 1).await.expect("free"));
    // An expired lease goes to whoever asks next.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(a
        .acquire_lease("gc", "node-a", 60_000)
        .await
        .expect("expired"));
    assert!(!b
        .acquire_lease("gc", "node-b", 60_000)
        .await
        .expect("taken"));
}

/// A lifecycle policy preview: one per repository, replaced by the next, seen by every handle
/// (any node answers the Get after a Start), gone with its repository and not inherited by a
/// repository created again under the same name.
pub async fn lifecycle_previews_are_replaced_and_go_with_their_repository<
    S: MetaStore + IamStore,
>(
    open: Open<S>,
) {
    let a = with_repos(&open, &["app", "other"]).await;
    let b = open().await;
    let preview = |policy: &str, at: i64| LifecyclePreviewRecord {
        policy: policy.into(),
        results: format!("[{{\"n\":{at}}}]"),
        evaluated_at: at,
    };
    let born = |name: &'static str| {
        let store = a.clone();
        async move {
            store
                .repository(name)
                .await
                .expect("read")
                .expect("exists")
                .created_at
        }
    };
    let (app, other) = (born("app").await, born("other").await);
    assert_eq!(a.lifecycle_preview("app").await.expect("read"), None);
    assert!(
        !a.put_lifecycle_preview("app", app + 1, &preview("stale", 0))
            .await
            .expect("put"),
        "a preview of another incarnation of the repository is not kept"
    );
    assert_eq!(a.lifecycle_preview("app").await.expect("read"), None);
    assert!(a
        .put_lifecycle_preview("app", app, &preview("first", 1))
        .await
        .expect("put"));
    assert_eq!(
        b.lifecycle_preview("app").await.expect("read"),
        Some(preview("first", 1)),
        "another handle sees it"
    );
    assert!(b
        .put_lifecycle_preview("app", app, &preview("second", 2))
        .await
        .expect("replace"));
    assert_eq!(
        a.lifecycle_preview("app").await.expect("read"),
        Some(preview("second", 2))
    );
    assert_eq!(a.lifecycle_preview("other").await.expect("read"), None);
    assert!(!a
        .put_lifecycle_preview("missing", 0, &preview("x", 3))
        .await
        .expect("no repository"));
    assert_eq!(a.lifecycle_preview("missing").await.expect("read"), None);

    // Starts racing on two handles: each is whole, and one of them is what stays.
    let mut tasks = Vec::new();
    for i in 0..8i64 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .put_lifecycle_preview("other", other, &preview(&format!("p{i}"), i))
                .await
                .expect("put")
        }));
    }
    for t in tasks {
        assert!(t.await.expect("task"));
    }
    let last = a
        .lifecycle_preview("other")
        .await
        .expect("read")
        .expect("one");
    assert_eq!(
        last,
        preview(&format!("p{}", last.evaluated_at), last.evaluated_at)
    );

    assert!(matches!(
        a.delete_repository("app", false).await.expect("delete"),
        DeleteRepository::Deleted { .. }
    ));
    assert_eq!(b.lifecycle_preview("app").await.expect("read"), None);
    assert!(a
        .create_repository("app", &NewRepository::default())
        .await
        .expect("create again"));
    assert_eq!(
        a.lifecycle_preview("app").await.expect("read"),
        None,
        "a new repository under the old name starts without a preview"
    );
}

/// Generates one `#[tokio::test]` per case of the metadata contract for a backend.
///
/// `$make` is an async block evaluating to `Option<(Open<S>, guard)>`: `None` skips the case
/// (the backend is not available here, which the block reports); the guard (a temp dir, a
/// database) lives as long as the case.
#[macro_export]
macro_rules! meta_store_suite {
    ($make:expr) => {
        $crate::meta_store_suite!(@cases $make;
            repositories_are_created_once_and_listed_in_byte_order,
            manifests_need_their_references_and_their_repository,
            tags_move_list_in_byte_order_and_immutable_tags_stay,
            referrers_are_the_manifests_with_that_subject,
            repository_tags_stay_within_the_limit,
            templates_and_registry_settings,
            upload_limits_count_per_principal_and_in_total,
            sessions_complete_touch_count_parts_and_go_stale,
            deleting_a_repository_ends_its_upload_sessions,
            appends_are_claimed_at_the_stored_offset,
            iam_users_keys_and_policies,
            every_authorization_change_bumps_the_iam_generation,
            concurrent_creations_have_one_winner,
            concurrent_tag_moves_lose_no_update,
            concurrent_sessions_respect_the_limits,
            concurrent_claims_have_one_winner,
            worker_leases_have_one_holder,
            lifecycle_previews_are_replaced_and_go_with_their_repository,
            blobs_are_referenced_by_manifests_and_unreferenced_when_they_go,
            referrers_go_with_their_subject,
            a_collection_and_a_manifest_put_cannot_both_win,
            a_claim_lost_to_a_collection_links_nothing,
            blobs_found_in_the_store_are_adopted_unreferenced,
        );
    };
    (@cases $make:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((open, _guard)) = $make.await else {
                    return;
                };
                $crate::testsuite::meta::$case(open).await;
            }
        )*
    };
}
