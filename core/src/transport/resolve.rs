//! Name resolution without a thread per request.
//!
//! ureq resolves the host of every request, pooled connection or not, and its resolver bounds
//! a lookup by a timeout by running it on a new thread — one OS thread per request whenever a
//! timeout is set, as here. This resolver answers an IP literal (`127.0.0.1`, `[::1]`) at once
//! and keeps a host name's addresses for [`KEEP`], so a thread is started only for a real
//! lookup, at most once per host per [`KEEP`]. A failed lookup is not kept.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a host name's addresses are used before it is looked up again. Short enough to
/// follow a DNS change of the services (their records live minutes), long enough that a
/// process making a request a second looks each host up once a minute.
pub(crate) const KEEP: Duration = Duration::from_secs(60);

/// The most host names kept (the services are a handful; a proxy adds one).
const MAX_HOSTS: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct KeepingResolver {
    lookup: DefaultResolver,
    kept: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl Resolver for KeepingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (Some(host), Some(port)) = (
            uri.host(),
            uri.port_u16()
                .or_else(|| default_port(uri.scheme_str().unwrap_or(""))),
        ) else {
            return self.lookup.resolve(uri, config, timeout);
        };
        let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
        if let Ok(ip) = literal.unwrap_or(host).parse::<IpAddr>() {
            let mut addrs = self.empty();
            addrs.push(SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let name = format!("{host}:{port}");
        {
            let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, addrs)) = kept.get(&name) {
                if at.elapsed() < KEEP {
                    return Ok(addrs.clone());
                }
            }
        }
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|_, (at, _)| at.elapsed() < KEEP);
        if kept.len() < MAX_HOSTS {
            kept.insert(name, (Instant::now(), addrs.clone()));
        }
        Ok(addrs)
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(r: &KeepingResolver, url: &str) -> Vec<SocketAddr> {
        let uri: Uri = url.parse().unwrap();
        let config = Config::default();
        r.resolve(&uri, &config, NextTimeout::default())
            .unwrap()
            .iter()
            .copied()
            .collect()
    }

    #[test]
    fn ip_literals_need_no_lookup_and_names_are_kept() {
        let r = KeepingResolver::default();
        assert_eq!(
            resolve(&r, "http://127.0.0.1:8080/x"),
            ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve(&r, "https://[::1]/x"),
            ["[::1]:443".parse::<SocketAddr>().unwrap()]
        );
        assert!(r.kept.lock().unwrap().is_empty(), "a literal is not kept");
        let first = resolve(&r, "http://localhost:9/");
        assert!(first.iter().all(|a| a.ip().is_loopback()), "{first:?}");
        assert!(r.kept.lock().unwrap().contains_key("localhost:9"));
        assert_eq!(resolve(&r, "http://localhost:9/other"), first);
    }
}
