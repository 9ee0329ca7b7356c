//! A signer command's stdout and stderr, read while it runs (so a chatty command cannot block
//! on a full pipe), each up to its limit.
//!
//! On Unix both pipes are read on the calling thread, which `poll` wakes when either has data
//! or ends: a signature costs no thread. Elsewhere each pipe is read on a thread of its own.

use std::process::Child;
use std::time::{Duration, Instant};

/// The most of stderr kept (the first lines go into the error message).
const STDERR_LIMIT: usize = 64 * 1024;

pub(super) use imp::Outputs;

#[cfg(unix)]
mod imp {
    use std::fs::File;
    use std::io::{ErrorKind, Read};
    use std::os::fd::OwnedFd;

    use rustix::event::{PollFd, PollFlags, Timespec};

    use super::*;

    /// One output: the pipe while it is open, what was read of it, and its limit.
    struct Pipe {
        file: Option<File>,
        bytes: Vec<u8>,
        limit: usize,
    }

    impl Pipe {
        fn new(pipe: Option<impl Into<OwnedFd>>, limit: usize) -> Pipe {
            Pipe {
                file: pipe.map(|p| File::from(p.into())),
                bytes: Vec::new(),
                limit,
            }
        }

        /// One read, `poll` having said it will not block; whether the output ended (its end,
        /// an error, or its limit reached: the pipe is then closed).
        fn read_once(&mut self) -> bool {
            let Some(file) = &mut self.file else {
                return false;
            };
            let mut chunk = [0u8; 16 * 1024];
            let room = self.limit.saturating_sub(self.bytes.len()).min(chunk.len());
            let ended = match file.read(&mut chunk[..room]) {
                Ok(0) => true,
                Ok(n) => {
                    self.bytes.extend_from_slice(&chunk[..n]);
                    self.bytes.len() >= self.limit
                }
                Err(e) => !matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock),
            };
            if ended {
                self.file = None;
            }
            ended
        }
    }

    pub struct Outputs {
        stdout: Pipe,
        stderr: Pipe,
    }

    impl Outputs {
        /// Takes the child's stdout (read up to `stdout_limit` bytes) and stderr.
        pub fn new(child: &mut Child, stdout_limit: usize) -> Outputs {
            Outputs {
                stdout: Pipe::new(child.stdout.take(), stdout_limit),
                stderr: Pipe::new(child.stderr.take(), STDERR_LIMIT),
            }
        }

        /// Waits at most `pause`, reading what arrives; whether an output ended meanwhile.
        pub fn wait(&mut self, pause: Duration) -> bool {
            let timeout = Timespec {
                tv_sec: pause.as_secs().try_into().unwrap_or(i64::MAX),
                tv_nsec: pause.subsec_nanos().into(),
            };
            let ready = {
                let pipes = [&self.stdout, &self.stderr];
                let open: Vec<usize> = (0..2).filter(|&i| pipes[i].file.is_some()).collect();
                if open.is_empty() {
                    // Both have ended (the command closed them and runs on): a plain wait.
                    std::thread::sleep(pause);
                    return false;
                }
                let mut fds: Vec<PollFd<'_>> = open
                    .iter()
                    .filter_map(|&i| pipes[i].file.as_ref())
                    .map(|f| PollFd::new(f, PollFlags::IN))
                    .collect();
                match rustix::event::poll(&mut fds, Some(&timeout)) {
                    Ok(_) => {}
                    // A signal: the caller comes back at once.
                    Err(rustix::io::Errno::INTR) => return false,
                    // Anything else would fail again at once: wait as if nothing came.
                    Err(_) => {
                        drop(fds);
                        std::thread::sleep(pause);
                        return false;
                    }
                }
                let ready: Vec<usize> = open
                    .iter()
                    .zip(&fds)
                    .filter(|(_, fd)| !fd.revents().is_empty())
                    .map(|(&i, _)| i)
                    .collect();
                ready
            };
            let mut ended = false;
            for i in ready {
                let pipe = if i == 0 {
                    &mut self.stdout
                } else {
                    &mut self.stderr
                };
                ended |= pipe.read_once();
            }
            ended
        }

        /// Whether stdout reached its limit.
        pub fn overflowed(&self) -> bool {
            self.stdout.bytes.len() >= self.stdout.limit
        }

        /// Whether an output is still open.
        pub fn open(&self) -> bool {
            self.stdout.file.is_some() || self.stderr.file.is_some()
        }

        /// Reads both outputs to their end, until `until` at most, and closes them: stdout
        /// (`None` if it had not ended by then) and stderr.
        pub fn collect(&mut self, until: Instant) -> (Option<Vec<u8>>, Vec<u8>) {
            while self.open() {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                self.wait(left);
            }
            let stdout_ended = self.stdout.file.take().is_none();
            self.stderr.file = None;
            let stdout = std::mem::take(&mut self.stdout.bytes);
            (
                stdout_ended.then_some(stdout),
                std::mem::take(&mut self.stderr.bytes),
            )
        }
    }
}

#[cfg(not(unix))]
mod imp {
    use std::io::Read;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
    use std::sync::Arc;

    use super::*;

    /// Reads at most `limit` bytes from `pipe` on a thread of its own; the bytes arrive on the
    /// receiver when the pipe ends or the limit is reached (and `ended` is told), and `full` is
    /// raised if it was reached.
    fn drain(
        pipe: impl Read + Send + 'static,
        limit: usize,
        full: Option<Arc<AtomicBool>>,
        ended: Sender<()>,
    ) -> Receiver<Vec<u8>> {
        let (done, bytes) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.take(limit as u64).read_to_end(&mut buf);
            if let Some(full) = full.filter(|_| buf.len() >= limit) {
                full.store(true, Ordering::SeqCst);
            }
            let _ = done.send(buf);
            let _ = ended.send(());
        });
        bytes
    }

    pub struct Outputs {
        overflow: Arc<AtomicBool>,
        stdout: Option<Receiver<Vec<u8>>>,
        stderr: Option<Receiver<Vec<u8>>>,
        /// A message each time one of the two outputs ends.
        ended: Receiver<()>,
    }

    impl Outputs {
        /// Takes the child's stdout (read up to `stdout_limit` bytes) and stderr.
        pub fn new(child: &mut Child, stdout_limit: usize) -> Outputs {
            let overflow = Arc::new(AtomicBool::new(false));
            let (tell, ended) = std::sync::mpsc::channel();
            let stdout = child
                .stdout
                .take()
                .map(|pipe| drain(pipe, stdout_limit, Some(overflow.clone()), tell.clone()));
            let stderr = child
                .stderr
                .take()
                .map(|pipe| drain(pipe, STDERR_LIMIT, None, tell));
            Outputs {
                overflow,
                stdout,
                stderr,
                ended,
            }
        }

        /// Waits at most `pause`, or less if an output ends meanwhile; whether one did.
        pub fn wait(&mut self, pause: Duration) -> bool {
            match self.ended.recv_timeout(pause) {
                Ok(()) => true,
                Err(RecvTimeoutError::Timeout) => false,
                // Both have ended already (the command closed them and runs on): a plain wait.
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(pause);
                    false
                }
            }
        }

        /// Whether stdout reached its limit.
        pub fn overflowed(&self) -> bool {
            self.overflow.load(Ordering::SeqCst)
        }

        /// Whether an output is still being read.
        pub fn open(&self) -> bool {
            self.stdout.is_some() || self.stderr.is_some()
        }

        /// Both outputs, waiting until `until` at most: stdout (`None` if it had not ended by
        /// then) and stderr. The reader threads end on their own once the pipes close.
        pub fn collect(&mut self, until: Instant) -> (Option<Vec<u8>>, Vec<u8>) {
            let collect = |rx: Option<Receiver<Vec<u8>>>| {
                rx.and_then(|rx| {
                    rx.recv_timeout(until.saturating_duration_since(Instant::now()))
                        .ok()
                })
            };
            let stdout = collect(self.stdout.take());
            let stderr = collect(self.stderr.take()).unwrap_or_default();
            (stdout, stderr)
        }
    }
}
