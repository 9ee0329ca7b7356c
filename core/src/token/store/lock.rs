//! Waiting for a key's lock file: a blocking OS lock taken on a thread of its own, so the wait
//! is bounded and a late lock is given back.

use std::fs::{self, File};
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Mode {
    Shared,
    Exclusive,
}

pub(super) fn try_lock_as(file: &File, mode: Mode) -> std::result::Result<(), fs::TryLockError> {
    match mode {
        Mode::Shared => file.try_lock_shared(),
        Mode::Exclusive => file.try_lock(),
    }
}

/// Takes `file`'s lock in `mode`, waiting at most `timeout`: the file back, locked, or `None`
/// when the wait timed out.
///
/// The wait is one blocking call (`flock` / `LockFileEx` through `std::fs::File::lock`) on a
/// thread of its own, which owns the file while it waits: it wakes the moment the holder lets
/// go, and no duplicate handle is ever involved. If this caller has stopped waiting by then, the
/// thread gives the lock up and closes the file itself.
pub(super) fn wait_for_lock(
    file: File,
    mode: Mode,
    timeout: Duration,
) -> std::io::Result<Option<File>> {
    match try_lock_as(&file, mode) {
        Ok(()) => return Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => {}
        Err(fs::TryLockError::Error(e)) => return Err(e),
    }
    if timeout.is_zero() {
        return Ok(None);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("suz-auth-lock".into())
        .spawn(move || {
            // A signal delivered to this thread interrupts `flock` (`EINTR`): wait again.
            let got = loop {
                let got = match mode {
                    Mode::Shared => file.lock_shared(),
                    Mode::Exclusive => file.lock(),
                };
                match got {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    got => break got,
                }
            };
            match got {
                Ok(()) => {
                    if let Err(std::sync::mpsc::SendError(Ok(file))) = tx.send(Ok(file)) {
                        let _ = file.unlock();
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })?;
    match rx.recv_timeout(timeout) {
        Ok(got) => got.map(Some),
        // A lock taken after this (the file still in the channel) goes with the channel: the
        // file is closed, which releases it.
        Err(_) => Ok(None),
    }
}
