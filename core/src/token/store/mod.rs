//! The file store: one file per key, shared by every process on the machine.
//!
//! - File names are a hash of the key's identity (never of a secret).
//! - Writes are atomic: a temporary file, fsync, rename over the old one, fsync of the directory.
//! - Files are owner-only (0600) in an owner-only directory (0700).
//! - The format is versioned JSON; a corrupt, truncated or foreign-version file is a miss.
//! - Each key has a lock file taken with an OS file lock (`flock` / `LockFileEx` through
//!   `std::fs::File::lock`). The kernel releases it when the holder dies, so a killed process
//!   never blocks the others. Lock files are never deleted: deleting one while another process
//!   waits on it would let two processes hold "the" lock at once.
//! - A process that finds the lock held waits for it in shared mode, blocked in the kernel
//!   ([`FileStore::lock_unless`]): when the holder lets go, every waiting process wakes and
//!   reads the token it stored at the same time, instead of taking the lock one after another.
//! - The directory must belong to the current user and be writable by nobody else; it is
//!   refused otherwise. Nothing in it is trusted: every file is opened without following a
//!   symlink and without blocking (a FIFO cannot hang a call), and anything that is not a
//!   regular file is refused.
//! - A fetch starts only once the store has room to record it: the fetch marker reserves the
//!   space the token will take and becomes the token file by a rename.
//! - A two-phase fetch holds a lease: a record `<hash>.lease` with its owner id and expiry,
//!   read and written under the key's lock, which outlives the process that wrote it.

mod dir;
mod lock;
mod record;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::dir::{Dir, Open};
use self::lock::{wait_for_lock, Mode};
use self::record::StoredToken;
pub use self::record::STORE_VERSION;
pub(crate) use self::record::{decode, encode};

use serde::{Deserialize, Serialize};

use super::Token;
use crate::error::{Error, ErrorKind, Result};

/// The largest record the store writes or reads: a token of [`crate::token::MAX_TOKEN_LEN`]
/// bytes with its label and times fits with room to spare.
pub const MAX_RECORD: usize = 16 * 1024;

/// A lease on fetching one key's token (see [`crate::token::lease`]).
#[derive(Serialize, Deserialize)]
struct LeaseRecord {
    version: u32,
    owner: String,
    expires_at_ms: i64,
}

/// One entry as `inspect` shows it: never the token value.
#[derive(Clone, Debug)]
pub struct StoredEntry {
    /// Path of the token file.
    pub file: PathBuf,
    /// What the token is for, without secrets (e.g. `suz:<omsConnection>`).
    pub label: String,
    /// Name of the flow that minted the token.
    pub flow: String,
    /// The token value, masked (see [`crate::token::mask`]).
    pub masked_value: String,
    /// When the token was received, Unix time in milliseconds.
    pub obtained_at_ms: i64,
    /// When the token stops working, Unix time in milliseconds.
    pub expires_at_ms: i64,
}

/// The file store in one directory: per key, a token file, a lock file and, during a fetch, a
/// marker. The directory is held open (see [`dir`]): what was checked is what is used.
#[derive(Clone)]
pub struct FileStore {
    dir: Arc<Dir>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// What [`FileStore::lock_unless`] ends with: the lock, or what was found while waiting for it.
pub enum Locked<T> {
    /// The key's lock, held; whether it had to wait, for the log.
    Held(FileLock, bool),
    /// What `ready` found under the shared lock; no lock is held.
    Ready(T),
}

/// A held file lock; released on drop (and by the kernel if the process dies).
pub struct FileLock {
    file: File,
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl FileStore {
    /// Opens the store in `dir`, creating the directory if needed (owner-only on Unix). A
    /// directory that is a symlink, belongs to another user or is writable by others is refused
    /// with [`ErrorKind::Store`], as is one that cannot be created.
    pub fn open(dir: &Path) -> Result<FileStore> {
        create_private_dir(dir).map_err(|e| {
            store_error(
                dir,
                "cannot create the cache directory (config key `cache.dir`)",
                e,
            )
        })?;
        Ok(FileStore {
            dir: Arc::new(open_private_dir(dir)?),
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A record's path, for messages.
    fn show(&self, name: &str) -> PathBuf {
        self.dir.show(name)
    }

    /// A record of this store: `None` if missing, unsafe or larger than [`MAX_RECORD`].
    fn read_record(&self, name: &str) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        let file = self.dir.open_file(name, Open::Read).ok()?;
        let mut bytes = zeroize::Zeroizing::new(Vec::new());
        file.take(MAX_RECORD as u64 + 1)
            .read_to_end(&mut bytes)
            .ok()?;
        (bytes.len() <= MAX_RECORD).then_some(bytes)
    }

    /// The key's lease record: its owner id and when it expires (Unix ms). `None` when there
    /// is none, or it cannot be read (a damaged record guards nothing). The caller holds the
    /// key's lock.
    pub fn read_lease(&self, hash: &str) -> Option<(String, i64)> {
        let bytes = self.read_record(&lease_name(hash))?;
        let record: LeaseRecord = serde_json::from_slice(&bytes).ok()?;
        (record.version == STORE_VERSION).then_some((record.owner, record.expires_at_ms))
    }

    /// Writes the key's lease record (atomically). The caller holds the key's lock.
    pub fn write_lease(&self, hash: &str, owner: &str, expires_at_ms: i64) -> Result<()> {
        let record = LeaseRecord {
            version: STORE_VERSION,
            owner: owner.to_owned(),
            expires_at_ms,
        };
        // A struct of strings and integers always serialises.
        let bytes = serde_json::to_vec(&record).unwrap_or_default();
        self.replace(hash, &lease_name(hash), &bytes)
            .map_err(|e| store_error(&self.show(&lease_name(hash)), "cannot record the lease", e))
    }

    /// When the request paced under `hash` was last sent (Unix ms), as another process of this
    /// machine recorded it; `None` when nothing is recorded or the record cannot be read. The
    /// caller holds the key's lock.
    pub fn read_pace(&self, hash: &str) -> Option<i64> {
        let bytes = self.read_record(&pace_name(hash))?;
        std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
    }

    /// Records that the request paced under `hash` is sent now (`at_ms`, atomically). The
    /// caller holds the key's lock.
    pub fn write_pace(&self, hash: &str, at_ms: i64) -> Result<()> {
        self.replace(hash, &pace_name(hash), at_ms.to_string().as_bytes())
            .map_err(|e| {
                store_error(
                    &self.show(&pace_name(hash)),
                    "cannot record the request's time",
                    e,
                )
            })
    }

    /// Writes the keeper's heartbeat (atomically).
    pub fn write_heartbeat(&self, bytes: &[u8]) -> Result<()> {
        self.replace("keeper", HEARTBEAT, bytes).map_err(|e| {
            store_error(
                &self.show(HEARTBEAT),
                "cannot write the keeper's heartbeat",
                e,
            )
        })
    }

    /// The keeper's heartbeat, if there is one (at most [`MAX_RECORD`] bytes).
    pub fn heartbeat(&self) -> Option<Vec<u8>> {
        self.read_record(HEARTBEAT).map(|b| b.to_vec())
    }

    /// Removes the key's lease record if `owner` holds it. The caller holds the key's lock.
    pub fn remove_lease(&self, hash: &str, owner: &str) {
        if self.read_lease(hash).is_some_and(|(o, _)| o == owner) {
            let _ = self.dir.remove(&lease_name(hash));
            let _ = self.dir.sync();
        }
    }

    /// Records, before a fetch, that one is under way. If the process dies before
    /// [`FileStore::end_fetch`], the server may have issued a token (revoking the stored one)
    /// that nobody stored: the next lock holder sees the marker and fetches anew instead of
    /// handing out a possibly revoked token.
    ///
    /// The marker is [`MAX_RECORD`] bytes written and synced: if the disk cannot hold the token
    /// that is about to be minted, this fails ([`ErrorKind::Store`]) and no fetch happens.
    ///
    /// When it fails, nothing has been sent, so nothing is marked: a marker this call created is
    /// removed (an empty one left by a full disk would make every process distrust a token that
    /// is still good). A marker that was there before — a fetch really interrupted — stays.
    pub fn begin_fetch(&self, hash: &str) -> Result<()> {
        let name = marker_name(hash);
        let path = self.show(&name);
        let existed = self.fetch_interrupted(hash);
        let result = self
            .dir
            .open_file(&name, Open::Truncate)
            .and_then(|mut f| {
                f.write_all(&[b' '; MAX_RECORD])?;
                f.sync_all()
            })
            .and_then(|_| self.dir.sync());
        if result.is_err() && !existed {
            let _ = self.dir.remove(&name);
            let _ = self.dir.sync();
        }
        result.map_err(|e| {
            store_error(
                &path,
                "cannot reserve room to record the token before fetching it; nothing was fetched",
                e,
            )
        })
    }

    /// Records the fetched token: written into the marker's reserved space, which is then
    /// renamed over the token file, so the token appears and the marker goes in one step. If
    /// that fails the marker stays: other processes fetch anew instead of trusting the old
    /// token.
    pub fn finish_fetch(&self, hash: &str, label: &str, token: &Token) -> Result<()> {
        let bytes = encode(label, token);
        let marker = marker_name(hash);
        let target = token_name(hash);
        let result = (|| -> std::io::Result<()> {
            if bytes.len() > MAX_RECORD {
                return Err(std::io::Error::other(format!(
                    "the record is {} bytes, over the {MAX_RECORD}-byte limit",
                    bytes.len()
                )));
            }
            let mut file = self.dir.open_file(&marker, Open::Write)?;
            file.write_all(&bytes)?;
            file.set_len(bytes.len() as u64)?;
            file.sync_all()?;
            drop(file);
            self.dir.rename(&marker, &target)?;
            self.dir.sync()
        })();
        result.map_err(|e| store_error(&self.show(&target), "cannot record the fetched token", e))
    }

    /// Records that the carried pending operation `id` (32 hex digits) is being finished;
    /// `false` when some process already did. The record is a file `<id>.done`, created
    /// exclusively, so two processes never both get `true`.
    pub fn claim_finish(&self, id: &str) -> Result<bool> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid_argument(
                "a pending operation id is 32 hex digits",
            ));
        }
        let name = format!("{id}.done");
        let path = self.show(&name);
        match self.dir.open_file(&name, Open::CreateNew) {
            Ok(file) => {
                let _ = file.sync_all();
                let _ = self.dir.sync();
                self.forget_old_finishes();
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(store_error(&path, "cannot record a finished operation", e)),
        }
    }

    /// Removes records of finished operations older than an hour: a carried operation can be
    /// imported for 10 minutes, so older records guard nothing.
    fn forget_old_finishes(&self) {
        let Ok(entries) = self.dir.entries() else {
            return;
        };
        let hour = Duration::from_secs(3600);
        for entry in entries {
            let old = entry.is_file
                && entry
                    .modified
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > hour);
            if old && entry.name.ends_with(".done") {
                let _ = self.dir.remove(&entry.name);
            }
        }
    }

    /// The key that seals exported pending operations (see [`super::SealKey`]): the file
    /// `pending.key` (owner-only), created at the first use with 32 random bytes. Creation is
    /// all or nothing — a complete temporary file linked into place, never over an existing
    /// key — so processes racing to create it all end up with the one that won. A key file
    /// that is not exactly 32 bytes, or not a regular file, is refused: delete it to start
    /// over (states exported before then can no longer be imported).
    pub fn seal_key(&self) -> Result<super::SealKey> {
        let name = "pending.key";
        let path = self.show(name);
        let read = || -> Result<Option<super::SealKey>> {
            match self.dir.open_file(name, Open::Read) {
                Ok(file) => {
                    let mut bytes = zeroize::Zeroizing::new(Vec::new());
                    file.take(super::SEAL_KEY_LEN as u64 + 1)
                        .read_to_end(&mut bytes)
                        .map_err(|e| store_error(&path, "cannot read the key", e))?;
                    super::SealKey::from_bytes(&bytes).map(Some).ok_or_else(|| {
                        Error::new(
                            ErrorKind::Store,
                            format!(
                                "token store: {} is not a key of {} bytes; delete it (pending operations exported before cannot be imported then)",
                                path.display(),
                                super::SEAL_KEY_LEN
                            ),
                        )
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(store_error(&path, "cannot open the key", e)),
            }
        };
        if let Some(key) = read()? {
            return Ok(key);
        }
        let key = super::SealKey::random()?;
        let temp = format!(".pending.{}.tmp", crate::random::uuid().simple());
        let created = (|| -> std::io::Result<()> {
            let mut file = self.dir.open_file(&temp, Open::CreateNew)?;
            file.write_all(key.bytes())?;
            file.sync_all()?;
            drop(file);
            match self.dir.link(&temp, name) {
                Ok(()) => self.dir.sync(),
                // Another process created it first: its key is the key.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(e),
            }
        })();
        let _ = self.dir.remove(&temp);
        created.map_err(|e| store_error(&path, "cannot create the key", e))?;
        read()?.ok_or_else(|| {
            Error::new(
                ErrorKind::Store,
                format!("token store: {} vanished", path.display()),
            )
        })
    }

    /// Clears the marker after a fetch that certainly minted nothing.
    pub fn end_fetch(&self, hash: &str) {
        let _ = self.dir.remove(&marker_name(hash));
        let _ = self.dir.sync();
    }

    /// Whether a previous lock holder died during a fetch (or could not record its token).
    pub fn fetch_interrupted(&self, hash: &str) -> bool {
        self.dir.exists(&marker_name(hash))
    }

    /// Takes the key's lock, waiting at most `timeout` for another process to release it.
    /// Returns whether it had to wait, for the log.
    pub fn lock(&self, hash: &str, timeout: Duration) -> Result<(FileLock, bool)> {
        match self.take_lock(hash, timeout, None::<fn() -> Option<()>>)? {
            Locked::Held(lock, waited) => Ok((lock, waited)),
            Locked::Ready(()) => unreachable!("nothing is looked for"),
        }
    }

    /// [`FileStore::lock`], except that when another process holds the lock, this caller waits
    /// for it in shared mode, with every other waiter, and calls `ready` under the shared lock:
    /// what it finds (the token the holder stored) is returned without the lock. All the
    /// waiters read at once when the holder lets go, instead of one after another. Only when
    /// `ready` finds nothing is the lock taken exclusively (still within `timeout`).
    pub fn lock_unless<T>(
        &self,
        hash: &str,
        timeout: Duration,
        ready: impl FnOnce() -> Option<T>,
    ) -> Result<Locked<T>> {
        self.take_lock(hash, timeout, Some(ready))
    }

    fn take_lock<T>(
        &self,
        hash: &str,
        timeout: Duration,
        ready: Option<impl FnOnce() -> Option<T>>,
    ) -> Result<Locked<T>> {
        let name = lock_name(hash);
        let path = self.show(&name);
        let open = || {
            self.dir
                .open_file(&name, Open::ReadWriteCreate)
                .map_err(|e| store_error(&path, "cannot open the lock file", e))
        };
        let timed_out = || {
            Error::new(
                ErrorKind::Timeout,
                format!(
                    "waited {} ms for another process fetching this token (lock {})",
                    timeout.as_millis(),
                    path.display()
                ),
            )
        };
        let cannot_lock = |e| store_error(&path, "cannot lock", e);
        let mut file = open()?;
        match file.try_lock() {
            Ok(()) => return Ok(Locked::Held(FileLock { file }, false)),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(cannot_lock(e)),
        }
        let started = Instant::now();
        if let Some(ready) = ready {
            let shared = wait_for_lock(file, Mode::Shared, timeout)
                .map_err(cannot_lock)?
                .ok_or_else(timed_out)?;
            let found = ready();
            // Closing the file is what surely lets the shared lock go, on every system (an
            // unlock is only tried first); the exclusive lock is asked for on a new one.
            let _ = shared.unlock();
            drop(shared);
            if let Some(found) = found {
                return Ok(Locked::Ready(found));
            }
            file = open()?;
        }
        let left = timeout.saturating_sub(started.elapsed());
        match wait_for_lock(file, Mode::Exclusive, left).map_err(cannot_lock)? {
            Some(file) => Ok(Locked::Held(FileLock { file }, true)),
            None => Err(timed_out()),
        }
    }

    /// The stored token of the key `hash` labelled `label`, or `None` for a missing, corrupt,
    /// truncated or foreign-version file, and for a record that fails the checks of
    /// [`decode`] (another key's label, an impossible lifetime). A symlink, FIFO or anything
    /// else that is not a regular file is a miss too (and is replaced by the next write).
    pub fn read(&self, hash: &str, label: &str) -> Option<Token> {
        decode(&self.read_record(&token_name(hash))?, Some(label))
    }

    /// The stored token whatever its label (for `inspect` and compare-and-remove).
    fn read_any(&self, hash: &str) -> Option<Token> {
        decode(&self.read_record(&token_name(hash))?, None)
    }

    /// Replaces the stored token atomically.
    pub fn write(&self, hash: &str, label: &str, token: &Token) -> Result<()> {
        let target = token_name(hash);
        self.replace(hash, &target, &encode(label, token))
            .map_err(|e| store_error(&self.show(&target), "cannot write the token", e))
    }

    /// Replaces `target` with `bytes` atomically: a new temporary file, synced, renamed over it.
    fn replace(&self, hash: &str, target: &str, bytes: &[u8]) -> std::io::Result<()> {
        let temp = format!(
            ".{hash}.{}.{}.tmp",
            std::process::id(),
            crate::random::uuid().simple()
        );
        let result = (|| -> std::io::Result<()> {
            let mut file = self.dir.open_file(&temp, Open::CreateNew)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            drop(file);
            self.dir.rename(&temp, target)?;
            self.dir.sync()
        })();
        if result.is_err() {
            let _ = self.dir.remove(&temp);
        }
        result
    }

    /// Removes the stored token if it is still `value` (compare-and-invalidate). The caller
    /// holds the key's lock.
    pub fn remove_if(&self, hash: &str, value: &str) -> Result<bool> {
        match self.read_any(hash) {
            Some(t) if t.value() == value => {
                let name = token_name(hash);
                self.dir
                    .remove(&name)
                    .map_err(|e| store_error(&self.show(&name), "cannot remove the token", e))?;
                let _ = self.dir.sync();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Every readable entry, for `suz inspect`.
    pub fn entries(&self) -> Vec<StoredEntry> {
        let mut out = Vec::new();
        let Ok(entries) = self.dir.entries() else {
            return out;
        };
        for entry in entries {
            let Some(hash) = entry.name.strip_suffix(".token") else {
                continue;
            };
            let label = self
                .read_record(&entry.name)
                .and_then(|t| serde_json::from_slice::<StoredToken>(&t).ok())
                .map(|s| s.label)
                .unwrap_or_default();
            if let Some(token) = self.read_any(hash) {
                out.push(StoredEntry {
                    file: self.show(&entry.name),
                    label,
                    flow: token.flow().name().to_owned(),
                    masked_value: token.masked(),
                    obtained_at_ms: token.obtained_at_ms(),
                    expires_at_ms: token.expires_at_ms(),
                });
            }
        }
        out.sort_by(|a, b| a.label.cmp(&b.label));
        out
    }

    /// Deletes every stored token, fetch marker, lease and record of a finished operation (not
    /// the lock files, nor the key of exported states); returns how many.
    pub fn purge(&self) -> Result<usize> {
        let mut removed = 0;
        let entries = self
            .dir
            .entries()
            .map_err(|e| store_error(self.dir.path(), "cannot list the store", e))?;
        for entry in entries {
            if [".token", ".tmp", ".fetching", ".done", ".lease"]
                .iter()
                .any(|ext| entry.name.ends_with(ext))
            {
                self.dir
                    .remove(&entry.name)
                    .map_err(|e| store_error(&self.show(&entry.name), "cannot remove", e))?;
                removed += 1;
            }
        }
        let _ = self.dir.sync();
        Ok(removed)
    }
}

fn token_name(hash: &str) -> String {
    format!("{hash}.token")
}

fn lock_name(hash: &str) -> String {
    format!("{hash}.lock")
}

fn marker_name(hash: &str) -> String {
    format!("{hash}.fetching")
}

/// The keeper's heartbeat record.
const HEARTBEAT: &str = "keeper.heartbeat";

fn pace_name(hash: &str) -> String {
    format!("{hash}.pace")
}

fn lease_name(hash: &str) -> String {
    format!("{hash}.lease")
}

/// Opens the cache directory (see [`dir`]) and refuses one another local user could tamper
/// with: a symlink, something else than a directory, a directory of another user or writable by
/// others. What is checked is the open directory itself, which the store keeps using.
fn open_private_dir(path: &Path) -> Result<Dir> {
    let refuse = |why: String| {
        Error::new(
            ErrorKind::Store,
            format!(
                "token store: refusing the cache directory {}: {why} (config key `cache.dir`)",
                path.display()
            ),
        )
    };
    let dir = Dir::open(path).map_err(|e| {
        // `O_DIRECTORY | O_NOFOLLOW` on a symlink fails as "not a directory" on Linux.
        let symlink =
            std::fs::symlink_metadata(path.as_os_str().to_string_lossy().trim_end_matches('/'))
                .is_ok_and(|m| m.file_type().is_symlink());
        if symlink || e.to_string().contains("symlink") {
            refuse("it is a symlink; give the real path of a directory of your own".into())
        } else if e.raw_os_error() == Some(not_a_directory()) {
            refuse("it is not a directory".into())
        } else {
            store_error(path, "cannot open the cache directory", e)
        }
    })?;
    #[cfg(unix)]
    {
        let owner = dir
            .owner()
            .map_err(|e| store_error(path, "cannot inspect the cache directory", e))?;
        let me = rustix::process::geteuid().as_raw();
        if owner.uid != me {
            return Err(refuse(format!(
                "it belongs to uid {}, not to this user (uid {me}); use a directory of your own, or have its owner run the service",
                owner.uid
            )));
        }
        if owner.mode & 0o022 != 0 {
            return Err(refuse(format!(
                "other users may write to it (mode {:o}); run `chmod 700 {}`",
                owner.mode & 0o777,
                path.display()
            )));
        }
    }
    Ok(dir)
}

fn not_a_directory() -> i32 {
    #[cfg(unix)]
    {
        libc::ENOTDIR
    }
    #[cfg(not(unix))]
    {
        -1
    }
}

fn store_error(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Store,
        format!("token store: {what} {}: {e}", path.display()),
    )
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir)
    }
}

#[cfg(test)]
mod tests;
