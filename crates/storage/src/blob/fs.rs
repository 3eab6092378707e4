//! Blobs on the local filesystem.
//!
//! Hand-written over `std::fs` rather than `object_store`'s `LocalFileSystem`: resumable uploads
//! need appends at a known offset that survive a restart, and `object_store` exposes only
//! whole-object puts and multipart uploads that cannot be reopened after the process dies.
//! Writes and reads run on blocking threads fed by bounded channels, so a request's task keeps
//! hashing while the disk works, and memory stays at a few chunks per stream.

mod pool;

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::StreamExt;
use portcullis_oci::{Algorithm, Digest};
use tokio::sync::mpsc;

use self::pool::BufferPool;
use super::{Appended, BlobRead, BlobStore, ByteStream};
use crate::layout::{
    blob_path, create_private_dir_all, upload_path, BLOBS_DIR, FILE_MODE, UPLOADS_DIR,
};
use crate::{Error, Result};

/// Blobs read in one piece when smaller than this; larger ones are streamed.
const SMALL_BLOB: u64 = 256 * 1024;
const READ_CHUNK: usize = 1024 * 1024;
/// Read buffers the store keeps for reuse (a pull holds about six at a time).
const POOLED_READ_BUFFERS: usize = 8;
/// Received chunks are gathered, without copying, until they make this many bytes (or
/// [`WRITE_SLICES`] chunks), then written with one `writev`.
const WRITE_BATCH: usize = 1024 * 1024;
const WRITE_SLICES: usize = 64;
/// With fsync on, a helper thread flushes the staging file each time this much more has been
/// written, so the commit's fsync finds little left to write.
const WRITEBACK_EVERY: u64 = 32 * 1024 * 1024;
/// Chunks in flight between a request task and its disk thread.
const CHANNEL_DEPTH: usize = 16;

pub struct FsBlobStore {
    root: PathBuf,
    fsync: bool,
    read_buffers: Arc<BufferPool>,
}

impl FsBlobStore {
    /// Opens (creating) the blob tree under `root`. With `fsync`, commits flush file data and
    /// the directory entry, so a committed blob survives power loss, not only a process crash.
    /// Directories are created 0700 and files 0600, whatever the umask.
    pub fn open(root: impl Into<PathBuf>, fsync: bool) -> Result<Self> {
        let root = root.into();
        for dir in [BLOBS_DIR, UPLOADS_DIR] {
            let p = root.join(dir);
            create_private_dir_all(&p).map_err(|e| Error::io(p.display().to_string(), e))?;
        }
        Ok(FsBlobStore {
            root,
            fsync,
            read_buffers: BufferPool::new(READ_CHUNK, POOLED_READ_BUFFERS),
        })
    }

    fn upload_file(&self, id: &str) -> Result<PathBuf> {
        upload_path(&self.root, id).ok_or_else(|| Error::UploadUnknown(id.to_owned()))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(path.display().to_string(), e)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::io("blocking task", std::io::Error::other(e)))?
}

/// Streams `len` bytes of `file` from its current position on a blocking thread.
fn stream_file(mut file: File, len: u64, buffers: Arc<BufferPool>) -> ByteStream {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut left = len;
        while left > 0 {
            let want = left.min(READ_CHUNK as u64) as usize;
            let mut buf = buffers.take();
            let res = file.read_exact(buf.space(want)).map(|()| buf.freeze(want));
            let failed = res.is_err();
            if tx.blocking_send(res).is_err() || failed {
                return;
            }
            left -= want as u64;
        }
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from(mut rx: mpsc::Receiver<std::io::Result<Bytes>>) -> ByteStream {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// Writes every byte of `chunks` with as few `writev` calls as the kernel allows.
fn write_all_vectored(file: &mut File, chunks: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Appends what arrives on `rx` to `file` (which holds `offset` bytes) until the channel
/// closes, and returns the new length. With `fsync`, starts [`Writeback`] once the upload is
/// large enough to need it.
fn write_chunks(
    file: &mut File,
    rx: &mut mpsc::Receiver<Bytes>,
    offset: u64,
    fsync: bool,
    writeback: &mut Option<Writeback>,
) -> std::io::Result<u64> {
    // Gathered rather than copied into a write buffer: the chunks are already in memory, and
    // a copy per byte cost more than the extra system calls.
    let mut batch: Vec<Bytes> = Vec::with_capacity(WRITE_SLICES);
    let mut batched = 0;
    let mut len = offset;
    let mut unsynced = 0;
    loop {
        let next = rx.blocking_recv();
        let end = next.is_none();
        // An empty chunk (a body may yield one) would make writev write nothing, which reads
        // as a failed write.
        if let Some(chunk) = next.filter(|c| !c.is_empty()) {
            batched += chunk.len();
            batch.push(chunk);
        }
        let full = batched >= WRITE_BATCH || batch.len() >= WRITE_SLICES;
        if (full || end) && !batch.is_empty() {
            write_all_vectored(file, &batch)?;
            len += batched as u64;
            unsynced += batched as u64;
            batch.clear();
            batched = 0;
        }
        if fsync && unsynced >= WRITEBACK_EVERY {
            unsynced = 0;
            if writeback.is_none() {
                *writeback = Writeback::start(file);
            }
            if let Some(w) = writeback {
                w.kick();
            }
        }
        if end {
            return Ok(len);
        }
    }
}

/// Flushes a staging file from another thread while its upload streams in. Without it the
/// whole blob sat dirty in the page cache (the kernel's background writeback waits for 10 % of
/// RAM) and the commit's fsync wrote all of it while the client waited: 130 ms for 256 MiB.
struct Writeback {
    kick: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl Writeback {
    /// `None` when no thread could be had; the commit's fsync then does all the work, as before.
    fn start(file: &File) -> Option<Self> {
        let file = file.try_clone().ok()?;
        let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("blob-writeback".into())
            .spawn(move || {
                while kicked.recv().is_ok() {
                    file.sync_data()?;
                }
                Ok(())
            })
            .ok()?;
        Some(Writeback { kick, thread })
    }

    /// Asks for a flush of everything written so far; a flush still running will do.
    fn kick(&self) {
        let _ = self.kick.try_send(());
    }

    /// Waits for the flush in progress, if any, and tells whether every flush succeeded.
    fn finish(self) -> std::io::Result<()> {
        drop(self.kick);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("writeback thread panicked")))
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// A directory of the blob tree still to be listed by [`FsBlobStore::list_blobs`].
enum BlobDir {
    /// `blobs/`, holding one directory per algorithm.
    Root(PathBuf),
    /// `blobs/<alg>/`, holding the `<hex[0..2]>` directories.
    Algorithm(PathBuf, Algorithm),
    /// `blobs/<alg>/<xx>/`, holding the blobs whose hex starts with `xx`.
    Prefix(PathBuf, Algorithm, String),
}

/// What listing one [`BlobDir`] found.
enum Listed {
    Dirs(Vec<BlobDir>),
    Blobs(Vec<(Digest, u64)>),
}

/// Algorithms a directory under `blobs/` may be named after. One missing here is not lost
/// silently: the walk warns about its directory.
const ALGORITHMS: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];

/// The entries of `dir`, with each one's metadata (following symbolic links, as `stat` and
/// `read` do). A directory that does not exist is empty: `blobs/` may have been removed by
/// hand, and an entry removed between the listing and its `stat` is simply gone.
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf, std::fs::Metadata)>> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir.display().to_string(), e)),
    };
    let mut out = Vec::new();
    for entry in listing {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            tracing::warn!(path = %path.display(), "skipping a name in the blob tree that is not UTF-8");
            continue;
        };
        let meta = match entry.metadata() {
            Ok(m) if m.file_type().is_symlink() => std::fs::metadata(&path),
            other => other,
        };
        let meta = match meta {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(path.display().to_string(), e)),
        };
        out.push((name, path, meta));
    }
    Ok(out)
}

impl BlobDir {
    /// Lists the directory on the calling (blocking) thread. Names the layout cannot have
    /// written are skipped with a warning: they are no blob `stat` or `delete` could reach, so
    /// garbage collection must not count them.
    fn list(self) -> Result<Listed> {
        match self {
            BlobDir::Root(dir) => {
                let mut dirs = Vec::new();
                for (name, path, meta) in entries(&dir)? {
                    match ALGORITHMS.into_iter().find(|a| a.name() == name) {
                        Some(alg) if meta.is_dir() => dirs.push(BlobDir::Algorithm(path, alg)),
                        _ => {
                            tracing::warn!(path = %path.display(), "skipping what is not a digest algorithm's directory in the blob tree");
                        }
                    }
                }
                Ok(Listed::Dirs(dirs))
            }
            BlobDir::Algorithm(dir, alg) => {
                let mut dirs = Vec::new();
                for (name, path, meta) in entries(&dir)? {
                    let prefix = name.len() == 2
                        && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                    if prefix && meta.is_dir() {
                        dirs.push(BlobDir::Prefix(path, alg, name));
                    } else {
                        tracing::warn!(path = %path.display(), "skipping what is not a digest prefix directory in the blob tree");
                    }
                }
                Ok(Listed::Dirs(dirs))
            }
            BlobDir::Prefix(dir, alg, prefix) => {
                let mut blobs = Vec::new();
                for (name, path, meta) in entries(&dir)? {
                    // Commits rename finished files in from `uploads/`, so nothing here is
                    // half-written; the digest must also sit under its own prefix, or
                    // `blob_path` would never find it.
                    match format!("{}:{name}", alg.name()).parse::<Digest>() {
                        Ok(digest) if meta.is_file() && digest.hex().starts_with(&prefix) => {
                            blobs.push((digest, meta.len()));
                        }
                        _ => {
                            tracing::warn!(path = %path.display(), "skipping what is not a blob in the blob tree");
                        }
                    }
                }
                Ok(Listed::Blobs(blobs))
            }
        }
    }
}

/// The walk behind [`FsBlobStore::list_blobs`]: directories still to list, and the blobs of
/// the last one listed, still to yield.
struct BlobWalk {
    pending: Vec<BlobDir>,
    ready: std::vec::IntoIter<(Digest, u64)>,
}

#[async_trait]
impl BlobStore for FsBlobStore {
    fn backend(&self) -> &'static str {
        "fs"
    }

    async fn check(&self) -> Result<()> {
        // A probe written and removed where uploads are staged: a full or read-only disk, or a
        // directory gone, shows here. The dot keeps it apart from upload ids.
        let probe = self
            .root
            .join(UPLOADS_DIR)
            .join(format!(".ready-{}", uuid::Uuid::new_v4().simple()));
        blocking(move || {
            std::fs::write(&probe, b"ok").map_err(io_err(&probe))?;
            std::fs::remove_file(&probe).map_err(io_err(&probe))
        })
        .await
    }

    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        let path = blob_path(&self.root, digest);
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path.display().to_string(), e)),
        }
    }

    async fn read(&self, digest: &Digest, range: Option<(u64, u64)>) -> Result<Option<BlobRead>> {
        let path = blob_path(&self.root, digest);
        let buffers = self.read_buffers.clone();
        blocking(move || {
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io(path.display().to_string(), e)),
            };
            let size = file.metadata().map_err(io_err(&path))?.len();
            let (start, len) = match range {
                Some((s, e)) if s <= e && e < size => (s, e - s + 1),
                Some(_) => return Err(Error::Corrupt(format!("range outside {}", path.display()))),
                None => (0, size),
            };
            if start > 0 {
                file.seek(SeekFrom::Start(start)).map_err(io_err(&path))?;
            }
            if len <= SMALL_BLOB {
                let mut buf = BytesMut::zeroed(len as usize);
                file.read_exact(&mut buf).map_err(io_err(&path))?;
                let one = futures::stream::once(futures::future::ready(Ok(buf.freeze())));
                return Ok(Some(BlobRead {
                    len,
                    stream: one.boxed(),
                }));
            }
            Ok(Some(BlobRead {
                len,
                stream: stream_file(file, len, buffers),
            }))
        })
        .await
    }

    async fn delete(&self, digest: &Digest) -> Result<bool> {
        let path = blob_path(&self.root, digest);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(path.display().to_string(), e)),
        }
    }

    async fn create_upload(&self, id: &str) -> Result<Option<String>> {
        let path = self.upload_file(id)?;
        blocking(move || {
            use std::os::unix::fs::OpenOptionsExt;
            // The staging file keeps its mode when it is renamed into `blobs/`.
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(&path)
                .map_err(io_err(&path))?;
            // The state is the recorded length, from the start: bytes an unrecorded first
            // append leaves are then cut like any others.
            Ok(Some("0".to_owned()))
        })
        .await
    }

    async fn upload_len(&self, id: &str, state: Option<&str>) -> Result<Option<u64>> {
        let path = self.upload_file(id)?;
        let recorded = staged_len(id, state)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(Some(recorded.unwrap_or(m.len()).min(m.len()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path.display().to_string(), e)),
        }
    }

    async fn append_upload(
        &self,
        id: &str,
        offset: u64,
        state: Option<&str>,
        mut body: ByteStream,
    ) -> Result<Appended> {
        let path = self.upload_file(id)?;
        let recorded = staged_len(id, state)?;
        let id_owned = id.to_owned();
        let fsync = self.fsync;
        let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
        let writer = tokio::task::spawn_blocking(move || -> Result<u64> {
            let mut file = match OpenOptions::new().append(true).open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::UploadUnknown(id_owned))
                }
                Err(e) => return Err(Error::io(path.display().to_string(), e)),
            };
            let on_disk = file.metadata().map_err(io_err(&path))?.len();
            // The recorded length is the upload's; bytes past it were never acknowledged (a
            // crash, or a body failure whose progress was not recorded) and are resent.
            let actual = recorded.unwrap_or(on_disk).min(on_disk);
            if actual != offset {
                return Err(Error::UploadOffset {
                    id: id_owned,
                    expected: offset,
                    actual,
                });
            }
            if on_disk > offset {
                file.set_len(offset).map_err(io_err(&path))?;
            }
            let mut writeback = None;
            let written = write_chunks(&mut file, &mut rx, offset, fsync, &mut writeback)
                .map_err(io_err(&path));
            if let Some(Err(e)) = writeback.map(Writeback::finish) {
                // The failed flush has marked the error as seen, so the fsync of a descriptor
                // opened later (the commit's) would not report it: these staged bytes can
                // never be trusted, and the upload goes.
                let _ = std::fs::remove_file(&path);
                return Err(Error::io(path.display().to_string(), e));
            }
            written
        });
        let mut body_error = None;
        while let Some(item) = body.next().await {
            match item {
                Ok(chunk) => {
                    if tx.send(chunk).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Err(e) => {
                    body_error = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let written = writer
            .await
            .map_err(|e| Error::io("upload writer", std::io::Error::other(e)))??;
        let appended = Appended {
            len: written,
            state: Some(written.to_string()),
        };
        match body_error {
            Some(source) => Err(Error::BodyAfter { appended, source }),
            None => Ok(appended),
        }
    }

    async fn read_upload(&self, id: &str, state: Option<&str>) -> Result<ByteStream> {
        let path = self.upload_file(id)?;
        let recorded = staged_len(id, state)?;
        let id = id.to_owned();
        let buffers = self.read_buffers.clone();
        blocking(move || {
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::UploadUnknown(id))
                }
                Err(e) => return Err(Error::io(path.display().to_string(), e)),
            };
            let len = file.metadata().map_err(io_err(&path))?.len();
            Ok(stream_file(file, recorded.unwrap_or(len).min(len), buffers))
        })
        .await
    }

    async fn commit_upload(&self, id: &str, state: Option<&str>, digest: &Digest) -> Result<u64> {
        let from = self.upload_file(id)?;
        let recorded = staged_len(id, state)?;
        let to = blob_path(&self.root, digest);
        let fsync = self.fsync;
        let id = id.to_owned();
        blocking(move || {
            let file = match OpenOptions::new().write(true).open(&from) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::UploadUnknown(id))
                }
                Err(e) => return Err(Error::io(from.display().to_string(), e)),
            };
            let mut size = file.metadata().map_err(io_err(&from))?.len();
            // The blob is what was recorded, not what a failed append left after it: the
            // digest was checked against the recorded bytes only.
            match recorded {
                Some(len) if len > size => {
                    return Err(Error::UploadOffset {
                        id,
                        expected: len,
                        actual: size,
                    })
                }
                Some(len) if len < size => {
                    file.set_len(len).map_err(io_err(&from))?;
                    size = len;
                }
                _ => {}
            }
            if fsync {
                file.sync_data().map_err(io_err(&from))?;
            }
            drop(file);
            let dir = to.parent().map(Path::to_path_buf).unwrap_or_default();
            create_private_dir_all(&dir).map_err(io_err(&dir))?;
            // Content-addressed: an existing blob already holds these bytes, so the rename may
            // replace it without a reader ever seeing anything but complete content.
            std::fs::rename(&from, &to).map_err(io_err(&to))?;
            if fsync {
                sync_dir(&dir)?;
            }
            Ok(size)
        })
        .await
    }

    async fn abort_upload(&self, id: &str, _state: Option<&str>) -> Result<()> {
        let path = self.upload_file(id)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(path.display().to_string(), e)),
        }
    }

    async fn list_uploads(&self, modified_before_ms: i64) -> Result<Vec<String>> {
        let dir = self.root.join(UPLOADS_DIR);
        blocking(move || {
            let mut ids = Vec::new();
            for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
                let entry = entry.map_err(io_err(&dir))?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                // Readiness probes, not uploads.
                if name.starts_with('.') {
                    continue;
                }
                // An unreadable mtime counts as young: keeping a file is the safe mistake.
                let modified_ms = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_millis() as i64);
                if modified_ms.is_some_and(|m| m < modified_before_ms) {
                    ids.push(name);
                }
            }
            Ok(ids)
        })
        .await
    }

    /// Walks `blobs/` one directory per blocking task, yielding each prefix directory's blobs
    /// as its listing completes: memory holds one directory's names, not the whole tree. The
    /// stream ends after its first error.
    fn list_blobs(&self) -> BoxStream<'_, Result<(Digest, u64)>> {
        let walk = BlobWalk {
            pending: vec![BlobDir::Root(self.root.join(BLOBS_DIR))],
            ready: Vec::new().into_iter(),
        };
        futures::stream::unfold(Some(walk), |walk| async move {
            let mut walk = walk?;
            loop {
                if let Some(blob) = walk.ready.next() {
                    return Some((Ok(blob), Some(walk)));
                }
                let dir = walk.pending.pop()?;
                match blocking(move || dir.list()).await {
                    Ok(Listed::Dirs(dirs)) => walk.pending.extend(dirs),
                    Ok(Listed::Blobs(blobs)) => walk.ready = blobs.into_iter(),
                    Err(e) => return Some((Err(e), None)),
                }
            }
        })
        .boxed()
    }
}

/// The length an upload's state records. The filesystem's state is that length alone: the
/// staging file may hold more after an append that failed or was never recorded.
fn staged_len(id: &str, state: Option<&str>) -> Result<Option<u64>> {
    state
        .map(|s| {
            s.parse::<u64>().map_err(|_| Error::UploadState {
                id: id.to_owned(),
                reason: "not a filesystem upload state (a length)".into(),
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(s: ByteStream) -> Vec<u8> {
        s.map(|r| r.unwrap()).collect::<Vec<_>>().await.concat()
    }

    /// The contract every blob store keeps, on a fresh temp dir per case.
    mod contract {
        use std::sync::Arc;

        use crate::blob::fs::FsBlobStore;
        use crate::BlobStore;

        crate::blob_store_suite!(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = FsBlobStore::open(dir.path(), true).expect("open");
            // Two nodes sharing a filesystem: the second instance sees the first's staging.
            let twin = FsBlobStore::open(dir.path(), true).expect("open twin");
            Some((
                Arc::new(store) as Arc<dyn BlobStore>,
                Arc::new(twin) as Arc<dyn BlobStore>,
                dir,
            ))
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn names_the_layout_never_writes_are_not_listed() {
        use crate::testsuite::blob::{listed, put};
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path(), false).unwrap();
        let kept = put(&store, "f1", b"kept").await;
        let hex = Digest::sha256_of(b"stray").hex().to_owned();
        let (prefix, other) = (&hex[..2], if hex.starts_with("00") { "01" } else { "00" });
        let blobs = dir.path().join(BLOBS_DIR);
        let strays = [
            format!("sha256/{other}/{hex}"),
            format!("sha256/{prefix}/{}", hex.to_uppercase()),
            format!("sha256/{prefix}/not-a-digest"),
            format!("sha256/{prefix}/.{hex}.tmp"),
            format!("sha256/{hex}"),
            format!("sha256/zz/{hex}"),
            format!("sha512/{prefix}/{hex}"),
            format!("md5/{prefix}/{hex}"),
            "stray".to_owned(),
        ];
        for stray in &strays {
            let path = blobs.join(stray);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"stray").unwrap();
        }
        // A directory under a blob's own name is no blob either.
        std::fs::create_dir_all(blobs.join(format!("sha256/{prefix}/{hex}"))).unwrap();
        assert_eq!(listed(&store).await, [(kept, 4)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_blob_tree_lists_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path(), false).unwrap();
        std::fs::remove_dir(dir.path().join(BLOBS_DIR)).unwrap();
        assert!(crate::testsuite::blob::listed(&store).await.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unlistable_blob_tree_ends_the_listing_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path(), false).unwrap();
        let blobs = dir.path().join(BLOBS_DIR);
        std::fs::remove_dir(&blobs).unwrap();
        std::fs::write(&blobs, b"not a directory").unwrap();
        let got: Vec<_> = store.list_blobs().collect().await;
        assert!(matches!(got.as_slice(), [Err(Error::Io { .. })]), "{got:?}");
    }

    #[tokio::test]
    async fn uploads_past_the_writeback_threshold_commit_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path(), true).unwrap();
        let size = WRITEBACK_EVERY as usize * 2 + 12345;
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let first = WRITEBACK_EVERY as usize + 7;
        store.create_upload("abc-2").await.unwrap();
        for (offset, part) in [(0, &data[..first]), (first, &data[first..])] {
            let chunks: Vec<std::io::Result<Bytes>> = part
                .chunks(300_000)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            let end = store
                .append_upload(
                    "abc-2",
                    offset as u64,
                    None,
                    futures::stream::iter(chunks).boxed(),
                )
                .await
                .unwrap()
                .len;
            assert_eq!(end, (offset + part.len()) as u64);
        }
        let digest = Digest::sha256_of(&data);
        assert_eq!(
            store.commit_upload("abc-2", None, &digest).await.unwrap(),
            size as u64
        );
        let read = store.read(&digest, None).await.unwrap().unwrap();
        assert_eq!(collect(read.stream).await, data);
    }
}
