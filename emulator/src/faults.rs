//! The endpoints by the names counters and faults use, and the faults the admin API queues for
//! them.

use serde::{Deserialize, Serialize};

/// The endpoints, by the names counters and faults use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Endpoint {
    #[serde(rename = "suz.register")]
    SuzRegister,
    #[serde(rename = "suz.ping")]
    SuzPing,
    #[serde(rename = "suz.version")]
    SuzVersion,
    #[serde(rename = "suz.orders")]
    SuzOrders,
    #[serde(rename = "mdlp.auth")]
    MdlpAuth,
    #[serde(rename = "mdlp.token")]
    MdlpToken,
    #[serde(rename = "mdlp.session")]
    MdlpSession,
    #[serde(rename = "mdlp.documents")]
    MdlpDocuments,
    #[serde(rename = "gismt.key")]
    GismtKey,
    #[serde(rename = "gismt.token")]
    GismtToken,
    #[serde(rename = "gismt.sign_in")]
    GismtSignIn,
    #[serde(rename = "trueapi.key")]
    TrueApiKey,
    #[serde(rename = "trueapi.token")]
    TrueApiToken,
    #[serde(rename = "trueapi.sign_in")]
    TrueApiSignIn,
    #[serde(rename = "gismt.documents")]
    GismtDocuments,
    #[serde(rename = "trueapi.participants")]
    TrueApiParticipants,
    #[serde(rename = "smartmarket.oauth")]
    SmartMarketOauth,
    #[serde(rename = "smartpush.apprequest")]
    SmartPush,
}

impl Endpoint {
    /// Whether GIS MT (its own hosts) answers this endpoint.
    pub fn is_gismt(self) -> bool {
        matches!(
            self,
            Endpoint::GismtKey
                | Endpoint::GismtToken
                | Endpoint::GismtSignIn
                | Endpoint::GismtDocuments
        )
    }

    /// Every endpoint, in the order the README lists them.
    pub const ALL: [Endpoint; 18] = [
        Endpoint::SuzRegister,
        Endpoint::SuzPing,
        Endpoint::SuzVersion,
        Endpoint::SuzOrders,
        Endpoint::MdlpAuth,
        Endpoint::MdlpToken,
        Endpoint::MdlpSession,
        Endpoint::MdlpDocuments,
        Endpoint::GismtKey,
        Endpoint::GismtToken,
        Endpoint::GismtSignIn,
        Endpoint::TrueApiKey,
        Endpoint::TrueApiToken,
        Endpoint::TrueApiSignIn,
        Endpoint::GismtDocuments,
        Endpoint::TrueApiParticipants,
        Endpoint::SmartMarketOauth,
        Endpoint::SmartPush,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::SuzRegister => "suz.register",
            Endpoint::SuzPing => "suz.ping",
            Endpoint::SuzVersion => "suz.version",
            Endpoint::SuzOrders => "suz.orders",
            Endpoint::MdlpAuth => "mdlp.auth",
            Endpoint::MdlpToken => "mdlp.token",
            Endpoint::MdlpSession => "mdlp.session",
            Endpoint::MdlpDocuments => "mdlp.documents",
            Endpoint::GismtKey => "gismt.key",
            Endpoint::GismtToken => "gismt.token",
            Endpoint::GismtSignIn => "gismt.sign_in",
            Endpoint::TrueApiKey => "trueapi.key",
            Endpoint::TrueApiToken => "trueapi.token",
            Endpoint::TrueApiSignIn => "trueapi.sign_in",
            Endpoint::GismtDocuments => "gismt.documents",
            Endpoint::TrueApiParticipants => "trueapi.participants",
            Endpoint::SmartMarketOauth => "smartmarket.oauth",
            Endpoint::SmartPush => "smartpush.apprequest",
        }
    }
}

/// What a fault does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// `status` (default 500) with `body` and `content_type`.
    #[default]
    Status,
    /// A proxy's HTML page (default 502).
    Html,
    /// 200 with a body shorter than its Content-Length.
    Truncated,
    /// Close without answering.
    Cut,
    /// No body (default 200).
    Empty,
    /// Wait `delay_ms`, then answer normally.
    Delay,
    /// What a gateway does when the service behind it stalls: wait `delay_ms` (default 30000),
    /// then `status` (default 500).
    Hang,
    /// A SUZ domain error: `status` (default 400) with `{"globalErrors": [{error_code, message}]}`.
    SuzError,
    /// Answer normally, the body gzip-compressed (`Content-Encoding: gzip`).
    Gzip,
    /// Answer normally, the body sent with `Transfer-Encoding: chunked`.
    Chunked,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 10] = [
        FaultKind::Status,
        FaultKind::Html,
        FaultKind::Truncated,
        FaultKind::Cut,
        FaultKind::Empty,
        FaultKind::Delay,
        FaultKind::Hang,
        FaultKind::SuzError,
        FaultKind::Gzip,
        FaultKind::Chunked,
    ];
}

/// A queued fault.
#[derive(Clone, Debug, Serialize)]
pub struct Fault {
    pub endpoint: Endpoint,
    pub kind: FaultKind,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub content_type: Option<String>,
    pub retry_after: Option<u64>,
    pub delay_ms: u64,
    /// Remaining uses; 0 = until cleared.
    pub times: u64,
    pub error_code: Option<i64>,
    pub message: Option<String>,
}
