//! Random identifiers (a request's `RqUID`, a lock's owner, a temporary file's name) from the
//! operating system's generator through `ring`, which TLS already links: one source of
//! randomness in the library.

use std::sync::atomic::{AtomicU64, Ordering};

/// A random (version 4) UUID.
pub(crate) fn uuid() -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        // The system's generator failed (it does not on any supported system). These ids must
        // be unique, not secret: the time, the process and a counter make them so.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        bytes[..8].copy_from_slice(&nanos.to_le_bytes());
        bytes[8..12].copy_from_slice(&std::process::id().to_le_bytes());
        bytes[12..].copy_from_slice(&(count as u32).to_le_bytes());
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// A fresh SmartMarket `RqUID`: a random UUID in its 36-character form.
pub(crate) fn rquid() -> String {
    uuid().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn rquids_are_fresh_uuids() {
        let (a, b) = (super::rquid(), super::rquid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert!(uuid::Uuid::try_parse(&a).is_ok());
    }

    #[test]
    fn uuids_are_version_4_and_differ() {
        let (a, b) = (super::uuid(), super::uuid());
        assert_ne!(a, b);
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
    }
}
