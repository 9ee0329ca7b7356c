//! Name resolution without a thread per request.
//!
//! A system lookup cannot be given a time limit, so a bounded one runs on a thread of its own.
//! This resolver is asked only when a new connection is needed; it answers an IP literal
//! (`127.0.0.1`, `::1`) at once and keeps a host name's addresses for [`KEEP`], so a thread is
//! started only for a real lookup, at most once per host per [`KEEP`]. A failed lookup is not
//! kept.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a host name's addresses are used before it is looked up again. Short enough to
/// follow a DNS change of the services (their records live minutes), long enough that a
/// process making a request a second looks each host up once a minute.
pub(crate) const KEEP: Duration = Duration::from_secs(60);

/// The most host names kept (the services are a handful; a proxy adds one).
const MAX_HOSTS: usize = 64;

/// Why no address was found.
#[derive(Debug)]
pub(crate) enum Unresolved {
    /// The lookup failed or found nothing.
    NotFound,
    /// The lookup did not answer within its time.
    TimedOut,
}

#[derive(Debug, Default)]
pub(crate) struct KeepingResolver {
    kept: Mutex<HashMap<String, (Instant, Vec<SocketAddr>)>>,
}

impl KeepingResolver {
    /// The addresses of `host` (a name, an IPv4 address or a bracket-less IPv6 address), a
    /// lookup bounded by `timeout`.
    pub fn resolve(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Vec<SocketAddr>, Unresolved> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
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
        let addrs = lookup(name.clone(), timeout)?;
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|_, (at, _)| at.elapsed() < KEEP);
        if kept.len() < MAX_HOSTS {
            kept.insert(name, (Instant::now(), addrs.clone()));
        }
        Ok(addrs)
    }
}

/// The system's lookup of `host:port` on a thread of its own, waited for at most `timeout`
/// (the system call itself cannot be bounded; a late answer is dropped with the thread).
fn lookup(name: String, timeout: Duration) -> Result<Vec<SocketAddr>, Unresolved> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("suz-resolve".to_owned())
        .spawn(move || {
            let found = name
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>())
                .unwrap_or_default();
            let _ = tx.send(found);
        })
        .map_err(|_| Unresolved::NotFound)?;
    match rx.recv_timeout(timeout) {
        Ok(addrs) if !addrs.is_empty() => Ok(addrs),
        Ok(_) => Err(Unresolved::NotFound),
        Err(_) => Err(Unresolved::TimedOut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(r: &KeepingResolver, host: &str, port: u16) -> Vec<SocketAddr> {
        r.resolve(host, port, Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn ip_literals_need_no_lookup_and_names_are_kept() {
        let r = KeepingResolver::default();
        assert_eq!(
            resolve(&r, "127.0.0.1", 8080),
            ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve(&r, "::1", 443),
            ["[::1]:443".parse::<SocketAddr>().unwrap()]
        );
        assert!(r.kept.lock().unwrap().is_empty(), "a literal is not kept");
        let first = resolve(&r, "localhost", 9);
        assert!(first.iter().all(|a| a.ip().is_loopback()), "{first:?}");
        assert!(r.kept.lock().unwrap().contains_key("localhost:9"));
        assert_eq!(resolve(&r, "localhost", 9), first);
    }
}
