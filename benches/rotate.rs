//! A thread that rotates through many installations' cached tokens, next to its floor measured
//! in the same run: a shared map of reference-counted tokens behind a reader-writer lock, the
//! plainest cache a host would write. Each get is timed alone; p50 and p99 over all of them.
//!
//! The tokens are put in the client's cache through its own fetch path (a fetch that makes a
//! token instead of asking a server), and each get is the client's `token_get_shared`, what
//! `suz_token_get` calls: the C boundary adds one allocation and free of the returned handle
//! (`cached_get.c` measures it whole).
//!
//!   cargo run --profile dist -p suz-auth-core --example rotate [GETS]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use suz_auth_core::token::key::TokenKey;
use suz_auth_core::token::now_ms;
use suz_auth_core::{Client, Flow, Token};

fn main() {
    let gets: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000_000);
    for installations in [1, 16, 100, 1_000, 10_000] {
        let (lib, floor) = rotate(installations, gets);
        println!(
            "installations={installations:<6} Client::token_get_shared p50={:>4} ns p99={:>5} ns   floor (RwLock<HashMap> + Arc) p50={:>4} ns p99={:>5} ns   ratio {:.2}x",
            lib.0,
            lib.1,
            floor.0,
            floor.1,
            lib.0 as f64 / floor.0.max(1) as f64
        );
    }
}

/// (p50, p99) in ns of the library's gets and of the floor's, rotating through `n` tokens.
fn rotate(n: usize, gets: usize) -> ((u64, u64), (u64, u64)) {
    // `n` installations' GIS MT profiles, their SUZ tokens (36 characters) 10 hours from expiry.
    // Nothing is fetched: the emulator's address is never contacted.
    let connection = |i: usize| format!("{i:08x}-0000-4000-8000-000000000000");
    let profiles: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#""p{i}": {{"flow": "gismt", "oms_connection": "{}"}}"#,
                connection(i)
            )
        })
        .collect();
    let json = format!(
        r#"{{"stand": "emulator", "emulator_url": "http://127.0.0.1:9", "cache": {{"persist": false}}, "profiles": {{{}}}}}"#,
        profiles.join(",")
    );
    let client = Arc::new(Client::from_json(&json).expect("config"));
    let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let value = |i: usize| format!("{i:08x}-1111-4000-8000-000000000000");
    let now = now_ms();
    let keys: Vec<TokenKey> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let profile = client.profile(name).expect("profile");
            let key = client.token_key(profile).into_owned();
            let made = || Ok(Token::new(value(i), Flow::Gismt, now, now + 36_000_000));
            let tokens = client.tokens().expect("cache");
            tokens.get(profile, &key, &made).expect("filled");
            key
        })
        .collect();
    let floor: RwLock<HashMap<String, Arc<str>>> = RwLock::new(
        keys.iter()
            .enumerate()
            .map(|(i, k)| (k.hash.clone(), Arc::from(value(i))))
            .collect(),
    );
    let mut lib = Vec::with_capacity(gets);
    let mut base = Vec::with_capacity(gets);
    for round in 0..gets {
        let (name, key) = (&names[round % n], &keys[round % n]);
        let t = Instant::now();
        let (token, _) = client.token_get_shared(name).expect("cached");
        black_box(token.value().len());
        lib.push(t.elapsed().as_nanos() as u64);
        let t = Instant::now();
        let token = floor.read().unwrap().get(&key.hash).cloned();
        black_box(token.expect("cached").len());
        base.push(t.elapsed().as_nanos() as u64);
    }
    (percentiles(lib), percentiles(base))
}

fn percentiles(mut v: Vec<u64>) -> (u64, u64) {
    v.sort_unstable();
    (v[v.len() / 2], v[v.len() * 99 / 100])
}
