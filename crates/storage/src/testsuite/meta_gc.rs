//! The blob table's part of the metadata contract: what references a blob, what a collector
//! may mark, and the race between a collection and a manifest put, which the store's
//! transactions must close (one of them sees the other).

use std::sync::Arc;

use bytes::Bytes;
use portcullis_oci::Digest;

use super::meta::Open;
use crate::meta::now_millis;
use crate::{
    CompleteUpload, GcBlob, IamStore, ManifestRecord, ManifestRef, MetaStore, MountBlob,
    NewRepository, PutManifestError, UploadLimits,
};

const ROOMY: UploadLimits = UploadLimits {
    per_principal: 100,
    total: 100,
};

fn image(name: &str, subject: Option<Digest>) -> ManifestRecord {
    let content = Bytes::from(format!("{{\"image\":\"{name}\"}}"));
    ManifestRecord {
        digest: Digest::sha256_of(&content),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        artifact_type: None,
        subject,
        annotations: None,
        content,
        created_at: 1,
    }
}

fn blobs(refs: &[&Digest]) -> Vec<ManifestRef> {
    refs.iter()
        .map(|d| ManifestRef::Blob((*d).clone()))
        .collect()
}

/// A moment after everything written so far: blobs unreferenced since before it are past a
/// grace delay of zero.
fn later() -> i64 {
    now_millis() + 1_000
}

async fn store_with<S: MetaStore>(open: &Open<S>, repos: &[&str]) -> Arc<S> {
    let store = open().await;
    for r in repos {
        assert!(store
            .create_repository(r, &NewRepository::default())
            .await
            .expect("create repository"));
    }
    store
}

async fn unreferenced<S: MetaStore>(store: &S, d: &Digest) -> bool {
    store
        .blob_row(d)
        .await
        .expect("row")
        .expect("the blob has a row")
        .unreferenced_since
        .is_some()
}

pub async fn blobs_are_referenced_by_manifests_and_unreferenced_when_they_go<
    S: MetaStore + IamStore,
>(
    open: Open<S>,
) {
    let store = store_with(&open, &["a", "b"]).await;
    let layer = Digest::sha256_of(b"layer");
    let config = Digest::sha256_of(b"config");
    // An upload claims its blob before writing it, and links it on completion.
    let claim = store
        .claim_blob(&layer, 5)
        .await
        .expect("claim")
        .expect("free");
    store
        .create_upload("u", "a", "p", ROOMY, None)
        .await
        .expect("session");
    assert_eq!(
        store
            .complete_upload("u", "a", &layer, 5, claim)
            .await
            .expect("complete"),
        CompleteUpload::Linked
    );
    assert!(store.link_blob("a", &config, 6).await.expect("link"));
    assert!(
        unreferenced(&*store, &layer).await,
        "pushed, not referenced yet"
    );

    let one = image("one", None);
    store
        .put_manifest("a", &one, &blobs(&[&layer, &config]), None)
        .await
        .expect("put");
    assert!(!unreferenced(&*store, &layer).await);
    assert!(!unreferenced(&*store, &config).await);
    assert!(store
        .gc_candidates(later(), None, 100)
        .await
        .expect("candidates")
        .is_empty());

    // Another repository mounts both and references them too.
    for d in [&layer, &config] {
        assert!(matches!(
            store.mount_blob("a", "b", d).await.expect("mount"),
            MountBlob::Mounted { .. }
        ));
    }
    assert_eq!(
        store.mount_blob("a", "ghost", &layer).await.expect("mount"),
        MountBlob::NameUnknown
    );
    assert_eq!(
        store
            .mount_blob("a", "b", &Digest::sha256_of(b"nothing"))
            .await
            .expect("mount"),
        MountBlob::SourceMissing
    );
    let two = image("two", None);
    store
        .put_manifest("b", &two, &blobs(&[&layer, &config]), None)
        .await
        .expect("put");

    // Deleting the image unlinks its blobs from its repository at once; the other still
    // references them.
    assert!(store
        .delete_manifest("a", &one.digest)
        .await
        .expect("delete"));
    assert_eq!(store.blob_link("a", &layer).await.expect("link"), None);
    assert_eq!(store.blob_link("a", &config).await.expect("link"), None);
    assert_eq!(
        store.mount_blob("a", "b", &layer).await.expect("mount"),
        MountBlob::SourceMissing,
        "a repository cannot lend what it no longer reaches"
    );
    assert_eq!(store.blob_link("b", &layer).await.expect("link"), Some(5));
    assert!(!unreferenced(&*store, &layer).await);

    // Deleting that repository leaves them unreferenced: collectable after the grace delay.
    store.delete_repository("b", true).await.expect("delete");
    assert!(unreferenced(&*store, &layer).await);
    let candidates = store
        .gc_candidates(later(), None, 100)
        .await
        .expect("candidates");
    let mut expected = vec![layer.clone(), config.clone()];
    expected.sort_by_key(|d| d.to_string());
    assert_eq!(
        candidates
            .iter()
            .map(|c| c.digest.clone())
            .collect::<Vec<_>>(),
        expected
    );
    assert!(store
        .gc_candidates(now_millis() - 60_000, None, 100)
        .await
        .expect("candidates")
        .is_empty());
    let rest = store
        .gc_candidates(later(), Some(&expected[0]), 100)
        .await
        .expect("page");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].digest, expected[1]);
}

pub async fn referrers_go_with_their_subject<S: MetaStore + IamStore>(open: Open<S>) {
    let store = store_with(&open, &["r"]).await;
    let layer = Digest::sha256_of(b"layer");
    let sig = Digest::sha256_of(b"signature");
    assert!(store.link_blob("r", &layer, 5).await.expect("link"));
    assert!(store.link_blob("r", &sig, 3).await.expect("link"));
    let subject = image("subject", None);
    store
        .put_manifest("r", &subject, &blobs(&[&layer]), None)
        .await
        .expect("put");
    let signature = image("signature", Some(subject.digest.clone()));
    store
        .put_manifest("r", &signature, &blobs(&[&sig]), None)
        .await
        .expect("put");
    let countersig = image("countersignature", Some(signature.digest.clone()));
    store
        .put_manifest("r", &countersig, &[], None)
        .await
        .expect("put");
    assert!(!store
        .delete_manifest("r", &Digest::sha256_of(b"absent"))
        .await
        .expect("delete"));
    assert!(store
        .delete_manifest("r", &subject.digest)
        .await
        .expect("delete"));
    for m in [&signature, &countersig] {
        assert_eq!(store.manifest("r", &m.digest).await.expect("get"), None);
    }
    assert!(unreferenced(&*store, &sig).await);
    assert_eq!(store.blob_link("r", &sig).await.expect("link"), None);
    // Putting the subject again (a client re-pushing what it had) makes its layer the
    // repository's again.
    store
        .put_manifest("r", &subject, &blobs(&[&layer]), None)
        .await
        .expect("put again");
    assert_eq!(store.blob_link("r", &layer).await.expect("link"), Some(5));
    assert!(!unreferenced(&*store, &layer).await);
}

pub async fn a_collection_and_a_manifest_put_cannot_both_win<S: MetaStore + IamStore>(
    open: Open<S>,
) {
    let store = store_with(&open, &["r"]).await;
    // The collection first: the put then finds the blob missing, and no upload may claim it
    // until the collector is done.
    let gone = Digest::sha256_of(b"gone");
    assert!(store.link_blob("r", &gone, 4).await.expect("link"));
    let marked = store
        .begin_blob_deletes(std::slice::from_ref(&gone), later())
        .await
        .expect("mark");
    assert_eq!(
        marked,
        [GcBlob {
            digest: gone.clone(),
            size: 4
        }]
    );
    assert_eq!(store.blob_link("r", &gone).await.expect("link"), None);
    assert!(matches!(
        store
            .put_manifest("r", &image("late", None), &blobs(&[&gone]), None)
            .await,
        Err(PutManifestError::Missing(d)) if d == gone
    ));
    assert_eq!(store.claim_blob(&gone, 4).await.expect("claim"), None);
    assert_eq!(
        store
            .unfinished_blob_deletes(later(), 10)
            .await
            .expect("unfinished")
            .len(),
        1
    );
    store
        .finish_blob_deletes(std::slice::from_ref(&gone))
        .await
        .expect("finish");
    assert_eq!(store.blob_row(&gone).await.expect("row"), None);
    assert!(store.claim_blob(&gone, 4).await.expect("claim").is_some());

    // The put first: the blob is referenced and the collector skips it.
    let kept = Digest::sha256_of(b"kept");
    assert!(store.link_blob("r", &kept, 4).await.expect("link"));
    store
        .put_manifest("r", &image("early", None), &blobs(&[&kept]), None)
        .await
        .expect("put");
    assert!(store
        .begin_blob_deletes(std::slice::from_ref(&kept), later())
        .await
        .expect("mark")
        .is_empty());
    assert_eq!(store.blob_link("r", &kept).await.expect("link"), Some(4));

    // At once, from two handles (two nodes): exactly one wins, every time.
    let a = open().await;
    let b = open().await;
    for i in 0..40 {
        let d = Digest::sha256_of(format!("raced {i}").as_bytes());
        assert!(a.link_blob("r", &d, 1).await.expect("link"));
        let m = image(&format!("raced {i}"), None);
        let refs = blobs(&[&d]);
        let before = later();
        let (put, marked) = tokio::join!(
            a.put_manifest("r", &m, &refs, None),
            b.begin_blob_deletes(std::slice::from_ref(&d), before)
        );
        let marked = marked.expect("mark");
        match put {
            Ok(_) => assert!(
                marked.is_empty(),
                "round {i}: both the put and the delete won"
            ),
            Err(PutManifestError::Missing(_)) => {
                assert_eq!(marked.len(), 1, "round {i}: the put lost to nothing")
            }
            Err(e) => panic!("round {i}: {e:?}"),
        }
    }
}

pub async fn a_claim_lost_to_a_collection_links_nothing<S: MetaStore + IamStore>(open: Open<S>) {
    let store = store_with(&open, &["r"]).await;
    let layer = Digest::sha256_of(b"slow upload");
    let first = store
        .claim_blob(&layer, 7)
        .await
        .expect("claim")
        .expect("free");
    store
        .create_upload("u", "r", "p", ROOMY, None)
        .await
        .expect("session");
    // The upload took longer than the grace delay: a collector took the blob meanwhile.
    store
        .begin_blob_deletes(std::slice::from_ref(&layer), later())
        .await
        .expect("mark");
    assert_eq!(
        store
            .complete_upload("u", "r", &layer, 7, first)
            .await
            .expect("complete"),
        CompleteUpload::ClaimLost
    );
    assert!(
        store.upload("u").await.expect("get").is_some(),
        "the session is kept"
    );
    store
        .finish_blob_deletes(std::slice::from_ref(&layer))
        .await
        .expect("finish");
    // A row created again is another claim: the first one still does not hold.
    let second = store
        .claim_blob(&layer, 7)
        .await
        .expect("claim")
        .expect("free");
    assert_ne!(first, second);
    assert_eq!(
        store
            .complete_upload("u", "r", &layer, 7, first)
            .await
            .expect("complete"),
        CompleteUpload::ClaimLost
    );
    assert_eq!(
        store
            .complete_upload("u", "r", &layer, 7, second)
            .await
            .expect("complete"),
        CompleteUpload::Linked
    );
    assert_eq!(store.blob_link("r", &layer).await.expect("link"), Some(7));
}

pub async fn blobs_found_in_the_store_are_adopted_unreferenced<S: MetaStore + IamStore>(
    open: Open<S>,
) {
    let store = store_with(&open, &["r"]).await;
    let known = Digest::sha256_of(b"known");
    let stray = Digest::sha256_of(b"stray");
    assert!(store.link_blob("r", &known, 5).await.expect("link"));
    store
        .put_manifest("r", &image("known", None), &blobs(&[&known]), None)
        .await
        .expect("put");
    let found = [
        GcBlob {
            digest: known.clone(),
            size: 5,
        },
        GcBlob {
            digest: stray.clone(),
            size: 9,
        },
    ];
    assert_eq!(store.adopt_blobs(&found).await.expect("adopt"), 1);
    assert_eq!(store.adopt_blobs(&found).await.expect("adopt"), 0);
    assert!(!unreferenced(&*store, &known).await);
    assert!(unreferenced(&*store, &stray).await);
    let row = store.blob_row(&stray).await.expect("row").expect("row");
    assert_eq!(row.size, 9);
    assert_eq!(row.deleting_since, None);
}
