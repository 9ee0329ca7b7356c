//! The client handle.

use std::ffi::c_char;
use std::sync::Arc;

use suz_auth_core::Client;

use crate::boundary;
use crate::result::SuzResult;

/// A configured client: one pooled HTTP connection set and the configuration.
///
/// Thread safety: a `SuzClient` may be used from any number of threads at once; every function
/// takes it as `const`. Free it once, after every call that uses it has returned.
pub struct SuzClient {
    /// Shared with the threads that refresh tokens behind the callers (see `suz_token_get`).
    pub(crate) inner: Arc<Client>,
}

/// Creates a client from a JSON configuration document (see the README's config reference).
///
/// An unknown or mistyped key fails with `SUZ_RESULT_CONFIG` and a message that names the key.
/// On success `*client_out` receives a client to free with `suz_client_free`.
#[no_mangle]
pub unsafe extern "C" fn suz_client_new(
    config_json: *const c_char,
    client_out: *mut *mut SuzClient,
) -> SuzResult {
    boundary::call(|| {
        let json = str_arg!(config_json)?;
        let out = out_arg!(client_out)?;
        let inner = Client::from_json(json)?;
        *out = Box::into_raw(Box::new(SuzClient {
            inner: Arc::new(inner),
        }));
        Ok(())
    })
}

/// Frees a client. NULL does nothing. No call may be using the client at the same time.
/// A refresh running on a thread of the library's through a callback signer is waited for
/// (at most `timeouts.total_ms` + `cache.lock_timeout_ms`): once this returns, no callback
/// runs for this client unless that wait ran out.
#[no_mangle]
pub unsafe extern "C" fn suz_client_free(client: *mut SuzClient) {
    boundary::free_with(client, |client| {
        let client = Box::from_raw(client);
        client.inner.wait_for_background();
    })
}
