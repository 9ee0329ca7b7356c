//! The token flows, the two-phase API and the token object.

use std::ffi::c_char;

use suz_auth_core::{MdlpCredentials, PendingSignature, Token};

use crate::boundary::{self, owned_c_string};
use crate::client::SuzClient;
use crate::result::SuzResult;
use crate::signer::{signer_arg, SuzSignatureKind, SuzSigner};

// `SuzFlow`: written by build.rs from the core's table of flows (`core/src/flow_table.in`), one
// variant per `Flow`, numbered by `Flow::code`.
include!(concat!(env!("OUT_DIR"), "/suz_flow.rs"));

/// A token: its value, the flow that minted it, and when it was obtained and expires.
///
/// Immutable: may be read from several threads at once. Free with `suz_token_free`.
/// The value's C string is the cached token's own (see `Token::value_with_nul`): no copy per call, and
/// wiped when the last holder of the token drops it.
pub struct SuzToken {
    pub(crate) token: Token,
}

impl SuzToken {
    pub(crate) fn boxed(token: Token) -> *mut SuzToken {
        Box::into_raw(Box::new(SuzToken { token }))
    }
}

/// A signed flow between its two phases: the bytes the host must sign, and what the library
/// needs to finish. Single-use: the server's challenge or code inside is spent by the first
/// finish. Not for concurrent use from several threads. Free with `suz_pending_free`.
pub struct SuzPending {
    pub(crate) inner: PendingSignature,
}

fn write_token(out: &mut *mut SuzToken, token: Token) {
    *out = SuzToken::boxed(token);
}

pub(crate) fn write_pending(out: &mut *mut SuzPending, inner: PendingSignature) {
    *out = Box::into_raw(Box::new(SuzPending { inner }));
}

/// Registers an installation of the integration solution (SUZ `POST
/// /api/v2/integration/connection`) and returns its `omsConnection`.
///
/// The body `{"address": address}` is signed (detached) by `signer`, or by the client's
/// configured `signer.command` when `signer` is NULL. With `pharma` true no `X-Signature` is
/// sent (the pharma group needs none) and no signer is used.
///
/// On success `*oms_connection_out` receives the UUID as the server sent it (compare it
/// case-insensitively); free it with `suz_string_free`. A `REJECTED` answer gives
/// `SUZ_RESULT_REGISTRATION_REJECTED`, with the reason in `suz_last_server_message()`.
#[no_mangle]
pub unsafe extern "C" fn suz_register_connection(
    client: *const SuzClient,
    oms_id: *const c_char,
    registration_key: *const c_char,
    address: *const c_char,
    pharma: bool,
    signer: *const SuzSigner,
    oms_connection_out: *mut *mut c_char,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let oms_id = str_arg!(oms_id)?;
        let key = str_arg!(registration_key)?;
        let address = str_arg!(address)?;
        let signer = signer_arg(signer)?;
        let out = out_arg!(oms_connection_out)?;
        let connection = client.register_connection(oms_id, key, address, pharma, signer)?;
        *out = owned_c_string(&connection);
        Ok(())
    })
}

/// A SUZ `clientToken` through MDLP (pharma).
///
/// `password` NULL: `SIGNED_CODE` — the code MDLP returns is signed (detached) by `signer`, or
/// the configured `signer.command` when `signer` is NULL. `password` non-NULL: `PASSWORD` (for
/// non-residents); no signer is used. `user_id` is the certificate serial or SHA1 thumbprint
/// (residents) or e-mail (non-residents). The expiry comes from the answer's `life_time`.
#[no_mangle]
pub unsafe extern "C" fn suz_get_token_mdlp(
    client: *const SuzClient,
    oms_connection: *const c_char,
    client_id: *const c_char,
    client_secret: *const c_char,
    user_id: *const c_char,
    password: *const c_char,
    signer: *const SuzSigner,
    token_out: *mut *mut SuzToken,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let connection = str_arg!(oms_connection)?;
        let creds = MdlpCredentials::new(
            str_arg!(client_id)?,
            str_arg!(client_secret)?,
            str_arg!(user_id)?,
        );
        let password = opt_str_arg!(password)?;
        let signer = signer_arg(signer)?;
        let out = out_arg!(token_out)?;
        write_token(
            out,
            client.token_mdlp(connection, &creds, password, signer)?,
        );
        Ok(())
    })
}

/// A SUZ `clientToken` through GIS MT: challenge, attached signature by `signer` (or the
/// configured `signer.command` when NULL), token valid 10 hours.
#[no_mangle]
pub unsafe extern "C" fn suz_get_token_gismt(
    client: *const SuzClient,
    oms_connection: *const c_char,
    signer: *const SuzSigner,
    token_out: *mut *mut SuzToken,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let connection = str_arg!(oms_connection)?;
        let signer = signer_arg(signer)?;
        let out = out_arg!(token_out)?;
        write_token(out, client.token_gismt(connection, signer)?);
        Ok(())
    })
}

/// A SUZ `clientToken` through True API. `inn` (may be NULL) picks the organisation when the
/// certificate covers several (10 or 12 digits). Otherwise as `suz_get_token_gismt`.
#[no_mangle]
pub unsafe extern "C" fn suz_get_token_trueapi(
    client: *const SuzClient,
    oms_connection: *const c_char,
    inn: *const c_char,
    signer: *const SuzSigner,
    token_out: *mut *mut SuzToken,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let connection = str_arg!(oms_connection)?;
        let inn = opt_str_arg!(inn)?;
        let signer = signer_arg(signer)?;
        let out = out_arg!(token_out)?;
        write_token(out, client.token_trueapi(connection, inn, signer)?);
        Ok(())
    })
}

/// A Sber SmartMarket OAuth `access_token`: Basic auth with `client_id:client_secret`, a fresh
/// `RqUID`, form `scope` (NULL means `SMART_PUSH`; any scope is accepted). The expiry is read
/// from `expires_at` whether the service sends milliseconds or seconds.
#[no_mangle]
pub unsafe extern "C" fn suz_get_token_smartmarket(
    client: *const SuzClient,
    client_id: *const c_char,
    client_secret: *const c_char,
    scope: *const c_char,
    token_out: *mut *mut SuzToken,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let id = str_arg!(client_id)?;
        let secret = str_arg!(client_secret)?;
        let scope = opt_str_arg!(scope)?;
        let out = out_arg!(token_out)?;
        write_token(out, client.token_smartmarket(id, secret, scope)?);
        Ok(())
    })
}

/// The SmartPush `apprequest` call with `Authorization: Bearer <access_token>` and a fresh
/// `RqUID`. `body_json` is the whole JSON body (`{"requestPayload": {...}}`). On success
/// `*response_json_out` receives the answer's JSON; free it with `suz_string_free`. A failure
/// reported inside the body (`{"code": 401, "errors": [...]}`) is returned as that error.
#[no_mangle]
pub unsafe extern "C" fn suz_smartpush_request(
    client: *const SuzClient,
    access_token: *const c_char,
    body_json: *const c_char,
    response_json_out: *mut *mut c_char,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let token = str_arg!(access_token)?;
        let body = str_arg!(body_json)?;
        let out = out_arg!(response_json_out)?;
        let response = client.smartpush_request(token, body)?;
        *out = owned_c_string(&response);
        Ok(())
    })
}

/// Two-phase registration, phase one: builds the body (no network). Sign
/// `suz_pending_data` (detached) and finish with `suz_pending_finish_registration`.
#[no_mangle]
pub unsafe extern "C" fn suz_register_begin(
    client: *const SuzClient,
    oms_id: *const c_char,
    registration_key: *const c_char,
    address: *const c_char,
    pending_out: *mut *mut SuzPending,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let oms_id = str_arg!(oms_id)?;
        let key = str_arg!(registration_key)?;
        let address = str_arg!(address)?;
        let out = out_arg!(pending_out)?;
        write_pending(out, client.register_begin(oms_id, key, address)?);
        Ok(())
    })
}

/// Two-phase MDLP `SIGNED_CODE`, phase one: asks MDLP for a code. Sign it (detached) and
/// finish with `suz_pending_finish_token`.
#[no_mangle]
pub unsafe extern "C" fn suz_mdlp_begin(
    client: *const SuzClient,
    oms_connection: *const c_char,
    client_id: *const c_char,
    client_secret: *const c_char,
    user_id: *const c_char,
    pending_out: *mut *mut SuzPending,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let connection = str_arg!(oms_connection)?;
        let creds = MdlpCredentials::new(
            str_arg!(client_id)?,
            str_arg!(client_secret)?,
            str_arg!(user_id)?,
        );
        let out = out_arg!(pending_out)?;
        write_pending(out, client.mdlp_begin(connection, &creds)?);
        Ok(())
    })
}

/// Two-phase GIS MT, phase one: fetches a challenge. Sign it (attached) and finish with
/// `suz_pending_finish_token`. Challenges expire; finish promptly.
#[no_mangle]
pub unsafe extern "C" fn suz_gismt_begin(
    client: *const SuzClient,
    oms_connection: *const c_char,
    pending_out: *mut *mut SuzPending,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let connection = str_arg!(oms_connection)?;
        let out = out_arg!(pending_out)?;
        write_pending(out, client.gismt_begin(connection)?);
        Ok(())
    })
}

/// Two-phase True API, phase one; `inn` may be NULL. As `suz_gismt_begin`.
#[no_mangle]
pub unsafe extern "C" fn suz_trueapi_begin(
    client: *const SuzClient,
    oms_connection: *const c_char,
    inn: *const c_char,
    pending_out: *mut *mut SuzPending,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let connection = str_arg!(oms_connection)?;
        let inn = opt_str_arg!(inn)?;
        let out = out_arg!(pending_out)?;
        write_pending(out, client.trueapi_begin(connection, inn)?);
        Ok(())
    })
}

/// The exact bytes the host must sign. `*data_out` stays valid until the pending operation is
/// freed. The bytes are UTF-8 text in every current flow, but are not NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn suz_pending_data(
    pending: *const SuzPending,
    data_out: *mut *const u8,
    len_out: *mut usize,
) -> SuzResult {
    boundary::call(|| {
        let pending = &arg!(pending)?.inner;
        let data_out = out_arg!(data_out)?;
        let len_out = out_arg!(len_out)?;
        *data_out = pending.data().as_ptr();
        *len_out = pending.data().len();
        Ok(())
    })
}

/// The kind of signature the pending operation needs; 0 if `pending` is NULL.
#[no_mangle]
pub unsafe extern "C" fn suz_pending_kind(pending: *const SuzPending) -> u32 {
    boundary::get(0, || {
        let pending = pending.as_ref()?;
        Some(SuzSignatureKind::from(pending.inner.kind()) as u32)
    })
}

/// Phase two of a token flow (MDLP, GIS MT, True API): sends `signature` (DER, or base64 with
/// or without line breaks; `signature_len` bytes) and returns the token. The signature must be
/// a CMS SignedData; one of the other kind than `suz_pending_kind` is converted (a detached one
/// gets the bytes to sign embedded; an attached one over exactly those bytes loses them).
/// Anything else is `SUZ_RESULT_SIGNER_FAILED`, nothing is sent, and `pending` can still be
/// finished with the right signature. Once a signature was accepted for sending, the operation
/// (and any copy imported with `suz_pending_import`) is spent whatever the answer: a second
/// finish is `SUZ_RESULT_INVALID_ARGUMENT` and sends nothing; begin again.
#[no_mangle]
pub unsafe extern "C" fn suz_pending_finish_token(
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
        write_token(out, client.finish_token(pending, signature)?);
        Ok(())
    })
}

/// Phase two of a registration: sends the signed body; `*oms_connection_out` as in
/// `suz_register_connection`. Finished once, as `suz_pending_finish_token`.
#[no_mangle]
pub unsafe extern "C" fn suz_pending_finish_registration(
    client: *const SuzClient,
    pending: *const SuzPending,
    signature: *const u8,
    signature_len: usize,
    oms_connection_out: *mut *mut c_char,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let pending = &arg!(pending)?.inner;
        let signature = bytes_arg!(signature, signature_len)?;
        let out = out_arg!(oms_connection_out)?;
        *out = owned_c_string(&client.register_finish(pending, signature)?);
        Ok(())
    })
}

/// Exports a pending operation as a printable string (ASCII, no spaces, a few hundred bytes) to
/// carry to another process or machine, e.g. in a 1C form attribute: `suz_pending_import` there,
/// with a client of the same configuration and token store, restores it. The string is sealed
/// (ChaCha20-Poly1305) with a random key kept in the token store — `pending.key` (0600) in the
/// cache directory, or in Redis for a fleet — so it cannot be read (the registration key it
/// carries included) nor altered, and only clients sharing that store can import it. It holds
/// no client secret or password. It can be imported for 10 minutes after phase one. From now
/// on finishing this operation, or any imported copy, is recorded in the client's file store,
/// so that it is finished once in all. `SUZ_RESULT_STORE` when the store's key cannot be read
/// or created. `*string_out` is freed with `suz_string_free`.
#[no_mangle]
pub unsafe extern "C" fn suz_pending_export(
    pending: *mut SuzPending,
    string_out: *mut *mut c_char,
) -> SuzResult {
    boundary::call(|| {
        let pending = &mut boundary::mut_arg(pending, "pending")?.inner;
        let out = out_arg!(string_out)?;
        *out = owned_c_string(&pending.export()?);
        Ok(())
    })
}

/// Restores a pending operation exported with `suz_pending_export`, for `client`. A string
/// that is damaged or altered, sealed by a client that does not share this client's token
/// store, from another version of the library (the unsealed `suz-pending.1.` format included),
/// made with a configuration whose service URL differs from this client's, older than 10
/// minutes or dated in the future is
/// `SUZ_RESULT_INVALID_ARGUMENT`, with a message saying which; nothing is sent. One that was
/// already finished is refused when finishing. `*pending_out` is freed with `suz_pending_free`.
#[no_mangle]
pub unsafe extern "C" fn suz_pending_import(
    client: *const SuzClient,
    exported: *const c_char,
    pending_out: *mut *mut SuzPending,
) -> SuzResult {
    boundary::call(|| {
        let client = &arg!(client)?.inner;
        let text = str_arg!(exported)?;
        let out = out_arg!(pending_out)?;
        write_pending(out, client.pending_import(text)?);
        Ok(())
    })
}

/// Frees a pending operation. NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn suz_pending_free(pending: *mut SuzPending) {
    boundary::free_box(pending)
}

/// The token's value (NUL-terminated), valid until the token is freed; NULL if `token` is NULL.
/// It is a secret: do not log it.
#[no_mangle]
pub unsafe extern "C" fn suz_token_value(token: *const SuzToken) -> *const c_char {
    boundary::get(std::ptr::null(), || {
        Some(token.as_ref()?.token.value_with_nul().as_ptr().cast())
    })
}

/// The flow that minted the token (a `SuzFlow`); 0 if `token` is NULL.
#[no_mangle]
pub unsafe extern "C" fn suz_token_flow(token: *const SuzToken) -> u32 {
    boundary::get(0, || Some(token.as_ref()?.token.flow().code()))
}

/// When the token was obtained, Unix time in milliseconds; 0 if `token` is NULL.
#[no_mangle]
pub unsafe extern "C" fn suz_token_obtained_at_ms(token: *const SuzToken) -> i64 {
    boundary::get(0, || Some(token.as_ref()?.token.obtained_at_ms()))
}

/// When the token expires, Unix time in milliseconds; 0 if `token` is NULL.
#[no_mangle]
pub unsafe extern "C" fn suz_token_expires_at_ms(token: *const SuzToken) -> i64 {
    boundary::get(0, || Some(token.as_ref()?.token.expires_at_ms()))
}

/// Frees a token and wipes its value from memory. NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn suz_token_free(token: *mut SuzToken) {
    boundary::free_box(token)
}
