//! Signers for the C ABI: a host callback, or an external command.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use suz_auth_core::{CommandSigner, Error, ErrorKind, Result, SignatureKind, Signer};

use crate::boundary;
use crate::result::SuzResult;

/// Which CMS structure to produce.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuzSignatureKind {
    /// The CMS contains the signed bytes (GIS MT and True API challenges).
    Attached = 1,
    /// The CMS carries no content (registration body, MDLP code).
    Detached = 2,
}

impl From<SignatureKind> for SuzSignatureKind {
    fn from(k: SignatureKind) -> Self {
        match k {
            SignatureKind::Attached => SuzSignatureKind::Attached,
            _ => SuzSignatureKind::Detached,
        }
    }
}

/// Where a signing callback writes its signature; owned by the library, valid only during the
/// callback.
pub struct SuzSignatureSink {
    bytes: Vec<u8>,
    failure: Option<String>,
}

/// Largest signature a sink accepts (a CAdES-BES with a certificate is a few KiB).
const MAX_SIGNATURE: usize = 1024 * 1024;

/// The signing callback.
///
/// Called with `userdata` as registered, the exact bytes to sign (`data`, `len`; valid only
/// during the call), the signature kind, and a sink. The host signs with its crypto (GOST
/// R 34.10-2012 CAdES) and writes the result with `suz_signature_sink_write` — DER, or base64
/// with or without line breaks — then returns 0. Any other return value means failure; the host
/// may say why with `suz_signature_sink_fail` first. What is written must be a CMS SignedData;
/// one of the other kind than `kind` is converted (a detached one gets the signed bytes put
/// inside; an attached one over exactly these bytes has them taken out). Anything else (a
/// certificate, a key, an attached signature over other bytes) fails the flow with
/// `SUZ_RESULT_SIGNER_FAILED` and is not sent. Nothing the host allocates crosses the
/// boundary.
///
/// Threads: the callback runs on the thread that called the flow function, synchronously.
/// Calls overlap when several threads use the same signer at once. A signer made with
/// `suz_signer_new_callback_any_thread` is also called on a thread of the library's, to refresh
/// a token before it expires while every caller keeps getting the valid one.
///
/// The callback must not unwind or throw: a C++ exception or a panic leaving it aborts the
/// process. Catch everything inside and report it with `suz_signature_sink_fail`.
pub type SuzSignCallback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        data: *const u8,
        len: usize,
        kind: SuzSignatureKind,
        sink: *mut SuzSignatureSink,
    ) -> i32,
>;

/// Called once with `userdata` when the signer is freed (optional).
pub type SuzUserdataFree = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// A signer: a host callback or an external command.
///
/// Thread safety: may be used by several threads at once (a callback signer then runs its
/// callback concurrently). Freed with `suz_signer_free` after the last call using it returned.
pub struct SuzSigner {
    pub(crate) inner: Arc<dyn Signer>,
}

struct CallbackSigner {
    callback: unsafe extern "C" fn(
        *mut c_void,
        *const u8,
        usize,
        SuzSignatureKind,
        *mut SuzSignatureSink,
    ) -> i32,
    userdata: *mut c_void,
    userdata_free: SuzUserdataFree,
    /// Whether the host declared the callback callable from any thread.
    any_thread: bool,
}

// The host promises, by registering the callback, that it may be called from the threads it
// calls the library from, with this userdata.
unsafe impl Send for CallbackSigner {}
unsafe impl Sync for CallbackSigner {}

impl Signer for CallbackSigner {
    fn sign(&self, data: &[u8], kind: SignatureKind) -> Result<Vec<u8>> {
        let mut sink = SuzSignatureSink {
            bytes: Vec::new(),
            failure: None,
        };
        let status = unsafe {
            (self.callback)(
                self.userdata,
                data.as_ptr(),
                data.len(),
                kind.into(),
                &mut sink,
            )
        };
        if status != 0 {
            return Err(Error::signer(match sink.failure {
                Some(why) => format!("the signing callback failed (status {status}): {why}"),
                None => format!("the signing callback failed (status {status})"),
            }));
        }
        if let Some(why) = sink.failure {
            return Err(Error::signer(format!("the signing callback failed: {why}")));
        }
        if sink.bytes.is_empty() {
            return Err(Error::signer(
                "the signing callback returned success but wrote no signature",
            ));
        }
        Ok(sink.bytes)
    }

    fn any_thread(&self) -> bool {
        self.any_thread
    }
}

impl Drop for CallbackSigner {
    fn drop(&mut self) {
        if let Some(free) = self.userdata_free {
            unsafe { free(self.userdata) };
        }
    }
}

/// Creates a signer over a host callback. `userdata` is passed back to `callback` untouched;
/// `userdata_free` (may be NULL) is called with it once, when the signer is freed. If this
/// function fails, nothing is kept and `userdata_free` is not called.
///
/// The callback is called only on threads that call the library. A token due for refresh is
/// therefore fetched by the first caller that finds it so, which waits for the whole flow; see
/// `suz_signer_new_callback_any_thread` for a host whose callback can run anywhere.
#[no_mangle]
pub unsafe extern "C" fn suz_signer_new_callback(
    callback: SuzSignCallback,
    userdata: *mut c_void,
    userdata_free: SuzUserdataFree,
    signer_out: *mut *mut SuzSigner,
) -> SuzResult {
    new_callback(callback, userdata, userdata_free, false, signer_out)
}

/// `suz_signer_new_callback` for a host whose callback may be called from any thread, one of
/// the library's included (C and C++ with thread-safe crypto; a .NET delegate or a Python
/// function, which their runtimes enter from any thread). A token due for refresh is then
/// fetched on a thread of the library's while every caller gets the valid token at once, as
/// for a command signer. `suz_client_free` waits for such a refresh to end (at most
/// `timeouts.total_ms` + `cache.lock_timeout_ms`) before it returns; `userdata_free` is called
/// when the signer is freed and no refresh uses it any more, possibly on that thread.
#[no_mangle]
pub unsafe extern "C" fn suz_signer_new_callback_any_thread(
    callback: SuzSignCallback,
    userdata: *mut c_void,
    userdata_free: SuzUserdataFree,
    signer_out: *mut *mut SuzSigner,
) -> SuzResult {
    new_callback(callback, userdata, userdata_free, true, signer_out)
}

unsafe fn new_callback(
    callback: SuzSignCallback,
    userdata: *mut c_void,
    userdata_free: SuzUserdataFree,
    any_thread: bool,
    signer_out: *mut *mut SuzSigner,
) -> SuzResult {
    boundary::call(|| {
        let out = out_arg!(signer_out)?;
        let callback = callback
            .ok_or_else(|| Error::new(ErrorKind::NullArgument, "argument `callback` is NULL"))?;
        let signer = CallbackSigner {
            callback,
            userdata,
            userdata_free,
            any_thread,
        };
        *out = Box::into_raw(Box::new(SuzSigner {
            inner: Arc::new(signer),
        }));
        Ok(())
    })
}

/// Creates a signer that runs an external command, configured in JSON:
/// `{"attached": [argv...], "detached": [argv...], "timeout_ms": 60000}`. The data to sign
/// goes to the command's stdin and the signature is read from its stdout; an argument
/// containing `{in}` or `{out}` is replaced by the path of a temporary file holding the data
/// or receiving the signature (for tools that only work with files, such as `cryptcp`).
#[no_mangle]
pub unsafe extern "C" fn suz_signer_new_command(
    command_json: *const c_char,
    signer_out: *mut *mut SuzSigner,
) -> SuzResult {
    boundary::call(|| {
        let json = str_arg!(command_json)?;
        let out = out_arg!(signer_out)?;
        let signer = CommandSigner::from_json(json)?;
        *out = Box::into_raw(Box::new(SuzSigner {
            inner: Arc::new(signer),
        }));
        Ok(())
    })
}

/// Frees a signer (and calls its `userdata_free`). NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn suz_signer_free(signer: *mut SuzSigner) {
    boundary::free_box(signer)
}

/// Appends signature bytes to the sink; may be called several times in one callback. Only valid
/// inside a signing callback, with the sink it was given.
#[no_mangle]
pub unsafe extern "C" fn suz_signature_sink_write(
    sink: *mut SuzSignatureSink,
    bytes: *const u8,
    len: usize,
) -> SuzResult {
    boundary::call(|| {
        let sink = out_arg!(sink)?;
        let bytes = bytes_arg!(bytes, len)?;
        if sink.bytes.len() + bytes.len() > MAX_SIGNATURE {
            return Err(Error::invalid_argument(format!(
                "a signature larger than {MAX_SIGNATURE} bytes is not accepted"
            )));
        }
        sink.bytes.extend_from_slice(bytes);
        Ok(())
    })
}

/// Records why signing failed; the flow then fails with `SUZ_RESULT_SIGNER_FAILED` and this
/// text in its message. Only valid inside a signing callback.
#[no_mangle]
pub unsafe extern "C" fn suz_signature_sink_fail(
    sink: *mut SuzSignatureSink,
    message: *const c_char,
) -> SuzResult {
    boundary::call(|| {
        let sink = out_arg!(sink)?;
        let message = str_arg!(message)?;
        sink.failure = Some(message.chars().take(1000).collect());
        Ok(())
    })
}

/// The signer to use: the one passed, else the client's configured `signer.command`.
pub(crate) unsafe fn signer_arg<'a>(signer: *const SuzSigner) -> Result<Option<&'a dyn Signer>> {
    if signer.is_null() {
        Ok(None)
    } else {
        Ok(Some(arg!(signer)?.inner.as_ref()))
    }
}
