//! The result codes are one table — `ErrorKind` in the core, defined once with each kind's
//! number and name — and every other place that lists them is checked against it here: the C
//! header's `SuzResult`, Python's exception classes and their map, C#'s `ResultCode`, the
//! README's table and the 1C README's. (The C ABI's `SuzResult` enum itself is checked in
//! `src/result.rs`.)

use std::collections::BTreeMap;
use std::path::Path;

use suz_auth_core::ErrorKind;

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)).unwrap()
}

/// The table: number to (C name, Rust/C# variant name), success included.
fn table() -> BTreeMap<u32, (String, String)> {
    let mut t = BTreeMap::new();
    t.insert(0, ("SUZ_RESULT_OK".to_owned(), "Ok".to_owned()));
    for kind in ErrorKind::ALL {
        t.insert(kind.code(), (kind.name().to_owned(), format!("{kind:?}")));
    }
    t
}

fn numbers_and_names(pairs: impl IntoIterator<Item = (u32, String)>) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    for (n, name) in pairs {
        assert!(
            out.insert(n, name.clone()).is_none(),
            "{n} listed twice ({name})"
        );
    }
    out
}

#[test]
fn the_table_is_dense_and_names_every_kind() {
    let t = table();
    assert_eq!(
        t.keys().copied().collect::<Vec<_>>(),
        (0..t.len() as u32).collect::<Vec<_>>()
    );
}

#[test]
fn the_header_lists_every_code() {
    let header = read("include/suz_auth.h");
    let body = header
        .split("enum SuzResult")
        .nth(1)
        .and_then(|r| r.split('{').nth(1))
        .and_then(|r| r.split('}').next())
        .unwrap();
    let listed = numbers_and_names(body.lines().filter_map(|l| {
        let (name, n) = l.trim().trim_end_matches(',').split_once(" = ")?;
        Some((n.parse().ok()?, name.to_owned()))
    }));
    let want: BTreeMap<u32, String> = table().into_iter().map(|(n, (c, _))| (n, c)).collect();
    assert_eq!(listed, want);
}

#[test]
fn csharp_lists_every_code() {
    let source = read("bindings/dotnet/src/Errors.cs");
    let body = source
        .split("public enum ResultCode : uint")
        .nth(1)
        .and_then(|r| r.split('{').nth(1))
        .and_then(|r| r.split('}').next())
        .unwrap();
    let listed = numbers_and_names(body.split(',').filter_map(|item| {
        let (name, n) = item.trim().split_once(" = ")?;
        Some((n.trim().parse().ok()?, name.trim().to_owned()))
    }));
    let want: BTreeMap<u32, String> = table().into_iter().map(|(n, (_, v))| (n, v)).collect();
    assert_eq!(listed, want);
}

#[test]
fn python_has_an_exception_for_every_code_and_maps_it() {
    let source = read("bindings/python/suz_auth/_errors.py");
    // `class NameError(Base):` ... `code = N`
    let mut classes = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in source.lines() {
        if let Some(rest) = line.strip_prefix("class ") {
            current = rest.split(['(', ':']).next().map(str::to_owned);
        } else if let (Some(class), Some(n)) = (
            current.as_ref(),
            line.trim()
                .strip_prefix("code = ")
                .and_then(|n| n.parse::<u32>().ok()),
        ) {
            assert!(classes.insert(n, class.clone()).is_none(), "code {n} twice");
        }
    }
    let mapped: Vec<&str> = source
        .split("_BY_CODE = {")
        .nth(1)
        .unwrap()
        .split("\n}")
        .next()
        .unwrap()
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.ends_with("Error"))
        .collect();
    for (n, (name, _)) in table() {
        if n == 0 {
            continue;
        }
        let class = classes
            .get(&n)
            .unwrap_or_else(|| panic!("no Python exception with code {n} ({name})"));
        assert!(
            mapped.contains(&class.as_str()),
            "{class} ({name}) is not in _BY_CODE"
        );
    }
    assert_eq!(classes.len(), table().len() - 1, "{classes:?}");
}

/// The rows `| N | `SUZ_RESULT_X` | …` of a Markdown table (several codes in a row allowed:
/// `| 5, 6 | `CONNECT`, `TIMEOUT` |`, names with or without the prefix).
fn markdown_rows(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 3 {
            continue;
        }
        let numbers: Option<Vec<u32>> =
            cells[1].split(',').map(|n| n.trim().parse().ok()).collect();
        let Some(numbers) = numbers else { continue };
        let names: Vec<String> = cells[2]
            .split(',')
            .map(|n| n.trim().trim_matches('`').to_owned())
            .collect();
        if names.len() != numbers.len()
            || !names.iter().all(|n| {
                n.chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
            })
        {
            continue;
        }
        for (n, name) in numbers.into_iter().zip(names) {
            let full = if name.starts_with("SUZ_RESULT_") {
                name
            } else {
                format!("SUZ_RESULT_{name}")
            };
            out.push((n, full));
        }
    }
    out
}

#[test]
fn the_readme_lists_every_code() {
    let readme = read("README.md");
    let section = readme
        .split("## Result codes")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let listed = numbers_and_names(markdown_rows(section));
    let want: BTreeMap<u32, String> = table().into_iter().map(|(n, (c, _))| (n, c)).collect();
    assert_eq!(listed, want);
}

#[test]
fn the_1c_readme_names_each_code_it_lists_rightly() {
    let readme = read("bindings/1c/README.md");
    let section = readme
        .split("## Коды ошибок")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let rows = markdown_rows(section);
    assert!(rows.len() >= 10, "{rows:?}");
    let t = table();
    for (n, name) in rows {
        assert_eq!(
            t.get(&n).map(|(c, _)| c.as_str()),
            Some(name.as_str()),
            "code {n}"
        );
    }
}

/// The flows are one table too (`core/src/flow_table.in`: name, number, service, kind): the
/// header's `SuzFlow`, C++'s `suz::Flow`, Python's `Flow` and C#'s `Flow` list the same numbers
/// under the same names.
#[test]
fn every_binding_lists_every_flow_by_its_number() {
    use suz_auth_core::Flow;
    // `TrueApi` -> `TRUE_API`, as the header and Python spell it.
    let upper = |f: Flow| upper_of(&format!("{f:?}"));
    let want = |name: &dyn Fn(Flow) -> String| -> BTreeMap<u32, String> {
        Flow::ALL.iter().map(|&f| (f.code(), name(f))).collect()
    };
    let header = read("include/suz_auth.h");
    let in_header = numbers_and_names(header.lines().filter_map(|l| {
        let (name, n) = l.trim().trim_end_matches(',').split_once(" = ")?;
        let name = name.strip_prefix("SUZ_FLOW_")?;
        Some((n.parse().ok()?, name.to_owned()))
    }));
    assert_eq!(in_header, want(&upper));
    let python = read("bindings/python/suz_auth/_client.py");
    let block = python.split("class Flow(enum.IntEnum):").nth(1).unwrap();
    let in_python = numbers_and_names(
        block
            .lines()
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with("    "))
            .filter_map(|l| {
                let (name, n) = l.trim().split_once(" = ")?;
                Some((n.parse().ok()?, name.to_owned()))
            }),
    );
    assert_eq!(in_python, want(&upper));
    let csharp = read("bindings/dotnet/src/Api.cs");
    let line = csharp
        .lines()
        .find(|l| l.contains("public enum Flow : uint"))
        .unwrap();
    let body = line.split('{').nth(1).unwrap().split('}').next().unwrap();
    let in_csharp = numbers_and_names(body.split(',').filter_map(|item| {
        let (name, n) = item.trim().split_once(" = ")?;
        Some((n.trim().parse().ok()?, name.trim().to_owned()))
    }));
    assert_eq!(in_csharp, want(&|f: Flow| format!("{f:?}")));
    // C++: `TrueApi = SUZ_FLOW_TRUE_API,` — the C name's number, from the header.
    let cpp = read("include/suz_auth.hpp");
    let block = cpp
        .split("enum class Flow : std::uint32_t {")
        .nth(1)
        .unwrap();
    let in_cpp: BTreeMap<u32, String> = block
        .lines()
        .take_while(|l| !l.contains("};"))
        .filter_map(|l| {
            let (name, c_name) = l.trim().trim_end_matches(',').split_once(" = ")?;
            let c_name = c_name.strip_prefix("SUZ_FLOW_")?;
            let (&n, _) = in_header.iter().find(|(_, h)| *h == c_name)?;
            assert_eq!(upper_of(name), c_name, "C++ {name} is SUZ_FLOW_{c_name}");
            Some((n, name.to_owned()))
        })
        .collect();
    assert_eq!(in_cpp, want(&|f: Flow| format!("{f:?}")));
}

/// `TrueApiToken` -> `TRUE_API_TOKEN`.
fn upper_of(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
