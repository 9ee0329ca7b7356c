//! The services and the base URLs of their published stands.

use crate::value::Service;

impl Service {
    /// Base URL of a named stand, from PROTOCOL.md (the CRPT instruction v1.2 and Sber's
    /// SmartMarket documentation). `None` when the stand does not exist for this service.
    pub fn stand_url(self, stand: &str) -> Option<&'static str> {
        Some(match (self, stand) {
            (Service::Suz, "demo") => "https://intuot.crpt.ru:16443",
            (Service::Suz, "production") => "https://suzgrid.crpt.ru:16443",
            (Service::Mdlp, "demo" | "sandbox") => "https://api.sb.mdlp.crpt.ru/api/v1",
            (Service::Mdlp, "production") => "https://api.mdlp.crpt.ru/api/v1",
            (Service::Mdlp, "demo-nonresident" | "sandbox-nonresident") => {
                "https://nrz.api.sb.mdlp.crpt.ru/api/v1"
            }
            (Service::Mdlp, "production-nonresident") => "https://nrz.api.mdlp.crpt.ru/api/v1",
            (Service::Gismt, "demo") => "https://demo.lp.crpt.tech/api/v3",
            (Service::Gismt, "production") => "https://ismpr.crpt.ru/api/v3",
            (Service::TrueApi, "demo") => "https://int01.gismt.crpt.tech/api/v3/true-api",
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
