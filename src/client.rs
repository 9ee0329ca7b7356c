//! The client: configuration, one pooled transport, and the default signer.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use crate::config::{Config, Service};
use crate::error::{Error, ErrorKind, Result};
use crate::flows::PendingSignature;
use crate::http::Transport;
use crate::signer::{CommandSigner, Signer};
use crate::token::manager::TokenManager;

/// A configured client. Cheap to share: it is `Send + Sync`, and every call may run on any
/// thread at the same time as others. Keep-alive connections are pooled per client.
pub struct Client {
    pub(crate) config: Config,
    pub(crate) transport: Transport,
    default_signer: Option<Arc<dyn Signer>>,
    /// Signers registered at run time, by profile name ("" for the default).
    pub(crate) signers: RwLock<HashMap<String, Arc<dyn Signer>>>,
    /// The token cache, opened on first use (so clients that never cache touch no disk).
    tokens: OnceLock<std::result::Result<TokenManager, Error>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client from a JSON configuration document (see the README's config reference).
    pub fn from_json(config_json: &str) -> Result<Client> {
        Self::new(Config::from_json(config_json)?)
    }

    pub fn new(config: Config) -> Result<Client> {
        let transport = Transport::new(&config)?;
        let default_signer = config
            .command_signer
            .clone()
            .map(|c| Arc::new(CommandSigner::new(c)) as Arc<dyn Signer>);
        Ok(Client {
            config,
            transport,
            default_signer,
            signers: RwLock::new(HashMap::new()),
            tokens: OnceLock::new(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The signer configured in the client's JSON (`signer.command`), if any.
    pub fn default_signer(&self) -> Option<&Arc<dyn Signer>> {
        self.default_signer.as_ref()
    }

    /// The token cache of this client.
    pub fn tokens(&self) -> Result<&TokenManager> {
        self.tokens
            .get_or_init(|| TokenManager::new(&self.config.cache, self.config.redis.as_ref()))
            .as_ref()
            .map_err(Clone::clone)
    }

    pub(crate) fn url(&self, service: Service, path: &str) -> Result<String> {
        Ok(format!("{}{path}", self.config.url(service)?))
    }

    /// The given signer, or the configured one, or an error that says how to provide one.
    pub(crate) fn pick_signer<'a>(
        &'a self,
        signer: Option<&'a dyn Signer>,
    ) -> Result<&'a dyn Signer> {
        signer
            .or(self.default_signer.as_deref())
            .ok_or_else(|| {
                Error::invalid_argument(
                    "this flow needs a signer: pass one, or configure `signer.command`, or use the two-phase functions",
                )
            })
    }

    /// begin -> sign -> finish within one deadline: the one code path behind the callback and
    /// command signers.
    pub(crate) fn sign_pending(
        &self,
        pending: &PendingSignature,
        signer: &dyn Signer,
        deadline: Instant,
    ) -> Result<Vec<u8>> {
        let signature = signer.sign(pending.data(), pending.kind())?;
        if Instant::now() >= deadline {
            return Err(Error::new(
                ErrorKind::Timeout,
                "the call's total timeout ran out while the signer was working",
            ));
        }
        Ok(signature)
    }
}
