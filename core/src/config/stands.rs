//! The services and the base URLs of their published stands.

use crate::value::Service;

impl Service {
    /// Base URL of a named stand, from PROTOCOL.md (the CRPT instruction v1.2 and Sber's
    /// SmartMarket documentation). `None` when the stand does not exist for this service.
    pub fn stand_url(self, stand: &str) -> Option<&'static str> {
        Some(match (self, stand) {
            // «API СУЗ 3.0» §4.4: the API on 443; registration elsewhere (see below).
            (Service::Suz, "demo" | "sandbox") => "https://suz.sandbox.crptech.ru",
            (Service::Suz, "production") => "https://suzgrid.crpt.ru",
            (Service::Mdlp, "demo" | "sandbox") => "https://api.sb.mdlp.crpt.ru/api/v1",
            (Service::Mdlp, "production") => "https://api.mdlp.crpt.ru/api/v1",
            (Service::Mdlp, "demo-nonresident" | "sandbox-nonresident") => {
                "https://nrz.api.sb.mdlp.crpt.ru/api/v1"
            }
            (Service::Mdlp, "production-nonresident") => "https://nrz.api.mdlp.crpt.ru/api/v1",
            (Service::Gismt, "demo") => "https://demo.lp.crpt.tech/api/v3",
            (Service::Gismt, "production") => "https://ismpr.crpt.ru/api/v3",
            // «API СУЗ 3.0» §9.3.2 and stemirkhan/suz-sdk-python's `_TRUE_API_BASE_URLS`.
            (Service::TrueApi, "demo" | "sandbox") => {
                "https://markirovka.sandbox.crptech.ru/api/v3/true-api"
            }
            (Service::TrueApi, "production") => "https://markirovka.crpt.ru/api/v3/true-api",
            (Service::TrueApi, "production-tobacco") => "https://ismotp.crptech.ru/api/v3/true-api",
            // SmartMarket publishes one address for everything.
            (Service::SmartMarket, "demo" | "production") => {
                "https://salute.online.sberbank.ru:9443"
            }
            _ => return None,
        })
    }

    /// Path of this service under the bundled emulator's base URL.
    pub fn emulator_path(self) -> &'static str {
        match self {
            Service::Suz => "/suz",
            Service::Mdlp => "/mdlp/api/v1",
            Service::Gismt => "/gismt/api/v3",
            Service::TrueApi => "/trueapi/api/v3/true-api",
            Service::SmartMarket => "/smartmarket",
        }
    }

    pub(crate) const ALL: [Service; 5] = [
        Service::Suz,
        Service::Mdlp,
        Service::Gismt,
        Service::TrueApi,
        Service::SmartMarket,
    ];
}

/// The SUZ API's URL on a stand for `api`: v3's (`Service::stand_url`), or v2's — the one
/// host of the CRPT instruction v1.2, port 16443, registration and API alike.
pub(super) fn suz_url(stand: &str, api: super::SuzApi) -> Option<&'static str> {
    match api {
        super::SuzApi::V3 => Service::Suz.stand_url(stand),
        super::SuzApi::V2 => v2_url(stand),
    }
}

/// Where a stand registers installations for `api`: for v3 the registration hosts of «API СУЗ
/// 3.0» §9.2.1 (production's port 16443, the sandbox's integrator host); for v2 the v2 host.
pub(super) fn suz_registration_url(stand: &str, api: super::SuzApi) -> Option<&'static str> {
    match (api, stand) {
        (super::SuzApi::V3, "production") => Some("https://suzgrid.crpt.ru:16443"),
        (super::SuzApi::V3, "demo" | "sandbox") => {
            Some("https://suz-integrator.sandbox.crptech.ru")
        }
        (super::SuzApi::V3, _) => None,
        (super::SuzApi::V2, stand) => v2_url(stand),
    }
}

fn v2_url(stand: &str) -> Option<&'static str> {
    match stand {
        "demo" | "sandbox" => Some("https://intuot.crpt.ru:16443"),
        "production" => Some("https://suzgrid.crpt.ru:16443"),
        _ => None,
    }
}
