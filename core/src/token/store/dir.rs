//! The cache directory, held open. The store checks the directory once, when it opens it, and
//! from then on opens, renames, links and removes its files relative to that open directory
//! (on Unix a descriptor opened with `O_DIRECTORY | O_NOFOLLOW`): a directory swapped for
//! another afterwards — by a user who can write to a parent — changes nothing for a client that
//! holds it. Every file is opened without following a symlink and without blocking (a FIFO
//! cannot hang a call), and must be a regular file of this process's user.
//!
//! Windows has no descriptor-relative calls in the standard library; there the names are
//! joined to the path, and the per-user ACL of the profile directory guards it.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How a file of the store is opened. Created files are owner-only (0600).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Open {
    /// An existing file, to read.
    Read,
    /// An existing file, to write.
    Write,
    /// Created if missing, kept if present, to read and write (a lock file).
    ReadWriteCreate,
    /// Created or emptied, to write.
    Truncate,
    /// Created, failing with `AlreadyExists` if present, to write.
    CreateNew,
}

/// One entry of the directory, as listed.
pub(super) struct Entry {
    pub name: String,
    pub is_file: bool,
    pub modified: Option<SystemTime>,
}

/// The open cache directory.
pub(super) struct Dir {
    path: PathBuf,
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
}

/// The directory's owner and mode, as found when it was opened (Unix).
#[cfg(unix)]
pub(super) struct Owner {
    pub uid: u32,
    pub mode: u32,
}

#[cfg(unix)]
fn refuse_symlink(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return io::Error::other("it is a symlink, which the store never follows");
    }
    e
}

impl Dir {
    /// Opens `path` as a directory, never through a symlink as its last part (a trailing `/`
    /// does not make one followed).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let trimmed = {
            let text = path.as_os_str().to_string_lossy();
            let kept = text.trim_end_matches(['/', '\\']);
            if kept.is_empty() || kept.len() == text.len() {
                path.to_path_buf()
            } else {
                PathBuf::from(kept)
            }
        };
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            let fd = rustix::fs::open(
                &trimmed,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| refuse_symlink(e.into()))?;
            Ok(Dir { path: trimmed, fd })
        }
        #[cfg(not(unix))]
        {
            let meta = std::fs::symlink_metadata(&trimmed)?;
            if meta.file_type().is_symlink() {
                return Err(io::Error::other(
                    "it is a symlink, which the store never follows",
                ));
            }
            if !meta.is_dir() {
                return Err(io::Error::other("it is not a directory"));
            }
            Ok(Dir { path: trimmed })
        }
    }

    /// The directory's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file's path, for messages.
    pub fn show(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Who owns the open directory, and its mode.
    #[cfg(unix)]
    pub fn owner(&self) -> io::Result<Owner> {
        let stat = rustix::fs::fstat(&self.fd)?;
        Ok(Owner {
            uid: stat.st_uid,
            mode: stat.st_mode,
        })
    }

    /// Opens the file `name` in the directory: never through a symlink, never blocking on a
    /// FIFO; anything that is not a regular file of this process's user is refused.
    pub fn open_file(&self, name: &str, how: Open) -> io::Result<File> {
        #[cfg(unix)]
        let file = {
            use rustix::fs::{Mode, OFlags};
            let access = match how {
                Open::Read => OFlags::RDONLY,
                Open::Write => OFlags::WRONLY,
                Open::ReadWriteCreate => OFlags::RDWR | OFlags::CREATE,
                Open::Truncate => OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC,
                Open::CreateNew => OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
            };
            let fd = rustix::fs::openat(
                &self.fd,
                name,
                access | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(|e| refuse_symlink(e.into()))?;
            File::from(fd)
        };
        #[cfg(not(unix))]
        let file = {
            let mut options = std::fs::OpenOptions::new();
            match how {
                Open::Read => options.read(true),
                Open::Write => options.write(true),
                Open::ReadWriteCreate => options.read(true).write(true).create(true),
                Open::Truncate => options.write(true).create(true).truncate(true),
                Open::CreateNew => options.write(true).create_new(true),
            };
            options.open(self.path.join(name))?
        };
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::other(
                "it is not a regular file (a FIFO, device or directory was put in its place)",
            ));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let me = rustix::process::geteuid().as_raw();
            if meta.uid() != me {
                return Err(io::Error::other(format!(
                    "it belongs to uid {}, not to this user (uid {me})",
                    meta.uid()
                )));
            }
        }
        Ok(file)
    }

    /// Renames `from` over `to`, both in the directory.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        #[cfg(unix)]
        return Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?);
        #[cfg(not(unix))]
        std::fs::rename(self.path.join(from), self.path.join(to))
    }

    /// Links `to` to the file `from`; `AlreadyExists` if `to` exists.
    pub fn link(&self, from: &str, to: &str) -> io::Result<()> {
        #[cfg(unix)]
        return Ok(rustix::fs::linkat(
            &self.fd,
            from,
            &self.fd,
            to,
            rustix::fs::AtFlags::empty(),
        )?);
        #[cfg(not(unix))]
        std::fs::hard_link(self.path.join(from), self.path.join(to))
    }

    /// Removes the file `name`.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        #[cfg(unix)]
        return Ok(rustix::fs::unlinkat(
            &self.fd,
            name,
            rustix::fs::AtFlags::empty(),
        )?);
        #[cfg(not(unix))]
        std::fs::remove_file(self.path.join(name))
    }

    /// Whether anything is there under `name` (a symlink is not followed).
    pub fn exists(&self, name: &str) -> bool {
        #[cfg(unix)]
        return rustix::fs::statat(&self.fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok();
        #[cfg(not(unix))]
        std::fs::symlink_metadata(self.path.join(name)).is_ok()
    }

    /// Makes the directory's entries durable (a no-op on Windows, whose rename is durable).
    pub fn sync(&self) -> io::Result<()> {
        #[cfg(unix)]
        return Ok(rustix::fs::fsync(&self.fd)?);
        #[cfg(not(unix))]
        Ok(())
    }

    /// The directory's entries (not `.` and `..`).
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        #[cfg(unix)]
        {
            let dir = rustix::fs::Dir::read_from(&self.fd)?;
            for entry in dir {
                let entry = entry?;
                let Ok(name) = entry.file_name().to_str() else {
                    continue;
                };
                if name == "." || name == ".." {
                    continue;
                }
                let stat =
                    rustix::fs::statat(&self.fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).ok();
                let is_file = stat.as_ref().is_some_and(|s| {
                    rustix::fs::FileType::from_raw_mode(s.st_mode)
                        == rustix::fs::FileType::RegularFile
                });
                let modified = stat.and_then(|s| {
                    let secs = u64::try_from(s.st_mtime).ok()?;
                    SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs))
                });
                out.push(Entry {
                    name: name.to_owned(),
                    is_file,
                    modified,
                });
            }
        }
        #[cfg(not(unix))]
        for entry in std::fs::read_dir(&self.path)?.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let meta = entry.metadata().ok();
            out.push(Entry {
                name,
                is_file: meta.as_ref().is_some_and(|m| m.is_file()),
                modified: meta.and_then(|m| m.modified().ok()),
            });
        }
        Ok(out)
    }
}
