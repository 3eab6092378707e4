//! The contract every [`BlobStore`] keeps, as cases a backend's tests run through
//! [`blob_store_suite!`](crate::blob_store_suite). Each case gets a fresh, empty store, and the
//! cases that hand an upload between nodes get a second instance opened on the same
//! configuration (a twin). Upload ids are what core hands out (UUIDs): hex digits and `-`, at
//! most 64. Uploads are driven as core drives them: the state a call returns is kept and passed
//! to the next one, as the metadata store would carry it between requests.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use portcullis_oci::{Algorithm, Digest};

use crate::{BlobStore, ByteStream, Error};

const MIB: usize = 1024 * 1024;

/// A body made of `parts`, as a request body arrives.
pub fn body(parts: &[&[u8]]) -> ByteStream {
    let parts: Vec<std::io::Result<Bytes>> = parts
        .iter()
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    futures::stream::iter(parts).boxed()
}

/// `data` as a body cut into network-sized chunks of an odd size.
pub fn chunked(data: &[u8]) -> ByteStream {
    let parts: Vec<std::io::Result<Bytes>> = data
        .chunks(64 * 1024 + 3)
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    futures::stream::iter(parts).boxed()
}

/// Deterministic bytes that differ from one offset to the next, so a misplaced part shows.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8)
        .collect()
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

/// An upload in progress, with the backend state core would persist for it.
pub struct Upload {
    pub id: String,
    pub state: Option<String>,
    pub len: u64,
}

impl Upload {
    pub async fn create(store: &dyn BlobStore, id: &str) -> Upload {
        let state = store.create_upload(id).await.expect("create upload");
        Upload {
            id: id.to_owned(),
            state,
            len: 0,
        }
    }

    /// Appends `body` at the current length and keeps the new state.
    pub async fn append(&mut self, store: &dyn BlobStore, body: ByteStream) -> u64 {
        let appended = store
            .append_upload(&self.id, self.len, self.state.as_deref(), body)
            .await
            .expect("append");
        assert!(
            appended.len >= self.len,
            "an append never shrinks an upload"
        );
        self.len = appended.len;
        self.state = appended.state;
        self.len
    }

    pub async fn staged_len(&self, store: &dyn BlobStore) -> Option<u64> {
        store
            .upload_len(&self.id, self.state.as_deref())
            .await
            .expect("upload len")
    }

    /// What the upload holds, or `None` where the backend cannot read it back.
    pub async fn staged(&self, store: &dyn BlobStore) -> Option<Vec<u8>> {
        match store.read_upload(&self.id, self.state.as_deref()).await {
            Ok(stream) => Some(collect(stream).await),
            Err(Error::Unsupported { .. }) => None,
            Err(e) => panic!("read upload: {e}"),
        }
    }

    pub async fn commit(&self, store: &dyn BlobStore, digest: &Digest) -> u64 {
        store
            .commit_upload(&self.id, self.state.as_deref(), digest)
            .await
            .expect("commit")
    }

    pub async fn abort(&self, store: &dyn BlobStore) {
        store
            .abort_upload(&self.id, self.state.as_deref())
            .await
            .expect("abort")
    }
}

/// Stages `data` as upload `id` and commits it; returns its digest.
pub async fn put(store: &dyn BlobStore, id: &str, data: &[u8]) -> Digest {
    let digest = Digest::sha256_of(data);
    let mut upload = Upload::create(store, id).await;
    upload.append(store, body(&[data])).await;
    assert_eq!(upload.commit(store, &digest).await, data.len() as u64);
    digest
}

/// Commits `count` distinct small blobs, several at a time; returns each digest and size.
async fn put_many(store: &dyn BlobStore, count: usize) -> Vec<(Digest, u64)> {
    futures::stream::iter(0..count)
        .map(|i| async move {
            let data = format!("small blob number {i}");
            let digest = put(store, &format!("b0-{i:04x}"), data.as_bytes()).await;
            (digest, data.len() as u64)
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// Everything [`BlobStore::list_blobs`] yields, sorted; panics on a listing error.
pub async fn listed(store: &dyn BlobStore) -> Vec<(Digest, u64)> {
    let mut blobs: Vec<(Digest, u64)> = store
        .list_blobs()
        .map(|blob| blob.expect("list blobs"))
        .collect()
        .await;
    blobs.sort();
    blobs
}

/// Reads the blob `digest` whole and checks its digest and size.
async fn read_back(store: &dyn BlobStore, digest: &Digest, len: usize) -> Vec<u8> {
    let read = store.read(digest, None).await.expect("read").expect("blob");
    assert_eq!(read.len, len as u64);
    let got = collect(read.stream).await;
    assert_eq!(got.len(), len);
    assert!(
        &Digest::sha256_of(&got) == digest,
        "digest of what reads back"
    );
    got
}

/// Checks the inclusive byte ranges `ranges` of blob `digest` against `data`.
async fn check_ranges(store: &dyn BlobStore, digest: &Digest, data: &[u8], ranges: &[(u64, u64)]) {
    for &(start, end) in ranges {
        let part = store
            .read(digest, Some((start, end)))
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

pub async fn absent_things_are_absent(store: Arc<dyn BlobStore>) {
    let digest = Digest::sha256_of(b"never stored");
    assert_eq!(store.stat(&digest).await.expect("stat"), None);
    assert!(store.read(&digest, None).await.expect("read").is_none());
    assert!(!store.delete(&digest).await.expect("delete"));
    assert_eq!(store.upload_len("0dead", None).await.expect("len"), None);
    assert!(store.list_uploads(i64::MAX).await.expect("list").is_empty());
    // Discarding what is not there is fine: abandoned uploads race their reaper.
    store.abort_upload("0dead", None).await.expect("abort");
}

pub async fn an_upload_appends_commits_and_reads_back(store: Arc<dyn BlobStore>) {
    let s = &*store;
    let mut upload = Upload::create(s, "a1-01").await;
    assert_eq!(upload.staged_len(s).await, Some(0));
    assert_eq!(upload.append(s, body(&[b"hello ", b"wor"])).await, 9);
    assert_eq!(upload.append(s, body(&[b"ld"])).await, 11);
    assert_eq!(upload.staged_len(s).await, Some(11));
    if let Some(staged) = upload.staged(s).await {
        assert_eq!(staged, b"hello world");
    }
    let digest = Digest::sha256_of(b"hello world");
    assert_eq!(
        s.stat(&digest).await.expect("stat"),
        None,
        "not before commit"
    );
    assert_eq!(upload.commit(s, &digest).await, 11);
    assert_eq!(upload.staged_len(s).await, None);
    assert!(!s
        .list_uploads(i64::MAX)
        .await
        .expect("list")
        .contains(&"a1-01".to_owned()));
    assert_eq!(s.stat(&digest).await.expect("stat"), Some(11));
    assert_eq!(read_back(s, &digest, 11).await, b"hello world");
}

pub async fn ranges_read_inclusive_slices(store: Arc<dyn BlobStore>) {
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let digest = put(&*store, "a2", &data).await;
    check_ranges(
        &*store,
        &digest,
        &data,
        &[
            (0, 0),
            (0, 99_999),
            (99_999, 99_999),
            (1, 65_537),
            (65_536, 70_000),
        ],
    )
    .await;
}

pub async fn an_append_at_the_wrong_offset_changes_nothing(store: Arc<dyn BlobStore>) {
    let s = &*store;
    let mut upload = Upload::create(s, "a3").await;
    upload.append(s, body(&[b"abc"])).await;
    for wrong in [0, 2, 4] {
        match s
            .append_upload("a3", wrong, upload.state.as_deref(), body(&[b"x"]))
            .await
        {
            Err(Error::UploadOffset { actual: 3, .. }) => {}
            other => panic!("append at {wrong}: {other:?}"),
        }
    }
    assert_eq!(upload.staged_len(s).await, Some(3));
    if let Some(staged) = upload.staged(s).await {
        assert_eq!(staged, b"abc");
    }
}

/// A node that appended but died before recording the new state: the upload resumes from the
/// recorded one, and the unrecorded bytes are in neither the upload nor the blob.
pub async fn an_unrecorded_append_is_not_part_of_the_upload(store: Arc<dyn BlobStore>) {
    let s = &*store;
    let mut upload = Upload::create(s, "a4").await;
    upload.append(s, body(&[b"abc"])).await;
    let recorded = upload.state.clone();
    upload.append(s, body(&[b"lost bytes"])).await;
    upload.state = recorded;
    upload.len = 3;
    assert_eq!(upload.staged_len(s).await, Some(3));
    upload.append(s, body(&[b"de"])).await;
    if let Some(staged) = upload.staged(s).await {
        assert_eq!(staged, b"abcde");
    }
    let digest = Digest::sha256_of(b"abcde");
    assert_eq!(upload.commit(s, &digest).await, 5);
    read_back(s, &digest, 5).await;
}

/// A body that yields `data` in chunks, then fails as a dropped connection does.
fn failing_after(data: &[u8]) -> ByteStream {
    let mut items: Vec<std::io::Result<Bytes>> = data
        .chunks(100_003)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    items.push(Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "client went away",
    )));
    futures::stream::iter(items).boxed()
}

/// Appends a body that fails after `data`, and takes what the error reports as staged.
async fn append_failing(store: &dyn BlobStore, upload: &mut Upload, data: &[u8]) {
    let result = store
        .append_upload(
            &upload.id,
            upload.len,
            upload.state.as_deref(),
            failing_after(data),
        )
        .await;
    match result {
        Err(Error::BodyAfter { appended, source }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionReset);
            assert_eq!(appended.len, upload.len + data.len() as u64);
            upload.len = appended.len;
            upload.state = appended.state;
        }
        other => panic!("a failed body gives BodyAfter: {other:?}"),
    }
}

pub async fn a_failed_body_keeps_what_arrived(store: Arc<dyn BlobStore>) {
    let s = &*store;
    let mut upload = Upload::create(s, "c0").await;
    append_failing(s, &mut upload, b"first part").await;
    // The client resumes from the offset it is told.
    assert_eq!(upload.staged_len(s).await, Some(10));
    assert_eq!(upload.append(s, body(&[b", second"])).await, 18);
    let digest = Digest::sha256_of(b"first part, second");
    assert_eq!(upload.commit(s, &digest).await, 18);
}

/// A body that fails past a part boundary (S3's 5 MiB minimum) keeps the whole parts it sent
/// and the bytes after them.
pub async fn a_failed_body_past_a_part_keeps_every_byte(store: Arc<dyn BlobStore>) {
    let s = &*store;
    let data = pattern(20 * MIB + 17, 3);
    let (first, rest) = data.split_at(9 * MIB + 5);
    let mut upload = Upload::create(s, "c1").await;
    append_failing(s, &mut upload, first).await;
    assert_eq!(upload.staged_len(s).await, Some(first.len() as u64));
    append_failing(s, &mut upload, &rest[..MIB]).await;
    upload.append(s, chunked(&rest[MIB..])).await;
    let digest = Digest::sha256_of(&data);
    assert_eq!(upload.commit(s, &digest).await, data.len() as u64);
    read_back(s, &digest, data.len()).await;
}

pub async fn abort_discards_an_upload(store: Arc<dyn BlobStore>) {
    let s = &*store;
    let mut upload = Upload::create(s, "d0").await;
    upload.append(s, body(&[b"data"])).await;
    upload.abort(s).await;
    assert_eq!(upload.staged_len(s).await, None);
    assert!(s.list_uploads(i64::MAX).await.expect("list").is_empty());
    assert!(s
        .append_upload("d0", 4, upload.state.as_deref(), body(&[b"x"]))
        .await
        .is_err());
}

/// An upload with whole parts staged (a multipart upload on S3) leaves nothing behind.
pub async fn abort_discards_a_large_upload(store: Arc<dyn BlobStore>) {
    let s = &*store;
    let data = pattern(11 * MIB + 1, 5);
    let mut upload = Upload::create(s, "d1").await;
    upload.append(s, chunked(&data)).await;
    upload.abort(s).await;
    assert_eq!(upload.staged_len(s).await, None);
    assert!(s.list_uploads(i64::MAX).await.expect("list").is_empty());
    let digest = Digest::sha256_of(&data);
    assert!(s
        .commit_upload("d1", upload.state.as_deref(), &digest)
        .await
        .is_err());
    assert_eq!(s.stat(&digest).await.expect("stat"), None);
    assert!(s
        .append_upload("d1", upload.len, upload.state.as_deref(), body(&[b"x"]))
        .await
        .is_err());
    // A second abort, as the reaper may send, is fine too.
    upload.abort(s).await;
}

pub async fn staged_uploads_are_listed(store: Arc<dyn BlobStore>) {
    for id in ["a-1", "b-2", "c-3"] {
        Upload::create(&*store, id).await;
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

/// Each committed blob is listed once, with its size, whatever its algorithm; uploads in
/// progress are not blobs yet.
pub async fn committed_blobs_are_listed_with_their_sizes(store: Arc<dyn BlobStore>) {
    let s = &*store;
    assert!(listed(s).await.is_empty(), "a fresh store lists nothing");
    let large = pattern(300_000, 19);
    let mut expected = Vec::new();
    for (id, data) in [("11-1", &b""[..]), ("11-2", b"small"), ("11-3", &large)] {
        expected.push((put(s, id, data).await, data.len() as u64));
    }
    // The same content again is still one blob.
    put(s, "11-4", b"small").await;
    let sha512 = Digest::of(Algorithm::Sha512, b"hashed with sha512");
    let mut upload = Upload::create(s, "11-5").await;
    upload.append(s, body(&[b"hashed with sha512"])).await;
    assert_eq!(upload.commit(s, &sha512).await, 18);
    expected.push((sha512, 18));
    let mut staged = Upload::create(s, "11-6").await;
    staged.append(s, body(&[b"not committed yet"])).await;
    Upload::create(s, "11-7").await;
    expected.sort();
    assert_eq!(listed(s).await, expected);
}

/// `delete_many` answers for each digest in order, present or absent, and removes exactly the
/// blobs it names.
pub async fn blobs_are_deleted_in_batches(store: Arc<dyn BlobStore>) {
    let s = &*store;
    assert!(s.delete_many(&[]).await.is_empty());
    let first = put(s, "de-1", b"first").await;
    let kept = put(s, "de-2", b"second").await;
    let third = put(s, "de-3", b"third").await;
    let absent = Digest::sha256_of(b"never stored");
    let absent_sha512 = Digest::of(Algorithm::Sha512, b"never stored");
    let results = s
        .delete_many(&[first.clone(), absent, third.clone(), absent_sha512])
        .await;
    assert_eq!(results.len(), 4, "one result per digest");
    for (i, result) in results.iter().enumerate() {
        assert!(result.is_ok(), "digest {i}: {result:?}");
    }
    assert_eq!(s.stat(&first).await.expect("stat"), None);
    assert_eq!(s.stat(&third).await.expect("stat"), None);
    assert!(s.read(&first, None).await.expect("read").is_none());
    assert_eq!(listed(s).await, [(kept.clone(), 6)]);
    // Garbage collection retried after a crash deletes what is already gone.
    let again = s.delete_many(&[first, third]).await;
    assert!(again.iter().all(Result::is_ok), "{again:?}");
    read_back(s, &kept, 6).await;
}

/// More blobs than one request lists or deletes on S3 (a thousand keys each): every one is
/// listed, and one `delete_many` removes them all.
pub async fn more_blobs_than_a_request_holds_are_listed_and_deleted(store: Arc<dyn BlobStore>) {
    let s = &*store;
    let mut blobs = put_many(s, 1205).await;
    blobs.sort();
    assert_eq!(listed(s).await, blobs);
    let survivors = blobs.split_off(1200);
    // Absent digests spread through the batch, across the thousand-key boundary.
    let mut doomed: Vec<Digest> = Vec::new();
    for (i, (digest, _)) in blobs.iter().enumerate() {
        doomed.push(digest.clone());
        if i % 300 == 0 {
            doomed.push(Digest::sha256_of(format!("absent {i}").as_bytes()));
        }
    }
    let results = s.delete_many(&doomed).await;
    assert_eq!(results.len(), doomed.len(), "one result per digest");
    let failed: Vec<_> = results
        .iter()
        .zip(&doomed)
        .filter(|(result, _)| result.is_err())
        .collect();
    assert!(failed.is_empty(), "{} failed: {failed:?}", failed.len());
    assert_eq!(listed(s).await, survivors);
    assert_eq!(s.stat(&blobs[0].0).await.expect("stat"), None);
    assert_eq!(s.stat(&blobs[1199].0).await.expect("stat"), None);
}

pub async fn committing_existing_content_again_keeps_one_intact_blob(store: Arc<dyn BlobStore>) {
    let s = &*store;
    let first = put(s, "5a-1", b"identical bytes").await;
    let second = put(s, "5a-2", b"identical bytes").await;
    assert_eq!(first, second);
    read_back(s, &first, 15).await;
    // The same with content large enough to be staged in parts.
    let data = pattern(9 * MIB + 7, 11);
    let digest = Digest::sha256_of(&data);
    for id in ["5b-1", "5b-2"] {
        let mut upload = Upload::create(s, id).await;
        upload.append(s, chunked(&data)).await;
        assert_eq!(upload.commit(s, &digest).await, data.len() as u64);
        assert_eq!(upload.staged_len(s).await, None, "staging of {id} removed");
    }
    read_back(s, &digest, data.len()).await;
    assert!(s.list_uploads(i64::MAX).await.expect("list").is_empty());
}

pub async fn the_empty_blob_is_a_blob(store: Arc<dyn BlobStore>) {
    let digest = put(&*store, "e0", b"").await;
    assert_eq!(store.stat(&digest).await.expect("stat"), Some(0));
    read_back(&*store, &digest, 0).await;
    // An upload committed without any append at all.
    let upload = Upload::create(&*store, "e1").await;
    assert_eq!(upload.commit(&*store, &digest).await, 0);
    assert_eq!(upload.staged_len(&*store).await, None);
}

pub async fn large_blobs_stream_whole(store: Arc<dyn BlobStore>) {
    let s = &*store;
    let chunk: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut upload = Upload::create(s, "b16").await;
    for _ in 0..12 {
        upload
            .append(s, body(&[&chunk[..524_288], &chunk[524_288..]]))
            .await;
    }
    let whole: Vec<u8> = chunk
        .iter()
        .copied()
        .cycle()
        .take(12 * chunk.len())
        .collect();
    let digest = Digest::sha256_of(&whole);
    assert_eq!(upload.commit(s, &digest).await, whole.len() as u64);
    let read = s.read(&digest, None).await.expect("read").expect("blob");
    let mut stream = read.stream;
    let (mut chunks, mut got) = (0, Vec::with_capacity(whole.len()));
    while let Some(c) = stream.next().await {
        got.extend_from_slice(&c.expect("bytes"));
        chunks += 1;
    }
    assert!(got == whole, "12 MiB read back intact");
    assert!(chunks > 1, "a large blob streams in pieces, not one buffer");
}

/// Appends of sizes around S3's 5 MiB part minimum, then 12 MiB in several appends: the blob
/// commits whole, and ranges across every boundary read back exactly.
pub async fn appends_of_odd_sizes_commit_whole(store: Arc<dyn BlobStore>) {
    let s = &*store;
    let sizes = [
        1,
        5 * MIB - 1,
        5 * MIB + 1,
        4 * MIB + 3,
        4 * MIB - 3,
        4 * MIB,
    ];
    let data = pattern(sizes.iter().sum(), 7);
    let mut upload = Upload::create(s, "0dd-1").await;
    let mut at = 0;
    for size in sizes {
        let end = at + size;
        assert_eq!(upload.append(s, chunked(&data[at..end])).await, end as u64);
        assert_eq!(upload.staged_len(s).await, Some(end as u64));
        at = end;
    }
    let digest = Digest::sha256_of(&data);
    assert_eq!(upload.commit(s, &digest).await, data.len() as u64);
    assert_eq!(
        s.stat(&digest).await.expect("stat"),
        Some(data.len() as u64)
    );
    read_back(s, &digest, data.len()).await;
    let last = data.len() as u64 - 1;
    let mib = MIB as u64;
    check_ranges(
        s,
        &digest,
        &data,
        &[
            (0, 0),
            (1, 1),
            (0, 5 * mib),
            (5 * mib - 1, 5 * mib + 1),
            (8 * mib - 2, 8 * mib + 2),
            (10 * mib - 1, 16 * mib + 1),
            (last, last),
            (last - 3 * mib, last),
        ],
    )
    .await;
    // Single-byte uploads and one just under a part, each committed alone.
    for (id, len) in [("0dd-2", 1), ("0dd-3", 5 * MIB - 1), ("0dd-4", 5 * MIB + 1)] {
        let data = pattern(len, len as u32);
        let digest = Digest::sha256_of(&data);
        let mut upload = Upload::create(s, id).await;
        upload.append(s, chunked(&data)).await;
        assert_eq!(upload.commit(s, &digest).await, len as u64);
        read_back(s, &digest, len).await;
    }
}

/// One upload driven through two instances of the store in turn, as requests of one push land
/// on different nodes: each continues from the state the other returned.
pub async fn an_upload_moves_between_instances(
    store: Arc<dyn BlobStore>,
    twin: Arc<dyn BlobStore>,
) {
    let data = pattern(14 * MIB + 9, 13);
    let cuts = [0, 3, 6 * MIB, 6 * MIB + 1, 9 * MIB, 14 * MIB, data.len()];
    let mut upload = Upload::create(&*store, "ab-1").await;
    for (i, w) in cuts.windows(2).enumerate() {
        let node: &dyn BlobStore = if i % 2 == 0 { &*twin } else { &*store };
        let (from, to) = (w[0], w[1]);
        assert_eq!(
            upload.append(node, chunked(&data[from..to])).await,
            to as u64
        );
        let other: &dyn BlobStore = if i % 2 == 0 { &*store } else { &*twin };
        assert_eq!(upload.staged_len(other).await, Some(to as u64));
    }
    let digest = Digest::sha256_of(&data);
    assert_eq!(upload.commit(&*twin, &digest).await, data.len() as u64);
    read_back(&*store, &digest, data.len()).await;
    assert_eq!(upload.staged_len(&*store).await, None);
}

/// A presigned URL, where the backend gives one, serves the blob's exact bytes to a client
/// that holds no credentials.
pub async fn presigned_urls_serve_the_blob(store: Arc<dyn BlobStore>) {
    let data = pattern(300_000, 17);
    let digest = put(&*store, "9e-1", &data).await;
    let expires = std::time::Duration::from_secs(300);
    let Some(url) = store
        .presigned_get(&digest, expires)
        .await
        .expect("presign")
    else {
        return;
    };
    assert!(matches!(url.scheme(), "http" | "https"), "{url}");
    let response = reqwest::get(url.clone()).await.expect("GET presigned");
    assert!(response.status().is_success(), "{}", response.status());
    let got = response.bytes().await.expect("body");
    assert!(got == data, "the presigned URL serves the blob");
    // The signature covers the path: another blob's key under the same query is refused.
    let other = put(&*store, "9e-2", b"another blob").await;
    let forged = url
        .as_str()
        .replace(digest.hex(), other.hex())
        .parse::<reqwest::Url>()
        .expect("url");
    let response = reqwest::get(forged).await.expect("GET forged");
    assert!(response.status().is_client_error(), "{}", response.status());
}

pub async fn concurrent_uploads_do_not_mix(store: Arc<dyn BlobStore>) {
    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("fa-{i}");
                let data = vec![i; 200_000 + i as usize];
                let mut upload = Upload::create(&*store, &id).await;
                for part in data.chunks(30_000) {
                    upload.append(&*store, body(&[part])).await;
                    tokio::task::yield_now().await;
                }
                let digest = Digest::sha256_of(&data);
                upload.commit(&*store, &digest).await;
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
/// `$make` is an async block evaluating to `Option<(store, twin, guard)>`: two
/// `Arc<dyn BlobStore>` instances opened on the same configuration (so an upload can move from
/// one to the other) and a guard (a temp dir, a bucket prefix) that lives as long as the case.
/// `None` skips the case, for a backend whose test service is not configured; `$make` says why.
#[macro_export]
macro_rules! blob_store_suite {
    ($make:expr) => {
        $crate::blob_store_suite!(@cases $make;
            absent_things_are_absent,
            an_upload_appends_commits_and_reads_back,
            ranges_read_inclusive_slices,
            an_append_at_the_wrong_offset_changes_nothing,
            an_unrecorded_append_is_not_part_of_the_upload,
            a_failed_body_keeps_what_arrived,
            a_failed_body_past_a_part_keeps_every_byte,
            abort_discards_an_upload,
            abort_discards_a_large_upload,
            staged_uploads_are_listed,
            delete_removes_a_blob,
            committed_blobs_are_listed_with_their_sizes,
            blobs_are_deleted_in_batches,
            more_blobs_than_a_request_holds_are_listed_and_deleted,
            committing_existing_content_again_keeps_one_intact_blob,
            the_empty_blob_is_a_blob,
            large_blobs_stream_whole,
            appends_of_odd_sizes_commit_whole,
            presigned_urls_serve_the_blob,
            concurrent_uploads_do_not_mix,
            path_like_upload_ids_are_refused,
        );
        $crate::blob_store_suite!(@twin_cases $make;
            an_upload_moves_between_instances,
        );
    };
    (@cases $make:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((store, _twin, _guard)) = $make.await else { return };
                $crate::testsuite::blob::$case(store).await;
            }
        )*
    };
    (@twin_cases $make:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((store, twin, _guard)) = $make.await else { return };
                $crate::testsuite::blob::$case(store, twin).await;
            }
        )*
    };
}
