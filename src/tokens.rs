//! Profiles in use: cached tokens, compare-and-invalidate, authorized requests, logging.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use suz_auth_core::{set_logger, Acquired, Error, Level, Logger, Response};

use crate::boundary::{self, lossless_c_string};
use crate::client::SuzClient;
use crate::flows::{write_pending, SuzPending, SuzToken};
use crate::result::SuzResult;
use crate::signer::SuzSigner;

/// Log severities.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuzLogLevel {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

impl SuzLogLevel {
    fn from_level(level: Level) -> SuzLogLevel {
        match level {
            Level::Error => SuzLogLevel::Error,
            Level::Warn => SuzLogLevel::Warn,
            Level::Info => SuzLogLevel::Info,
            _ => SuzLogLevel::Debug,
        }
    }

    /// A level that came from C as a number: checked, never trusted.
    fn level_from_c(value: u32) -> Result<Level, Error> {
        match value {
            1 => Ok(Level::Error),
            2 => Ok(Level::Warn),
            3 => Ok(Level::Info),
            4 => Ok(Level::Debug),
            other => Err(Error::invalid_argument(format!(
                "max_level {other} is not a SuzLogLevel (1 = error … 4 = debug)"
            ))),
        }
    }
}

/// Receives the library's log messages: what it did (cache hit, fetch, waiting on another
/// process's lock, a failed refresh). `message` is valid only during the call and never holds
/// a secret or a whole token. Called on whichever thread the library is working on, possibly
/// from several threads at once; it must not call back into the library, and must not unwind
/// or throw (a C++ exception or a panic leaving it aborts the process).
pub type SuzLogCallback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: SuzLogLevel, message: *const c_char)>;

struct LogTarget {
    callback: unsafe extern "C" fn(*mut c_void, SuzLogLevel, *const c_char),
    userdata: *mut c_void,
}

// The host promises, by registering the callback, that it may be called from any thread.
unsafe impl Send for LogTarget {}
unsafe impl Sync for LogTarget {}

impl LogTarget {
    fn send(&self, level: Level, message: &str) {
        let text = lossless_c_string(message);
        unsafe { (self.callback)(self.userdata, SuzLogLevel::from_level(level), text.as_ptr()) }
    }
}

/// Sends the library's log, up to `max_level` (a `SuzLogLevel`: 1 error … 4 debug), to
/// `callback` (process-wide; replaces any earlier callback). A NULL callback switches logging
/// off. `userdata` is passed back untouched and must stay valid until the callback is
/// replaced. Any other `max_level` is `SUZ_RESULT_INVALID_ARGUMENT` and changes nothing.
///
/// When this returns, the previous callback has returned on every thread and is never called
/// again (so its `userdata` may be freed): this waits for calls of it in flight. Calling this
/// from inside the log callback is `SUZ_RESULT_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn suz_set_log_callback(
    callback: SuzLogCallback,
    userdata: *mut c_void,
    max_level: u32,
) -> SuzResult {
    boundary::call(|| {
        let max = SuzLogLevel::level_from_c(max_level)?;
        let logger = callback.map(|callback| {
            let target = LogTarget { callback, userdata };
            Arc::new(move |level: Level, message: &str| target.send(level, message)) as Logger
        });
        set_logger(max, logger)
    })
}

/// Sets the signer used by a profile's flow (`profile` NULL: the default for every profile
/// without its own `signer.command`). The client keeps its own reference: the signer may be
/// freed by the caller afterwards.
#[no_mangle]
pub unsafe extern "C" fn suz_client_set_signer(
    client: *const SuzClient,
    profile: *const c_char,
    signer: *const SuzSigner,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let profile = opt_str_arg!(profile)?;
        let signer = arg!(signer)?.inner.clone();
        client.set_signer(profile, signer)
    })
}

/// The status of every profile of the client, as a JSON document in `*json_out` (free with
/// `suz_string_free`): `{"now_ms", "profiles": [{"profile", "flow", "service", "token",
/// "certificate"}]}`. `token` is null when nothing is cached, else `{"masked",
/// "obtained_at_ms", "expires_at_ms", "refresh_at_ms", "expired"}` (the value itself never
/// appears); `certificate` is null when unknown, else the signing certificate's `subject`,
/// `organization`, `issuer`, `serial`, `thumbprint`, `inn`, `inn_le`, `ogrn`, `snils`,
/// `not_before_ms`, `not_after_ms` and `days_left`. `"keeper"` is the last heartbeat of the
/// keeper serving this store (`suz keep`), or null: `{"pid", "at_ms", "age_ms", "profiles":
/// {name: {"at_ms", "outcome", "server_code", "server_message"}}}`. Read from the cache
/// (memory, file store, Redis): nothing is fetched or signed.
#[no_mangle]
pub unsafe extern "C" fn suz_client_status(
    client: *const SuzClient,
    json_out: *mut *mut c_char,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let out = out_arg!(json_out)?;
        let status = client.status()?;
        *out = crate::boundary::owned_c_string(&status.to_string());
        Ok(())
    })
}

/// The profile's token: the cached one while it has more than the refresh margin left,
/// otherwise a new one. At most one fetch per installation is in flight on this machine:
/// other threads wait for it, other processes wait on the store's file lock and then read the
/// token the first one stored (and across machines with the Redis store). A caller holding the
/// installation's lease from `suz_token_acquire` is waited for too; after
/// `cache.lock_timeout_ms` that wait is `SUZ_RESULT_IN_PROGRESS`. If a refresh fails while the
/// cached token is still valid, that token is returned and the failure logged.
///
/// Only callers without a valid token wait. Once the cached token is inside its refresh margin
/// (but not expired), every caller gets it at once while one refresh runs: on a thread of the
/// library's when the profile's fetch needs nothing of the host (SmartMarket, MDLP with a
/// password, a profile with its own `signer.command`), otherwise on the first calling thread,
/// where a callback signer is called as its contract says.
///
/// On success `*token_out` receives a token to free with `suz_token_free`.
#[no_mangle]
pub unsafe extern "C" fn suz_token_get(
    client: *const SuzClient,
    profile: *const c_char,
    token_out: *mut *mut SuzToken,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let profile = str_arg!(profile)?;
        let out = out_arg!(token_out)?;
        *out = SuzToken::boxed(client.token_get_shared(profile)?.0);
        Ok(())
    })
}

/// The largest buffer `suz_token_get_value` can need: the longest token a server may issue,
/// plus the terminating NUL.
pub const SUZ_TOKEN_VALUE_MAX: usize = 8193;
const _: () = assert!(SUZ_TOKEN_VALUE_MAX == suz_auth_core::token::MAX_TOKEN_LEN + 1);

/// `suz_token_get` for hosts that want only the value and no object per call: the same token
/// (cached, or fetched once for everyone, exactly as `suz_token_get`), its value copied into
/// `buf` as a NUL-terminated string.
///
/// `*needed_out` (may be NULL) receives the bytes the value needs with its NUL,
/// `*expires_at_ms_out` (may be NULL) the token's expiry, and `*fresh_until_ms_out` (may be
/// NULL) when the cache will stop handing this token out and fetch anew (its expiry less the
/// refresh margin; Unix ms both), whenever a token was obtained. A host may keep the value
/// until then, provided it asks again after anything that can replace the token: an
/// invalidation, a `suz_request` (which recovers from a 401 by replacing the token), or a
/// `suz_token_get*` call for another profile of the same installation. If `buf_len` is smaller than that, nothing is written to `buf` and the result is
/// `SUZ_RESULT_INVALID_ARGUMENT` (call again with a larger buffer; `SUZ_TOKEN_VALUE_MAX` bytes
/// are always enough). `buf` may be NULL only when `buf_len` is 0.
#[no_mangle]
pub unsafe extern "C" fn suz_token_get_value(
    client: *const SuzClient,
    profile: *const c_char,
    buf: *mut c_char,
    buf_len: usize,
    needed_out: *mut usize,
    expires_at_ms_out: *mut i64,
    fresh_until_ms_out: *mut i64,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let profile = str_arg!(profile)?;
        if buf.is_null() && buf_len > 0 {
            return Err(Error::new(
                suz_auth_core::ErrorKind::NullArgument,
                "argument `buf` is NULL while `buf_len` is not 0",
            ));
        }
        let (token, fresh_until_ms) = client.token_get_shared(profile)?;
        let value = token.value_with_nul();
        if let Some(until) = fresh_until_ms_out.as_mut() {
            *until = fresh_until_ms;
        }
        if let Some(needed) = needed_out.as_mut() {
            *needed = value.len();
        }
        if let Some(expires) = expires_at_ms_out.as_mut() {
            *expires = token.expires_at_ms();
        }
        if buf_len < value.len() {
            return Err(Error::invalid_argument(format!(
                "the buffer holds {buf_len} bytes; the token needs {} (with its NUL)",
                value.len()
            )));
        }
        // SAFETY: `buf` is non-NULL here (buf_len >= value.len() >= 1) and the caller gives
        // `buf_len` writable bytes; the regions cannot overlap (the value is ours).
        std::ptr::copy_nonoverlapping(value.as_ptr(), buf.cast::<u8>(), value.len());
        Ok(())
    })
}

/// The profile's token for a host that signs between two calls (1C, or any host whose
/// signature is made elsewhere), still one fetch per installation:
///
/// - a fresh cached token: `*token_out` receives it, `*pending_out` is NULL;
/// - otherwise this caller takes the installation's **lease** in the shared store (the file
///   store for the processes of this machine, Redis across machines) and the challenge or MDLP
///   code is fetched: `*pending_out` receives the operation to sign (`suz_pending_data`,
///   `suz_pending_kind`), `*token_out` is NULL. Complete it with `suz_token_complete` — in
///   this process or, after `suz_pending_export`/`suz_pending_import`, in another one sharing
///   the store — or give it up with `suz_token_release`. A lease whose holder never completes
///   expires after `cache.lease_ms` (default 5 minutes) and the next caller takes it over.
/// - another caller holds a live lease: this call waits for its token (and returns it), at
///   most `cache.lock_timeout_ms`, then fails with `SUZ_RESULT_IN_PROGRESS`: call again
///   later. It never starts a second fetch.
///
/// Profiles whose flow signs nothing (MDLP password, SmartMarket) always give a token here.
/// Freeing the pending operation does not release the lease (an exported copy may still be
/// completed elsewhere); it expires by itself. Both out-parameters are set to NULL first.
#[no_mangle]
pub unsafe extern "C" fn suz_token_acquire(
    client: *const SuzClient,
    profile: *const c_char,
    token_out: *mut *mut SuzToken,
    pending_out: *mut *mut SuzPending,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let profile = str_arg!(profile)?;
        let token_out = out_arg!(token_out)?;
        let pending_out = out_arg!(pending_out)?;
        *token_out = std::ptr::null_mut();
        *pending_out = std::ptr::null_mut();
        match client.token_acquire(profile)? {
            Acquired::Token(token) => *token_out = SuzToken::boxed(token),
            Acquired::Pending(pending) => write_pending(pending_out, *pending),
        }
        Ok(())
    })
}

/// Completes a pending operation from `suz_token_acquire` (or its imported copy): sends
/// `signature` (any CMS form, as `suz_pending_finish_token` takes it), stores the token where
/// every caller finds it, and releases the lease. On success `*token_out` receives the token.
///
/// A signature refused before sending (`SUZ_RESULT_SIGNER_FAILED`) leaves the operation and
/// its lease to complete again. If a fresh token is already in the cache it is returned and
/// nothing is sent. If the lease expired and another caller took it over:
/// `SUZ_RESULT_LEASE_LOST`, nothing sent — call `suz_token_acquire` again. A pending operation
/// from the other two-phase functions is `SUZ_RESULT_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn suz_token_complete(
    client: *const SuzClient,
    pending: *const SuzPending,
    signature: *const u8,
    signature_len: usize,
    token_out: *mut *mut SuzToken,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let pending = &arg!(pending)?.inner;
        let signature = bytes_arg!(signature, signature_len)?;
        let out = out_arg!(token_out)?;
        *out = SuzToken::boxed(client.token_complete(pending, signature)?);
        Ok(())
    })
}

/// Gives up the lease of a pending operation from `suz_token_acquire` (or its imported copy)
/// without completing it — the user cancelled the signature, say: the next caller takes the
/// lease at once instead of waiting for it to expire. `pending` is still to be freed.
#[no_mangle]
pub unsafe extern "C" fn suz_token_release(
    client: *const SuzClient,
    pending: *const SuzPending,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let pending = &arg!(pending)?.inner;
        client.token_release(pending)
    })
}

/// Compare-and-invalidate: drops the profile's cached token (memory, file store, Redis) only if
/// it is still `token`, the one the caller saw refused. A late 401 with an old token so cannot
/// throw away a newer token another thread or process fetched. `*dropped_out` (may be NULL)
/// says whether anything was dropped.
#[no_mangle]
pub unsafe extern "C" fn suz_token_invalidate(
    client: *const SuzClient,
    profile: *const c_char,
    token: *const SuzToken,
    dropped_out: *mut bool,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let profile = str_arg!(profile)?;
        let token = arg!(token)?;
        let dropped = client.token_invalidate(profile, token.token.value())?;
        if let Some(out) = dropped_out.as_mut() {
            *out = dropped;
        }
        Ok(())
    })
}

/// An HTTP answer: status, headers, body. Immutable; free with `suz_response_free`.
pub struct SuzResponse {
    status: u16,
    headers: Vec<(CString, CString)>,
    body: Vec<u8>,
}

/// An authorized call with the profile's token: `clientToken` for SUZ profiles, `Authorization:
/// Bearer` plus a fresh `RqUID` for SmartMarket. `path` is relative to the API's base URL (e.g.
/// `/api/v2/pharma/ping`); a SUZ profile's `oms_id` is added as `omsId` when the path has
/// none. `body` (may be NULL) is sent as JSON. On 401 the token is invalidated
/// (compare-and-invalidate), a new one obtained, and the call made once more.
///
/// Any HTTP answer, whatever its status, is `SUZ_RESULT_OK` with `*response_out` set; failures
/// are those of the transport and of getting a token.
#[no_mangle]
pub unsafe extern "C" fn suz_request(
    client: *const SuzClient,
    profile: *const c_char,
    method: *const c_char,
    path: *const c_char,
    body: *const c_char,
    response_out: *mut *mut SuzResponse,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let profile = str_arg!(profile)?;
        let method = str_arg!(method)?;
        let path = str_arg!(path)?;
        let body = opt_str_arg!(body)?;
        let out = out_arg!(response_out)?;
        let Response {
            status,
            headers,
            body,
            ..
        } = client.request(profile, method, path, body.map(str::as_bytes))?;
        let headers = headers
            .iter()
            .map(|(n, v)| (lossless_c_string(n), lossless_c_string(v)))
            .collect();
        *out = Box::into_raw(Box::new(SuzResponse {
            status,
            headers,
            body,
        }));
        Ok(())
    })
}

/// The HTTP status; 0 if `response` is NULL.
#[no_mangle]
pub unsafe extern "C" fn suz_response_status(response: *const SuzResponse) -> u16 {
    boundary::get(0, || Some(response.as_ref()?.status))
}

/// The body: `*body_out` points at `*len_out` bytes, valid until the response is freed. Not
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn suz_response_body(
    response: *const SuzResponse,
    body_out: *mut *const u8,
    len_out: *mut usize,
) -> SuzResult {
    boundary::call(|| {
        let response = arg!(response)?;
        let body_out = out_arg!(body_out)?;
        let len_out = out_arg!(len_out)?;
        *body_out = response.body.as_ptr();
        *len_out = response.body.len();
        Ok(())
    })
}

/// The first header called `name` (case-insensitive), valid until the response is freed; NULL
/// if there is none or an argument is NULL.
#[no_mangle]
pub unsafe extern "C" fn suz_response_header(
    response: *const SuzResponse,
    name: *const c_char,
) -> *const c_char {
    boundary::get(std::ptr::null(), || {
        let name = str_arg!(name).ok()?;
        response
            .as_ref()?
            .headers
            .iter()
            .find(|(n, _)| n.to_bytes().eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_ptr())
    })
}

/// The number of headers; 0 if `response` is NULL.
#[no_mangle]
pub unsafe extern "C" fn suz_response_header_count(response: *const SuzResponse) -> usize {
    boundary::get(0, || Some(response.as_ref()?.headers.len()))
}

/// Header number `index` (from 0): name and value, valid until the response is freed.
#[no_mangle]
pub unsafe extern "C" fn suz_response_header_at(
    response: *const SuzResponse,
    index: usize,
    name_out: *mut *const c_char,
    value_out: *mut *const c_char,
) -> SuzResult {
    boundary::call(|| {
        let response = arg!(response)?;
        let name_out = out_arg!(name_out)?;
        let value_out = out_arg!(value_out)?;
        let (name, value) = response.headers.get(index).ok_or_else(|| {
            Error::invalid_argument(format!(
                "header index {index} out of range ({} headers)",
                response.headers.len()
            ))
        })?;
        *name_out = name.as_ptr();
        *value_out = value.as_ptr();
        Ok(())
    })
}

/// Frees a response. NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn suz_response_free(response: *mut SuzResponse) {
    boundary::free_box(response)
}
