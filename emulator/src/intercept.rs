//! The intercepting mode: HTTPS for the real services' host names, so that a program with
//! those names built in (a 1C configuration, a vendor's client) reaches the emulator through a
//! hosts-file entry or a proxy setting alone. The certificate comes from the emulator's own CA,
//! kept in a directory so that the developer trusts it once (`suz-emulator ca DIR`).
//!
//! Requests arrive three ways: on the TLS port (`--intercept-port`, 443 for a hosts-file
//! entry), through `CONNECT host:port` on the main port (a proxy setting), and with a real
//! `Host` on the plain port. Each is routed by its `Host` to the service's prefix.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;

/// The host names served, and the emulator's prefix of the service behind each: the
/// production and sandbox hosts the library's stands name (`core/src/config/stands.rs`), and
/// `ismp.crpt.ru`, GIS MT's older production name.
pub const HOSTS: &[(&str, &str)] = &[
    ("suzgrid.crpt.ru", "/suz"),
    ("suz.sandbox.crptech.ru", "/suz"),
    ("suz-integrator.sandbox.crptech.ru", "/suz"),
    ("intuot.crpt.ru", "/suz"),
    ("api.mdlp.crpt.ru", "/mdlp"),
    ("api.sb.mdlp.crpt.ru", "/mdlp"),
    ("nrz.api.mdlp.crpt.ru", "/mdlp"),
    ("nrz.api.sb.mdlp.crpt.ru", "/mdlp"),
    ("ismp.crpt.ru", "/gismt"),
    ("ismpr.crpt.ru", "/gismt"),
    ("demo.lp.crpt.tech", "/gismt"),
    ("markirovka.crpt.ru", "/trueapi"),
    ("markirovka.sandbox.crptech.ru", "/trueapi"),
    ("ismotp.crptech.ru", "/trueapi"),
    ("salute.online.sberbank.ru", "/smartmarket"),
];

/// The prefix for a `Host` header or a CONNECT target (`name` or `name:port`, any case).
pub fn prefix_for(host: &str) -> Option<&'static str> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_end_matches('.');
    HOSTS
        .iter()
        .find(|(h, _)| h.eq_ignore_ascii_case(name))
        .map(|(_, p)| *p)
}

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const CA_NAME: &str = "suz-emulator intercepting CA";

/// The emulator's CA in `dir`: made on first use (`ca.pem`, and `ca.key` readable by its owner
/// only; neither written through a symlink), read back afterwards. The certificate (PEM) and
/// the issuer to sign with.
pub fn load_or_make_ca(
    dir: &Path,
) -> Result<(String, rcgen::Issuer<'static, rcgen::KeyPair>), String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let e = |x: rcgen::Error| x.to_string();
    let params = || -> Result<CertificateParams, String> {
        let mut p = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.distinguished_name.push(DnType::CommonName, CA_NAME);
        p.distinguished_name
            .push(DnType::OrganizationName, "suz-emulator (development only)");
        Ok(p)
    };
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    let read = |p: &Path| -> Result<Option<String>, String> {
        match std::fs::symlink_metadata(p) {
            Ok(m) if !m.file_type().is_file() => {
                Err(format!("{} is not a regular file", p.display()))
            }
            Ok(_) => std::fs::read_to_string(p)
                .map(Some)
                .map_err(|x| format!("{}: {x}", p.display())),
            Err(_) => Ok(None),
        }
    };
    match (read(&cert_path)?, read(&key_path)?) {
        (Some(pem), Some(key_pem)) => {
            let key = KeyPair::from_pem(&key_pem).map_err(|x| format!("{}: {x}", key_path.display()))?;
            Ok((pem, rcgen::Issuer::new(params()?, key)))
        }
        (None, None) => {
            std::fs::create_dir_all(dir).map_err(|x| format!("{}: {x}", dir.display()))?;
            let key = KeyPair::generate().map_err(e)?;
            let cert = params()?.self_signed(&key).map_err(e)?;
            write_new(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
            write_new(&cert_path, cert.pem().as_bytes(), 0o644)?;
            Ok((cert.pem(), rcgen::Issuer::new(params()?, key)))
        }
        _ => Err(format!(
            "{} holds one of {CA_CERT} and {CA_KEY} without the other: remove it or choose another directory",
            dir.display()
        )),
    }
}

/// Creates `path` (never through a symlink, never over an existing file) with `bytes`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode).custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options
        .open(path)
        .map_err(|x| format!("{}: {x}", path.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|x| format!("{}: {x}", path.display()))
}

/// A TLS server configuration whose certificate names every host in [`HOSTS`], issued by the
/// CA in `dir`; and the CA certificate (PEM).
pub fn server_config(dir: &Path) -> Result<(Arc<rustls::ServerConfig>, String), String> {
    use rcgen::{CertificateParams, DnType, KeyPair};
    let (ca_pem, issuer) = load_or_make_ca(dir)?;
    let e = |x: rcgen::Error| x.to_string();
    let key = KeyPair::generate().map_err(e)?;
    let names: Vec<String> = HOSTS.iter().map(|(h, _)| (*h).to_owned()).collect();
    let mut params = CertificateParams::new(names).map_err(e)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "suz-emulator (intercepting)");
    let cert = params.signed_by(&key, &issuer).map_err(e)?;
    let ca_der = rustls_pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .map_err(|x| format!("{CA_CERT}: {x}"))?;
    let config = crate::tls_server(vec![cert.der().clone(), ca_der], &key)?;
    Ok((config, ca_pem))
}
