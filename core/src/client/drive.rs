//! The driver: runs each flow's steps over the transport under one deadline per call. The
//! protocol itself (what to send, what an answer means) is in [`crate::flows`].

use std::time::Instant;

use super::Client;
use crate::config::Service;
use crate::error::{Error, Result};
use crate::flows::challenge::ChallengeInputs;
use crate::flows::mdlp::{self, AuthType};
use crate::flows::{registration, smartmarket, MdlpCredentials, PendingSignature, Start};
use crate::log::{log_at, Level};
use crate::signer::Signer;
use crate::token::{now_ms, Flow, Token};

impl Client {
    /// Phase one of a registration: builds the body; no network. The host signs
    /// [`PendingSignature::data`] (detached) and calls [`Client::register_finish`].
    pub fn register_begin(
        &self,
        oms_id: &str,
        registration_key: &str,
        address: &str,
    ) -> Result<PendingSignature> {
        let pending = registration::begin(
            &self.config.registration_base()?,
            oms_id,
            registration_key,
            address,
            start(),
        )?;
        self.sealed(pending)
    }

    /// `pending`, exportable: with this client's token store key (see [`crate::flows::carry`]).
    /// A store that cannot be reached now fails only an export of the operation, not its begin:
    /// a caller that finishes in this process needs no key.
    fn sealed(&self, pending: PendingSignature) -> Result<PendingSignature> {
        Ok(match self.tokens().and_then(|t| t.seal_key()) {
            Ok(key) => pending.with_seal(key),
            Err(e) => {
                log_at!(
                    Level::Warn,
                    "the key for exporting pending operations cannot be read now: {e}"
                );
                pending.without_seal(e.message)
            }
        })
    }

    /// Phase two: sends the body that was signed with its signature; returns `omsConnection`.
    /// Once a signature was accepted for sending, the operation is spent, whatever the answer:
    /// finishing it again is refused (see [`Client::finish_token`]).
    pub fn register_finish(&self, pending: &PendingSignature, signature: &[u8]) -> Result<String> {
        let request = pending.registration_request(Some(signature))?;
        self.checked_certificate(pending, signature, false)?;
        self.claim(pending)?;
        self.exchange(&request, self.deadline(), registration::parse)
    }

    /// Registers an installation in one call and returns its `omsConnection`. With `pharma`
    /// no `X-Signature` is sent (only the pharma group may do so) and no signer is used;
    /// otherwise the body is signed (detached) by `signer`, or the configured
    /// `signer.command` when `signer` is `None`.
    pub fn register_connection(
        &self,
        oms_id: &str,
        registration_key: &str,
        address: &str,
        pharma: bool,
        signer: Option<&dyn Signer>,
    ) -> Result<String> {
        let deadline = self.deadline();
        let pending = self.register_begin(oms_id, registration_key, address)?;
        let signature = if pharma {
            None
        } else {
            let signer = self.pick_signer(signer)?;
            Some(self.sign(pending.data(), pending.kind(), signer, deadline)?)
        };
        let request = pending.registration_request(signature.as_deref())?;
        if let Some(signature) = &signature {
            self.checked_certificate(&pending, signature, false)?;
        }
        self.exchange(&request, deadline, registration::parse)
    }

    fn mdlp_code(
        &self,
        flow: Flow,
        oms_connection: &str,
        creds: &MdlpCredentials,
        auth: AuthType,
        deadline: Instant,
    ) -> Result<String> {
        let request = mdlp::code_request(
            flow,
            self.base_url(Service::Mdlp)?,
            oms_connection,
            creds,
            auth,
        )?;
        self.exchange(&request, deadline, mdlp::parse_code)
    }

    /// Phase one of MDLP `SIGNED_CODE`: asks for a code; the host signs it (detached).
    pub fn mdlp_begin(
        &self,
        oms_connection: &str,
        creds: &MdlpCredentials,
    ) -> Result<PendingSignature> {
        self.mdlp_flow_begin(Flow::Mdlp, oms_connection, creds)
    }

    /// [`Client::mdlp_begin`] for `flow`: `Mdlp` (a SUZ token for `oms_connection`) or
    /// `MdlpSession` (MDLP's own session; no installation).
    pub fn mdlp_flow_begin(
        &self,
        flow: Flow,
        oms_connection: &str,
        creds: &MdlpCredentials,
    ) -> Result<PendingSignature> {
        let code = self.mdlp_code(
            flow,
            oms_connection,
            creds,
            AuthType::SignedCode,
            self.deadline(),
        )?;
        self.sealed(mdlp::pending(
            flow,
            self.base_url(Service::Mdlp)?,
            oms_connection,
            code,
            start(),
        ))
    }

    /// A SUZ `clientToken` through MDLP in one call. With a `password`: `PASSWORD`
    /// authentication (non-residents), no signer used. Without: `SIGNED_CODE`, the code
    /// signed (detached) by `signer` or the configured `signer.command`.
    pub fn token_mdlp(
        &self,
        oms_connection: &str,
        creds: &MdlpCredentials,
        password: Option<&str>,
        signer: Option<&dyn Signer>,
    ) -> Result<Token> {
        self.token_mdlp_flow(Flow::Mdlp, oms_connection, creds, password, signer)
    }

    /// [`Client::token_mdlp`] for `flow`: `Mdlp` (a SUZ token for `oms_connection`) or
    /// `MdlpSession` (MDLP's own 30-minute session; no installation).
    pub fn token_mdlp_flow(
        &self,
        flow: Flow,
        oms_connection: &str,
        creds: &MdlpCredentials,
        password: Option<&str>,
        signer: Option<&dyn Signer>,
    ) -> Result<Token> {
        let deadline = self.deadline();
        let Some(password) = password else {
            let signer = self.pick_signer(signer)?;
            let code =
                self.mdlp_code(flow, oms_connection, creds, AuthType::SignedCode, deadline)?;
            let pending = mdlp::pending(
                flow,
                self.base_url(Service::Mdlp)?,
                oms_connection,
                code,
                start(),
            );
            return self.sign_and_finish(&pending, signer, deadline, false);
        };
        let code = self.mdlp_code(flow, oms_connection, creds, AuthType::Password, deadline)?;
        let request = mdlp::password_request(
            flow,
            self.base_url(Service::Mdlp)?,
            oms_connection,
            &code,
            password,
        )?;
        self.exchange(&request, deadline, |r| mdlp::parse_token(flow, r, now_ms()))
    }

    fn challenge_begin(
        &self,
        flow: Flow,
        oms_connection: &str,
        inn: Option<&str>,
        deadline: Instant,
    ) -> Result<PendingSignature> {
        let inputs =
            ChallengeInputs::new(flow, self.base_url(flow.service())?, oms_connection, inn)?;
        self.exchange(&inputs.key_request(), deadline, |r| {
            inputs.parse_key(r, start())
        })
    }

    /// Phase one of GIS MT: fetches a challenge; the host signs it (attached).
    pub fn gismt_begin(&self, oms_connection: &str) -> Result<PendingSignature> {
        let pending = self.challenge_begin(Flow::Gismt, oms_connection, None, self.deadline())?;
        self.sealed(pending)
    }

    /// Phase one of True API; `inn` selects the organisation when the certificate covers several.
    pub fn trueapi_begin(
        &self,
        oms_connection: &str,
        inn: Option<&str>,
    ) -> Result<PendingSignature> {
        let pending = self.challenge_begin(Flow::TrueApi, oms_connection, inn, self.deadline())?;
        self.sealed(pending)
    }

    /// Phase one of a token signed in without an installation (`flow` of
    /// [`crate::value::Kind::SignedIn`]); `inn` selects the organisation under a power of
    /// attorney when the certificate covers several.
    pub fn signed_in_begin(&self, flow: Flow, inn: Option<&str>) -> Result<PendingSignature> {
        let pending = self.challenge_begin(flow, "", inn, self.deadline())?;
        self.sealed(pending)
    }

    /// A token signed in without an installation (True API's own JWT, the united token, GIS
    /// MT's) in one call: the challenge, signed attached, sent with no installation.
    pub fn token_signed_in(
        &self,
        flow: Flow,
        inn: Option<&str>,
        signer: Option<&dyn Signer>,
    ) -> Result<Token> {
        self.token_challenge(flow, "", inn, signer, false)
    }

    /// A challenge flow in one call; with `strict_inn` a certificate that does not hold `inn`
    /// sends nothing (see [`PendingSignature::signer_certificate`]).
    pub(super) fn token_challenge(
        &self,
        flow: Flow,
        oms_connection: &str,
        inn: Option<&str>,
        signer: Option<&dyn Signer>,
        strict_inn: bool,
    ) -> Result<Token> {
        let signer = self.pick_signer(signer)?;
        let deadline = self.deadline();
        let pending = self.challenge_begin(flow, oms_connection, inn, deadline)?;
        self.sign_and_finish(&pending, signer, deadline, strict_inn)
    }

    /// GIS MT token in one call.
    pub fn token_gismt(&self, oms_connection: &str, signer: Option<&dyn Signer>) -> Result<Token> {
        self.token_challenge(Flow::Gismt, oms_connection, None, signer, false)
    }

    /// True API token in one call.
    pub fn token_trueapi(
        &self,
        oms_connection: &str,
        inn: Option<&str>,
        signer: Option<&dyn Signer>,
    ) -> Result<Token> {
        self.token_challenge(Flow::TrueApi, oms_connection, inn, signer, false)
    }

    /// Phase two of any signed token flow (MDLP code, GIS MT or True API challenge). A signature
    /// that is refused before sending leaves the operation to finish again; once one was
    /// accepted for sending the operation is spent, whatever the answer (the server may have
    /// spent its challenge), and finishing it again — or a copy, imported anywhere the file
    /// store reaches — is [`crate::ErrorKind::InvalidArgument`] with nothing sent: begin again.
    pub fn finish_token(&self, pending: &PendingSignature, signature: &[u8]) -> Result<Token> {
        if pending.lease().is_some() {
            // Finishing here would mint a token outside the cache, revoking the cached one.
            return Err(Error::invalid_argument(
                "this pending operation was begun by suz_token_acquire: complete it with suz_token_complete, which stores the token for every caller",
            ));
        }
        // The signature is checked first: a wrong one leaves the operation to finish again.
        let request = pending.token_request(signature)?;
        let certificate = self.checked_certificate(pending, signature, false)?;
        self.claim(pending)?;
        self.exchange(&request, self.deadline(), |r| {
            pending.parse_token(r, now_ms())
        })
        .map(|t| t.with_certificate(certificate))
    }

    /// A state exported with [`PendingSignature::export`], in this or another process or
    /// machine with the same configuration (see [`crate::flows::carry`]).
    pub fn pending_import(&self, text: &str) -> Result<PendingSignature> {
        PendingSignature::import(
            text,
            &self.tokens()?.seal_key()?,
            // A registration names no token flow: its URL is the registration one (`Suz`).
            &|service| match service {
                Service::Suz => self.config.registration_base().ok(),
                _ => self.base_url(service).ok().map(str::to_owned),
            },
            now_ms(),
        )
    }

    /// Records that `pending` is being finished, before anything is sent: finishing it again —
    /// it or a copy, imported in this process or (for a carried state, through the file store)
    /// in any other — is refused with [`crate::ErrorKind::InvalidArgument`].
    pub(super) fn claim(&self, pending: &PendingSignature) -> Result<()> {
        let already = || {
            Error::invalid_argument(
                "this pending operation was already finished (its challenge or code is spent); begin again",
            )
        };
        {
            let now = now_ms();
            let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
            // Forget what is older than an hour: bounded memory; the server refuses a spent
            // challenge anyway.
            finished.retain(|_, at| now - *at < 3_600_000);
            if finished.insert(pending.finish_id(), now).is_some() {
                return Err(already());
            }
        }
        if pending.is_carried() {
            if let Some(files) = self.tokens()?.file_store()? {
                if !files.claim_finish(&pending.finish_id())? {
                    return Err(already());
                }
            }
        }
        Ok(())
    }

    fn sign_and_finish(
        &self,
        pending: &PendingSignature,
        signer: &dyn Signer,
        deadline: Instant,
        strict_inn: bool,
    ) -> Result<Token> {
        let signature = self.sign(pending.data(), pending.kind(), signer, deadline)?;
        let request = pending.token_request(&signature)?;
        let certificate = self.checked_certificate(pending, &signature, strict_inn)?;
        self.exchange(&request, deadline, |r| pending.parse_token(r, now_ms()))
            .map(|t| t.with_certificate(certificate))
    }

    /// A SmartMarket OAuth `access_token` for `scope` (default `SMART_PUSH`).
    pub fn token_smartmarket(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
    ) -> Result<Token> {
        let request = smartmarket::token_request(
            self.base_url(Service::SmartMarket)?,
            client_id,
            client_secret,
            scope,
            crate::random::rquid(),
        )?;
        self.exchange(&request, self.deadline(), |r| {
            smartmarket::parse_token(r, now_ms())
        })
    }

    /// The SmartPush `apprequest` call: `body_json` is the whole request body
    /// (`{"requestPayload": {...}}`); returns the answer's JSON text.
    pub fn smartpush_request(&self, access_token: &str, body_json: &str) -> Result<String> {
        let request = smartmarket::smartpush_request(
            self.base_url(Service::SmartMarket)?,
            access_token,
            body_json,
            crate::random::rquid(),
        )?;
        self.exchange(&request, self.deadline(), smartmarket::parse_smartpush)
    }
}

/// What a pending operation starts with: a random id and the time. The flows take both as
/// inputs and read no clock and no random source themselves.
fn start() -> Start {
    Start {
        id: crate::random::uuid().simple().to_string(),
        at_ms: now_ms(),
    }
}
