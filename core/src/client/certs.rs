//! The signing certificate, checked before a signed request is sent (see
//! [`PendingSignature::signer_certificate`]), and its coming expiry told in the log: a Warn once
//! a day from 30 days before, an Error once a day from 7 days before.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Client;
use crate::error::Result;
use crate::flows::PendingSignature;
use crate::log::{log_at, Level};
use crate::token::now_ms;
use crate::value::Certificate;

const DAY_MS: i64 = 86_400_000;

/// Per certificate (thumbprint): the day and level of the last expiry warning.
static TOLD: Mutex<Option<HashMap<String, (i64, Level)>>> = Mutex::new(None);

impl Client {
    /// The certificate in `signature`, checked (validity, `inn`) before anything is sent.
    pub(super) fn checked_certificate(
        &self,
        pending: &PendingSignature,
        signature: &[u8],
        strict_inn: bool,
    ) -> Result<Option<Certificate>> {
        let now = now_ms();
        let certificate = pending.signer_certificate(signature, now, strict_inn)?;
        if let Some(c) = &certificate {
            tell_expiry(c, now);
        }
        Ok(certificate)
    }
}

/// Logs a certificate's coming expiry: Error within 7 days, Warn within 30, each once a day.
fn tell_expiry(c: &Certificate, now: i64) {
    let left = c.not_after_ms.saturating_sub(now);
    let level = if left <= 7 * DAY_MS {
        Level::Error
    } else if left <= 30 * DAY_MS {
        Level::Warn
    } else {
        return;
    };
    let today = now.div_euclid(DAY_MS);
    {
        let mut told = TOLD.lock().unwrap_or_else(|e| e.into_inner());
        let told = told.get_or_insert_with(HashMap::new);
        if told.get(&c.thumbprint) == Some(&(today, level)) {
            return;
        }
        told.insert(c.thumbprint.clone(), (today, level));
    }
    log_at!(
        level,
        "the signing certificate of {} ({}), thumbprint {}, expires on {} ({} days left): renew it",
        c.subject,
        c.inns(),
        c.thumbprint,
        crate::civil::date(c.not_after_ms),
        left / DAY_MS
    );
}
