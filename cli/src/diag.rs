//! Where the tool's own lines go: stderr, or with `--log-file` a file (a Windows service has
//! no console), each line then prefixed with its UTC time. The file is appended to, created
//! owner-only, and never through a symbolic link.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

static FILE: OnceLock<Mutex<File>> = OnceLock::new();

/// Sends every later line to `path` instead of stderr.
pub fn to_file(path: &Path) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        // FILE_FLAG_OPEN_REPARSE_POINT: a link is opened as itself, not followed.
        options.custom_flags(0x0020_0000);
    }
    let file = options.open(path)?;
    let _ = FILE.set(Mutex::new(file));
    Ok(())
}

/// One line: to the file when there is one, else to stderr.
pub fn line(args: std::fmt::Arguments<'_>) {
    match FILE.get() {
        Some(file) => {
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            let at = suz_auth_core::civil::timestamp(suz_auth_core::token::now_ms());
            let _ = writeln!(file, "{at} {args}");
        }
        None => eprintln!("{args}"),
    }
}

/// `eprintln!` for the tool's own lines: to `--log-file` when given.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::diag::line(format_args!($($arg)*))
    };
}
