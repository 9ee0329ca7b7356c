//! The `suz` command line as an operator meets it: help, version, exit statuses, and the
//! configuration read only after the arguments, from `--config` or `$SUZ_AUTH_CONFIG`.

use std::process::{Command, Output};

fn suz(args: &[&str], config_env: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_suz"));
    cmd.args(args).env_remove("SUZ_AUTH_CONFIG");
    if let Some(path) = config_env {
        cmd.env("SUZ_AUTH_CONFIG", path);
    }
    cmd.output().expect("suz runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version_go_to_stdout_with_status_0() {
    let out = suz(&["--help"], None);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for word in [
        "token",
        "request",
        "inspect",
        "purge",
        "--config",
        "--json",
        "--log",
        "SUZ_AUTH_CONFIG",
    ] {
        assert!(help.contains(word), "--help lacks {word}: {help}");
    }
    let out = suz(&["token", "--help"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("--threads"));
    let out = suz(&["--version"], None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("suz {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2_before_any_config_is_read() {
    for args in [
        &["token"][..],
        &["frobnicate"],
        &["token", "p", "--threads", "0"],
        &[],
    ] {
        let out = suz(args, Some("/nonexistent/suz.json"));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            !text(&out.stderr).contains("nonexistent"),
            "{args:?} read the config"
        );
    }
}

#[test]
fn a_failure_exits_1_with_the_result_code_and_message() {
    for empty_env in [None, Some("")] {
        let out = suz(&["token", "p"], empty_env);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            text(&out.stderr).trim(),
            "suz: SUZ_RESULT_CONFIG: no configuration: pass --config FILE or set SUZ_AUTH_CONFIG"
        );
    }
    let dir = std::env::temp_dir().join(format!("suz-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("suz.json");
    std::fs::write(
        &config,
        r#"{"stand": "emulator", "emulator_url": "http://127.0.0.1:9", "cache": {"persist": false}}"#,
    )
    .unwrap();
    // From $SUZ_AUTH_CONFIG: the config is read, and the unknown profile named.
    let out = suz(&["token", "line1"], config.to_str());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("suz: SUZ_RESULT_INVALID_ARGUMENT: unknown profile \"line1\""),
        "{stderr}"
    );
    // --config wins over the environment.
    std::fs::write(dir.join("bad.json"), r#"{"stnd": "emulator"}"#).unwrap();
    let bad = dir.join("bad.json");
    let out = suz(
        &["--config", bad.to_str().unwrap(), "token", "line1"],
        config.to_str(),
    );
    assert!(
        text(&out.stderr).contains("SUZ_RESULT_CONFIG"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The option and argument lines of a `--help` text: (name, description).
fn described_items(help: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut in_list = false;
    for line in help.lines() {
        if line.ends_with(':') && !line.starts_with(' ') {
            in_list = line == "Options:" || line == "Arguments:";
            continue;
        }
        let item = line.trim_start();
        if in_list && (item.starts_with('-') || item.starts_with('<')) {
            // clap separates the name column from the description with two or more spaces.
            let (name, description) = item.split_once("  ").unwrap_or((item, ""));
            items.push((name.trim().to_owned(), description.trim().to_owned()));
        }
    }
    items
}

#[test]
fn every_command_describes_every_option_and_argument() {
    let mut seen = 0;
    for args in [
        &["--help"][..],
        &["token", "--help"],
        &["request", "--help"],
        &["inspect", "--help"],
        &["purge", "--help"],
    ] {
        let out = suz(args, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = text(&out.stdout);
        let items = described_items(&help);
        assert!(items.len() >= 3, "{args:?}: no options found in\n{help}");
        for (name, description) in items {
            assert!(
                description.split_whitespace().count() >= 2,
                "{args:?}: `{name}` is not described:\n{help}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 20, "{seen}");
}

#[test]
fn a_log_file_takes_the_lines_meant_for_stderr_and_is_never_a_link() {
    let dir = std::env::temp_dir().join(format!("suz-cli-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("suz.json");
    std::fs::write(
        &config,
        r#"{"stand": "emulator", "emulator_url": "http://127.0.0.1:9", "cache": {"persist": false}}"#,
    )
    .unwrap();
    let log = dir.join("suz.log");
    let args = |log: &std::path::Path| {
        vec![
            "--config".to_owned(),
            config.display().to_string(),
            "--log-file".to_owned(),
            log.display().to_string(),
            "token".to_owned(),
            "line1".to_owned(),
        ]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        suz(&args, None)
    };
    // The failure goes to the file, with its UTC time; stderr stays empty.
    let out = run(args(&log));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "");
    let written = std::fs::read_to_string(&log).unwrap();
    let (at, line) = written.trim_end().split_once(' ').unwrap();
    assert!(
        at.len() == 24 && at.ends_with('Z') && at.contains('T'),
        "{written}"
    );
    assert!(
        line.starts_with("suz: SUZ_RESULT_INVALID_ARGUMENT: unknown profile"),
        "{written}"
    );
    // Appended, never truncated.
    run(args(&log));
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A link planted at the path is not followed: nothing reaches its target.
        let target = dir.join("target");
        std::fs::write(&target, "").unwrap();
        let link = dir.join("link.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let out = run(args(&link));
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).starts_with("suz: --log-file"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(not(windows))]
#[test]
fn keep_as_a_windows_service_is_refused_elsewhere_naming_systemd() {
    let dir = std::env::temp_dir().join(format!("suz-cli-service-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("suz.json");
    std::fs::write(
        &config,
        r#"{"stand": "emulator", "emulator_url": "http://127.0.0.1:9", "cache": {"persist": false},
            "profiles": {"push": {"flow": "smartmarket", "client_id": "a", "client_secret": "b",
              "served_by_keeper": true}}}"#,
    )
    .unwrap();
    let out = suz(
        &[
            "--config",
            config.to_str().unwrap(),
            "keep",
            "--service",
            "suz-keep",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Windows service") && stderr.contains("systemd"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
