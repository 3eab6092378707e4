//! The contract every [`BlobStore`] keeps, as cases a backend's tests run through
//! [`blob_store_suite!`](crate::blob_store_suite). Each case gets a fresh, empty store.
//! Upload ids are what core hands out (UUIDs): hex digits and `-`, at most 64.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use portcullis_oci::Digest;

use crate::{BlobStore, ByteStream, Error};

/// A body made of `parts`, as a request body arrives.
pub fn body(parts: &[&[u8]]) -> ByteStream {
    let parts: Vec<std::io::Result<Bytes>> = parts
        .iter()
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    futures::stream::iter(parts).boxed()
}

/// Everything a stream yields; panics on a stream error.
pub async fn collect(stream: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = stream;
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("the stream yields bytes"));
    }
    out
}

/// Stages `data` as upload `id` and commits it; returns its digest.
pub async fn put(store: &dyn BlobStore, id: &str, data: &[u8]) -> Digest {
    let digest = Digest::sha256_of(data);
    store.create_upload(id).await.expect("create upload");
    store
        .append_upload(id, 0, body(&[data]))
        .await
        .expect("append");
    assert_eq!(
        store.commit_upload(id, &digest).await.expect("commit"),
        data.len() as u64
    );
    digest
}

pub async fn absent_things_are_absent(store: Arc<dyn BlobStore>) {
    let digest = Digest::sha256_of(b"never stored");
    assert_eq!(store.stat(&digest).await.expect("stat"), None);
    assert!(store.read(&digest, None).await.expect("read").is_none());
    assert!(!store.delete(&digest).await.expect("delete"));
    assert_eq!(store.upload_len("0dead").await.expect("len"), None);
    assert!(store.list_uploads(i64::MAX).await.expect("list").is_empty());
    // Discarding what is not there is fine: abandoned uploads race their reaper.
    store.abort_upload("0dead").await.expect("abort");
}

pub async fn an_upload_appends_commits_and_reads_back(store: Arc<dyn BlobStore>) {
    store.create_upload("a1-01").await.expect("create");
    assert_eq!(store.upload_len("a1-01").await.expect("len"), Some(0));
    let n = store
        .append_upload("a1-01", 0, body(&[b"hello ", b"wor"]))
        .await
        .expect("append");
    assert_eq!(n, 9);
    let n = store
        .append_upload("a1-01", 9, body(&[b"ld"]))
        .await
        .expect("append");
    assert_eq!(n, 11);
    assert_eq!(store.upload_len("a1-01").await.expect("len"), Some(11));
    let staged = collect(store.read_upload("a1-01").await.expect("read upload")).await;
    assert_eq!(staged, b"hello world");
    let digest = Digest::sha256_of(b"hello world");
    assert_eq!(
        store.stat(&digest).await.expect("stat"),
        None,
        "not before commit"
    );
    assert_eq!(
        store.commit_upload("a1-01", &digest).await.expect("commit"),
        11
    );
    assert_eq!(store.upload_len("a1-01").await.expect("len"), None);
    assert!(!store
        .list_uploads(i64::MAX)
        .await
        .expect("list")
        .contains(&"a1-01".to_owned()));
    assert_eq!(store.stat(&digest).await.expect("stat"), Some(11));
    let whole = store
        .read(&digest, None)
        .await
        .expect("read")
        .expect("blob");
    assert_eq!(whole.len, 11);
    assert_eq!(collect(whole.stream).await, b"hello world");
}

pub async fn ranges_read_inclusive_slices(store: Arc<dyn BlobStore>) {
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let digest = put(&*store, "a2", &data).await;
    for (start, end) in [
        (0, 0),
        (0, 99_999),
        (99_999, 99_999),
        (1, 65_537),
        (65_536, 70_000),
    ] {
        let part = store
            .read(&digest, Some((start, end)))
            .await
            .expect("read")
            .expect("blob");
        assert_eq!(part.len, end - start + 1, "{start}-{end}");
        let got = collect(part.stream).await;
        assert!(
            got == data[start as usize..=end as usize],
            "bytes {start}-{end}"
        );
    }
}

pub async fn an_append_at_the_wrong_offset_changes_nothing(store: Arc<dyn BlobStore>) {
    store.create_upload("a3").await.expect("create");
    store
        .append_upload("a3", 0, body(&[b"abc"]))
        .await
        .expect("append");
    for wrong in [0, 2, 4] {
        match store.append_upload("a3", wrong, body(&[b"x"])).await {
            Err(Error::UploadOffset { actual: 3, .. }) => {}
            other => panic!("append at {wrong}: {other:?}"),
        }
    }
    assert_eq!(store.upload_len("a3").await.expect("len"), Some(3));
    assert_eq!(
        collect(store.read_upload("a3").await.expect("read")).await,
        b"abc"
    );
}

pub async fn a_failed_body_keeps_what_arrived(store: Arc<dyn BlobStore>) {
    store.create_upload("c0").await.expect("create");
    let failing: ByteStream = futures::stream::iter(vec![
        Ok(Bytes::from_static(b"first part")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ])
    .boxed();
    assert!(store.append_upload("c0", 0, failing).await.is_err());
    // The client resumes from the offset it is told.
    assert_eq!(store.upload_len("c0").await.expect("len"), Some(10));
    let n = store
        .append_upload("c0", 10, body(&[b", second"]))
        .await
        .expect("resume");
    assert_eq!(n, 18);
    let digest = Digest::sha256_of(b"first part, second");
    assert_eq!(
        store.commit_upload("c0", &digest).await.expect("commit"),
        18
    );
}

pub async fn abort_discards_an_upload(store: Arc<dyn BlobStore>) {
    store.create_upload("d0").await.expect("create");
    store
        .append_upload("d0", 0, body(&[b"data"]))
        .await
        .expect("append");
    store.abort_upload("d0").await.expect("abort");
    assert_eq!(store.upload_len("d0").await.expect("len"), None);
    assert!(store.list_uploads(i64::MAX).await.expect("list").is_empty());
    assert!(store.append_upload("d0", 4, body(&[b"x"])).await.is_err());
}

pub async fn staged_uploads_are_listed(store: Arc<dyn BlobStore>) {
    for id in ["a-1", "b-2", "c-3"] {
        store.create_upload(id).await.expect("create");
    }
    let mut ids = store.list_uploads(i64::MAX).await.expect("list");
    ids.sort();
    assert_eq!(ids, ["a-1", "b-2", "c-3"]);
    // Files written after the cut-off are left out: the reaper must not see fresh uploads.
    assert!(store.list_uploads(0).await.expect("list").is_empty());
}

pub async fn delete_removes_a_blob(store: Arc<dyn BlobStore>) {
    let digest = put(&*store, "de1", b"to be deleted").await;
    assert!(store.delete(&digest).await.expect("delete"));
    assert_eq!(store.stat(&digest).await.expect("stat"), None);
    assert!(store.read(&digest, None).await.expect("read").is_none());
    assert!(!store.delete(&digest).await.expect("second delete"));
}

pub async fn committing_existing_content_again_keeps_one_intact_blob(store: Arc<dyn BlobStore>) {
    let first = put(&*store, "5a-1", b"identical bytes").await;
    let second = put(&*store, "5a-2", b"identical bytes").await;
    assert_eq!(first, second);
    let read = store.read(&first, None).await.expect("read").expect("blob");
    assert_eq!(collect(read.stream).await, b"identical bytes");
}

pub async fn the_empty_blob_is_a_blob(store: Arc<dyn BlobStore>) {
    let digest = put(&*store, "e0", b"").await;
    assert_eq!(store.stat(&digest).await.expect("stat"), Some(0));
    let read = store
        .read(&digest, None)
        .await
        .expect("read")
        .expect("blob");
    assert_eq!(read.len, 0);
    assert!(collect(read.stream).await.is_empty());
}

pub async fn large_blobs_stream_whole(store: Arc<dyn BlobStore>) {
    let chunk: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7 % 251) as u8).collect();
    store.create_upload("b16").await.expect("create");
    let mut offset = 0;
    for _ in 0..12 {
        offset = store
            .append_upload("b16", offset, body(&[&chunk[..524_288], &chunk[524_288..]]))
            .await
            .expect("append");
    }
    let whole: Vec<u8> = chunk
        .iter()
        .copied()
        .cycle()
        .take(12 * chunk.len())
        .collect();
    let digest = Digest::sha256_of(&whole);
    assert_eq!(
        store.commit_upload("b16", &digest).await.expect("commit"),
        whole.len() as u64
    );
    let read = store
        .read(&digest, None)
        .await
        .expect("read")
        .expect("blob");
    let mut stream = read.stream;
    let (mut chunks, mut got) = (0, Vec::with_capacity(whole.len()));
    while let Some(c) = stream.next().await {
        got.extend_from_slice(&c.expect("bytes"));
        chunks += 1;
    }
    assert!(got == whole, "12 MiB read back intact");
    assert!(chunks > 1, "a large blob streams in pieces, not one buffer");
}

pub async fn concurrent_uploads_do_not_mix(store: Arc<dyn BlobStore>) {
    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("fa-{i}");
                let data = vec![i; 200_000 + i as usize];
                store.create_upload(&id).await.expect("create");
                let mut offset = 0;
                for part in data.chunks(30_000) {
                    offset = store
                        .append_upload(&id, offset, body(&[part]))
                        .await
                        .expect("append");
                    tokio::task::yield_now().await;
                }
                let digest = Digest::sha256_of(&data);
                store.commit_upload(&id, &digest).await.expect("commit");
                (digest, data)
            })
        })
        .collect();
    for task in tasks {
        let (digest, data) = task.await.expect("task");
        let read = store
            .read(&digest, None)
            .await
            .expect("read")
            .expect("blob");
        assert!(collect(read.stream).await == data);
    }
}

pub async fn path_like_upload_ids_are_refused(store: Arc<dyn BlobStore>) {
    for id in ["../escape", "a/b", "", ".", ".."] {
        assert!(store.create_upload(id).await.is_err(), "{id:?}");
    }
}

/// Generates one `#[tokio::test]` per case of the [`BlobStore`] contract for a backend.
///
/// `$make` is an async block evaluating to `(Arc<dyn BlobStore>, guard)`; the guard (a temp
/// dir, a bucket) lives as long as the case.
#[macro_export]
macro_rules! blob_store_suite {
    ($make:expr) => {
        $crate::blob_store_suite!(@cases $make;
            absent_things_are_absent,
            an_upload_appends_commits_and_reads_back,
            ranges_read_inclusive_slices,
            an_append_at_the_wrong_offset_changes_nothing,
            a_failed_body_keeps_what_arrived,
            abort_discards_an_upload,
            staged_uploads_are_listed,
            delete_removes_a_blob,
            committing_existing_content_again_keeps_one_intact_blob,
            the_empty_blob_is_a_blob,
            large_blobs_stream_whole,
            concurrent_uploads_do_not_mix,
            path_like_upload_ids_are_refused,
        );
    };
    (@cases $make:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = $make.await;
                $crate::testsuite::blob::$case(store).await;
            }
        )*
    };
}
