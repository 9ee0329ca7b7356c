//! The configuration's parsing: every key and every refusal.

use super::*;

#[test]
fn the_cache_dir_default_follows_the_documented_chain() {
    let chain = [
        ("SUZ_AUTH_CACHE_DIR", "/a", "/a"),
        ("XDG_CACHE_HOME", "/x", "/x/suz-auth"),
        ("LOCALAPPDATA", "/l", "/l/suz-auth"),
        ("HOME", "/h", "/h/.cache/suz-auth"),
    ];
    for first in 0..=chain.len() {
        let set = &chain[first..];
        let dir = cache_dir_from(
            |name| {
                set.iter()
                    .find(|(n, _, _)| *n == name)
                    .map(|(_, v, _)| (*v).into())
            },
            PathBuf::from("/tmp"),
        );
        let fallback = format!("/tmp/{}", temp_cache_name());
        #[cfg(unix)]
        assert_eq!(
            fallback,
            format!("/tmp/suz-auth-{}", rustix::process::geteuid().as_raw())
        );
        let expected = set.first().map_or(fallback.as_str(), |(_, _, e)| *e);
        assert_eq!(dir, PathBuf::from(expected), "set from {first}");
    }
}

/// Values that used to be accepted and then broke a request or the arithmetic on them.
#[test]
fn config_gaps_are_config_errors_naming_the_key() {
    let max = u64::MAX;
    for (json, key) in [
        (
            r#"{"user_agent": "a\r\nX-Evil: 1"}"#.to_owned(),
            "user_agent",
        ),
        (r#"{"user_agent": ""}"#.to_owned(), "user_agent"),
        (
            format!(r#"{{"timeouts": {{"total_ms": {max}}}}}"#),
            "timeouts.total_ms",
        ),
        (
            format!(r#"{{"timeouts": {{"connect_ms": {max}}}}}"#),
            "timeouts.connect_ms",
        ),
        (
            format!(r#"{{"cache": {{"refresh_margin_ms": {max}}}}}"#),
            "cache.refresh_margin_ms",
        ),
        (
            format!(r#"{{"cache": {{"lock_timeout_ms": {max}}}}}"#),
            "cache.lock_timeout_ms",
        ),
        (
            format!(r#"{{"retry": {{"backoff_ms": {max}}}}}"#),
            "retry.backoff_ms",
        ),
        (
            r#"{"redis": {"url": "redis://h", "lock_ttl_ms": 100}}"#.to_owned(),
            "redis.lock_ttl_ms",
        ),
        (
            r#"{"redis": {"url": "redis://h", "command_timeout_ms": 0}}"#.to_owned(),
            "redis.command_timeout_ms",
        ),
        (
            r#"{"redis": {"url": "redis://h", "master_name": "m"}}"#.to_owned(),
            "redis",
        ),
        (
            r#"{"redis": {"sentinels": ["s:1"], "url": "redis://h"}}"#.to_owned(),
            "redis.url",
        ),
        (
            r#"{"redis": {"sentinels": ["s:1"]}}"#.to_owned(),
            "redis.master_name",
        ),
        (
            r#"{"redis": {"sentinels": ["s:x"], "master_name": "m"}}"#.to_owned(),
            "redis.sentinels",
        ),
        (
            r#"{"redis": {"url": "redis://user@h"}}"#.to_owned(),
            "redis.url",
        ),
        (r#"{"redis": {"url": "http://h"}}"#.to_owned(), "redis.url"),
        (
            r#"{"signer": {"command": {"attached": ["a"], "detached": ["d"], "timeout_ms": 0}}}"#
                .to_owned(),
            "signer.command.timeout_ms",
        ),
    ] {
        let e = Config::from_json(&json).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Config, "{json}");
        assert!(e.message.contains(&format!("`{key}`")), "{json}: {e}");
    }
    for trailing in [r#"{} x"#, r#"{}{}"#, r#"{"stand": "demo"} // comment"#] {
        let e = Config::from_json(trailing).unwrap_err();
        assert!(e.message.contains("text after the end"), "{trailing}: {e}");
    }
    // The longest total timeout with every derived default (twice it, plus 30 s) is fine.
    let c =
        Config::from_json(r#"{"timeouts": {"total_ms": 86400000}, "redis": {"url": "redis://h"}}"#)
            .unwrap();
    assert_eq!(c.cache.lock_timeout, Duration::from_millis(2 * 86_400_000));
    assert_eq!(c.redis.unwrap().lock_ttl, Duration::from_millis(15_000));
    // A lock shorter than the longest fetch is fine: its holder renews it.
    let c = Config::from_json(
        r#"{"timeouts": {"total_ms": 20000}, "redis": {"url": "redis://h", "lock_ttl_ms": 700}}"#,
    )
    .unwrap();
    assert_eq!(c.redis.unwrap().lock_ttl, Duration::from_millis(700));
}

#[test]
fn unknown_key_is_named() {
    let err = Config::from_json(r#"{"stand":"demo","timeouts":{"totl_ms":5}}"#).unwrap_err();
    assert_eq!(err.kind, crate::ErrorKind::Config);
    assert!(err.message.contains("totl_ms"), "{}", err.message);
}

#[test]
fn mistyped_value_names_its_path() {
    let err = Config::from_json(r#"{"timeouts":{"total_ms":"5"}}"#).unwrap_err();
    assert!(err.message.contains("timeouts.total_ms"), "{}", err.message);
}

#[test]
fn debug_output_holds_no_secret() {
    let c = Config::from_json(
        r#"{"stand":"demo","cache":{"persist":false},
            "redis":{"url":"redis://:redis-pass-123@127.0.0.1:6379/2"},
            "profiles":{
              "a":{"flow":"mdlp","oms_connection":"11b1abc9-f4ee-47db-8a20-f80ac83504e8",
                   "client_id":"7df0d06f-6510-44fe-a378-76cb53e2605f","client_secret":"mdlp-secret-456",
                   "user_id":"u","password":"mdlp-password-789"},
              "b":{"flow":"smartmarket","client_id":"id","client_secret":"sber-secret-000"}}}"#,
    )
    .unwrap();
    let shown = format!("{c:?}");
    for secret in [
        "redis-pass-123",
        "mdlp-secret-456",
        "mdlp-password-789",
        "sber-secret-000",
    ] {
        assert!(!shown.contains(secret), "{secret} leaked into Debug");
    }
    assert_eq!(c.redis.as_ref().unwrap().db, 2);
}

#[test]
fn defaults_as_documented() {
    let c = Config::from_json("{}").unwrap();
    assert_eq!(c.connect_timeout, Duration::from_millis(10_000));
    assert_eq!(c.total_timeout, Duration::from_millis(60_000));
    assert_eq!(c.retry.max_attempts, 3);
    assert_eq!(c.retry.backoff, Duration::from_millis(200));
    assert_eq!(c.retry.max_retry_after, Duration::from_millis(5_000));
    assert_eq!(c.user_agent, "suz-auth/0.1.0");
    assert_eq!(c.trust_roots, TrustRoots::Platform);
    assert_eq!(c.cache.lock_timeout, Duration::from_millis(120_000));
    assert_eq!(c.cache.lease, Duration::from_millis(300_000));
    assert_eq!(c.cache.refresh_margin, None);
    assert!(c.proxy.is_none() && c.redis.is_none() && c.command_signer.is_none());
    let r = Config::from_json(r#"{"redis": {"url": "redis://h"}}"#).unwrap();
    let r = r.redis.unwrap();
    assert!(matches!(&r.server, RedisServer::Direct { host, port: 6379 } if host == "h"));
    assert_eq!((r.db, r.tls, r.username.is_none()), (0, false, true));
    assert_eq!(r.key_prefix, "suz-auth:");
    assert_eq!(r.lock_ttl, Duration::from_millis(15_000));
    assert_eq!(r.command_timeout, Duration::from_millis(5_000));
    assert_eq!(r.on_unavailable, RedisFallback::Error);
}

#[test]
fn redis_urls_users_tls_and_sentinels() {
    let r = Config::from_json(
        r#"{"redis": {"url": "rediss://app:p%40ss%3Aw@[::1]:6380/3"}, "tls": {"extra_roots_pem": "/ca.pem"}}"#,
    )
    .unwrap()
    .redis
    .unwrap();
    assert!(matches!(&r.server, RedisServer::Direct { host, port: 6380 } if host == "::1"));
    assert_eq!((r.tls, r.db, r.username.as_deref()), (true, 3, Some("app")));
    assert_eq!(r.password.as_ref().unwrap().expose(), "p@ss:w");
    assert_eq!(r.extra_roots_pem, Some(PathBuf::from("/ca.pem")));
    let debug = format!("{r:?}");
    assert!(
        !debug.contains("p@ss") && !debug.contains("p%40ss"),
        "{debug}"
    );
    let r = Config::from_json(
        r#"{"redis": {"sentinels": ["127.0.0.1", "s2:26380"], "master_name": "m",
                      "sentinel_password": "sentinel-secret", "url": "rediss://:pw@/1"}}"#,
    )
    .unwrap()
    .redis
    .unwrap();
    let RedisServer::Sentinel {
        sentinels,
        master_name,
        password,
        ..
    } = &r.server
    else {
        panic!("{r:?}")
    };
    assert_eq!(
        sentinels,
        &[("127.0.0.1".to_owned(), 26379), ("s2".to_owned(), 26380)]
    );
    assert_eq!(master_name, "m");
    assert_eq!(password.as_ref().unwrap().expose(), "sentinel-secret");
    assert_eq!((r.tls, r.db), (true, 1));
    assert_eq!(r.password.as_ref().unwrap().expose(), "pw");
    assert_eq!(r.describe(), "Sentinel master \"m\"");
    assert!(!format!("{:?}", r.server).contains("sentinel-secret"));
}

#[test]
fn values_checked_beyond_their_type() {
    let err = |json: &str| Config::from_json(json).unwrap_err().message;
    assert_eq!(
        err(r#"{"urls": {"suz": "https://a b"}}"#),
        "config key `urls.suz`: \"https://a b\" is neither a stand name nor an http(s) URL"
    );
    assert!(err(r#"{"urls": {"suz": "https://"}}"#).contains("urls.suz"));
    assert!(err(r#"{"urls": {"suz": "https:///x"}}"#).contains("urls.suz"));
    assert!(err(r#"{"timeouts": {"connect_ms": 0}}"#).contains("greater than zero"));
    assert!(err(r#"{"timeouts": {"total_ms": 0}}"#).contains("greater than zero"));
    assert_eq!(
        err(r#"{"signer": {"command": {"attached": ["a"], "detached": []}}}"#),
        "config key `signer.command`: `attached` and `detached` must each be a non-empty argv array"
    );
    let c = Config::from_json(
        r#"{"signer": {"command": {"attached": ["a"], "detached": ["d"], "timeout_ms": 7}}}"#,
    )
    .unwrap();
    let cmd = c.command_signer.unwrap();
    assert_eq!(
        (cmd.attached, cmd.detached, cmd.timeout),
        (
            vec!["a".to_owned()],
            vec!["d".to_owned()],
            Duration::from_millis(7)
        )
    );
    assert!(err(r#"{"stand": "emulator"}"#).contains("emulator_url"));
    assert!(err(r#"{"emulator_url": "http://127.0.0.1:9"}"#).contains("only used with"));
    let r = Config::from_json(r#"{"redis": {"url": "redis://h:7000/"}}"#).unwrap();
    assert_eq!(r.redis.unwrap().db, 0);
    assert!(format!("{:?}", Secret::new("hunter2")) == "\"***\"");
    for s in [
        Service::Suz,
        Service::Mdlp,
        Service::Gismt,
        Service::TrueApi,
        Service::SmartMarket,
    ] {
        let e = Config::from_json("{}").unwrap().url(s).unwrap_err().message;
        assert_eq!(
            e,
            format!(
                "no URL for {0}: set \"stand\" or \"urls.{0}\" in the config",
                s.name()
            )
        );
    }
    assert_eq!(Service::TrueApi.name(), "trueapi");
    assert_eq!(Service::SmartMarket.name(), "smartmarket");
}

#[test]
fn every_stand_url() {
    let url = |stand: &str, service| {
        Config::from_json(&format!(r#"{{"stand": "{stand}"}}"#))
            .unwrap()
            .url(service)
            .map(str::to_owned)
            .ok()
    };
    use Service::*;
    let expected = [
        // «API СУЗ 3.0» §4.4 (the default `suz_api`): the API on 443.
        ("demo", Suz, "https://suz.sandbox.crptech.ru"),
        ("sandbox", Suz, "https://suz.sandbox.crptech.ru"),
        ("production", Suz, "https://suzgrid.crpt.ru"),
        ("demo", Mdlp, "https://api.sb.mdlp.crpt.ru/api/v1"),
        ("sandbox", Mdlp, "https://api.sb.mdlp.crpt.ru/api/v1"),
        ("production", Mdlp, "https://api.mdlp.crpt.ru/api/v1"),
        ("demo", Gismt, "https://demo.lp.crpt.tech/api/v3"),
        ("production", Gismt, "https://ismpr.crpt.ru/api/v3"),
        (
            "demo",
            TrueApi,
            "https://markirovka.sandbox.crptech.ru/api/v3/true-api",
        ),
        (
            "production",
            TrueApi,
            "https://markirovka.crpt.ru/api/v3/true-api",
        ),
        (
            "demo",
            SmartMarket,
            "https://salute.online.sberbank.ru:9443",
        ),
        (
            "production",
            SmartMarket,
            "https://salute.online.sberbank.ru:9443",
        ),
    ];
    for (stand, service, want) in expected {
        assert_eq!(
            url(stand, service).as_deref(),
            Some(want),
            "{stand} {service:?}"
        );
    }
    let one = |value: &str| {
        Config::from_json(&format!(r#"{{"urls": {{"mdlp": "{value}"}}}}"#))
            .unwrap()
            .url(Mdlp)
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        one("demo-nonresident"),
        "https://nrz.api.sb.mdlp.crpt.ru/api/v1"
    );
    assert_eq!(
        one("production-nonresident"),
        "https://nrz.api.mdlp.crpt.ru/api/v1"
    );
    assert_eq!(one("http://127.0.0.1:9/mdlp/"), "http://127.0.0.1:9/mdlp");
    assert!(Config::from_json(r#"{"urls": {"mdlp": "ftp://x"}}"#).is_err());
    assert!(Config::from_json(r#"{"stand": "staging"}"#).is_err());
}

#[test]
fn suz_api_v3_registers_apart_from_the_api_and_v2_on_the_one_host() {
    let base = |json: &str| {
        let c = Config::from_json(json).unwrap();
        (
            c.url(Service::Suz).unwrap().to_owned(),
            c.registration_base().unwrap(),
        )
    };
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        base(r#"{"stand": "production"}"#),
        pair(
            "https://suzgrid.crpt.ru",
            "https://suzgrid.crpt.ru:16443/api/v3"
        )
    );
    assert_eq!(
        base(r#"{"stand": "demo", "suz_api": "v3"}"#),
        pair(
            "https://suz.sandbox.crptech.ru",
            "https://suz-integrator.sandbox.crptech.ru/api/v3"
        )
    );
    assert_eq!(
        base(r#"{"stand": "production", "suz_api": "v2"}"#),
        pair(
            "https://suzgrid.crpt.ru:16443",
            "https://suzgrid.crpt.ru:16443/api/v2"
        )
    );
    assert_eq!(
        base(r#"{"stand": "demo", "suz_api": "v2"}"#),
        pair(
            "https://intuot.crpt.ru:16443",
            "https://intuot.crpt.ru:16443/api/v2"
        )
    );
    // A SUZ URL given by hand, or the emulator: registration is there too.
    assert_eq!(
        base(r#"{"urls": {"suz": "https://suz.example"}}"#),
        pair("https://suz.example", "https://suz.example/api/v3")
    );
    assert_eq!(
        base(r#"{"stand": "production", "urls": {"suz": "https://suz.example"}}"#),
        pair("https://suz.example", "https://suz.example/api/v3")
    );
    assert_eq!(
        base(r#"{"stand": "emulator", "emulator_url": "http://127.0.0.1:9", "suz_api": "v2"}"#),
        pair("http://127.0.0.1:9/suz", "http://127.0.0.1:9/suz/api/v2")
    );
    assert_eq!(
        base(r#"{"stand": "production", "urls": {"suz_registration": "https://reg.example/"}}"#),
        pair("https://suzgrid.crpt.ru", "https://reg.example/api/v3")
    );
    // A stand name given for `urls.suz` follows the API version too.
    assert_eq!(
        base(r#"{"suz_api": "v2", "urls": {"suz": "production"}}"#),
        pair(
            "https://suzgrid.crpt.ru:16443",
            "https://suzgrid.crpt.ru:16443/api/v2"
        )
    );
    assert_eq!(
        base(r#"{"urls": {"suz": "production"}}"#),
        pair(
            "https://suzgrid.crpt.ru",
            "https://suzgrid.crpt.ru:16443/api/v3"
        )
    );
    let e = Config::from_json(r#"{"suz_api": "v4"}"#).unwrap_err();
    assert_eq!(
        e.message,
        "config key `suz_api`: unknown version \"v4\" (use \"v3\" or \"v2\")"
    );
    assert!(Config::from_json("{}")
        .unwrap()
        .registration_base()
        .is_err());
}

#[test]
fn stands_and_overrides() {
    let c =
        Config::from_json(r#"{"stand":"demo","urls":{"trueapi":"production-tobacco"}}"#).unwrap();
    assert_eq!(
        c.url(Service::Suz).unwrap(),
        "https://suz.sandbox.crptech.ru"
    );
    assert_eq!(
        c.url(Service::TrueApi).unwrap(),
        "https://ismotp.crptech.ru/api/v3/true-api"
    );
    let e =
        Config::from_json(r#"{"stand":"emulator","emulator_url":"http://127.0.0.1:9/"}"#).unwrap();
    assert_eq!(
        e.url(Service::Gismt).unwrap(),
        "http://127.0.0.1:9/gismt/api/v3"
    );
    assert!(Config::from_json("{}").unwrap().url(Service::Suz).is_err());
}

#[test]
fn a_true_api_token_profile_names_its_certificate_and_no_installation() {
    let profile = |fields: &str| {
        Config::from_json(&format!(
            r#"{{"profiles": {{"own": {{"flow": "trueapi_token"{fields}}}}}}}"#
        ))
    };
    let c = profile(r#", "certificate": "a1b2", "inn": "7707083893""#).unwrap();
    match &c.profiles["own"].flow {
        ProfileFlow::SignedIn {
            flow,
            inn,
            certificate,
        } => {
            assert_eq!(*flow, crate::value::Flow::TrueApiToken);
            assert_eq!(inn.as_deref(), Some("7707083893"));
            assert_eq!(certificate, "a1b2");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.profiles["own"].api(), Service::TrueApi);
    assert!(c.profiles["own"].needs_signer());
    let missing = profile("").unwrap_err().message;
    assert!(missing.contains("profiles.own.certificate"), "{missing}");
    let bad_inn = profile(r#", "certificate": "a1b2", "inn": "123""#)
        .unwrap_err()
        .message;
    assert!(bad_inn.contains("profiles.own.inn"), "{bad_inn}");
    let installation = profile(
        r#", "certificate": "a1b2", "oms_connection": "11b1abc9-f4ee-47db-8a20-f80ac83504e8""#,
    )
    .unwrap_err()
    .message;
    assert!(installation.contains("oms_connection"), "{installation}");
}

#[test]
fn connect_to_takes_host_port_to_an_address_and_never_a_name() {
    let c = Config::from_json(
        r#"{"stand": "production", "connect_to": {"Markirovka.CRPT.ru:443": "127.0.0.1:8443",
            "suzgrid.crpt.ru:16443": "[::1]:9000"}}"#,
    )
    .unwrap();
    assert_eq!(
        c.connect_to.get("markirovka.crpt.ru:443"),
        Some(&"127.0.0.1:8443".parse().unwrap())
    );
    assert_eq!(
        c.connect_to.get("suzgrid.crpt.ru:16443"),
        Some(&"[::1]:9000".parse().unwrap())
    );
    for (entry, why) in [
        (
            r#""markirovka.crpt.ru:443": "localhost:8443""#,
            "names are not accepted",
        ),
        (r#""markirovka.crpt.ru": "127.0.0.1:8443""#, "host:port"),
        (r#""markirovka.crpt.ru:0": "127.0.0.1:8443""#, "host:port"),
        (r#""a b:443": "127.0.0.1:8443""#, "host:port"),
        (
            r#""markirovka.crpt.ru:443": "127.0.0.1""#,
            "not an IP address and port",
        ),
    ] {
        let e = Config::from_json(&format!(r#"{{"connect_to": {{{entry}}}}}"#)).unwrap_err();
        assert!(
            e.message.contains("connect_to.") && e.message.contains(why),
            "{entry}: {}",
            e.message
        );
    }
}
