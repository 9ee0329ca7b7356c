//! No circle of imports between the files of the core, the C library and the emulator: read
//! from the source, every path a file names — `use` trees with their groups (`use crate::{a,
//! b::{c, d}}`), `crate::`, `super::` and `self::` paths in the code, child modules named
//! without a prefix, and names re-exported at the crate root (`crate::Error`) — is resolved to
//! the file that defines the module, and the graph of files must have no cycle. A parent that
//! only declares or re-exports its children (`pub mod x;`, `pub use x::Y;`) does not depend on
//! them.
//!
//! Also: no file of the core's sources is longer than [`MAX_LINES`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The longest a file of `core/src` may be.
const MAX_LINES: usize = 700;

/// A crate's modules: module path (`token::store`) to its file, and each file's source.
struct Crate {
    modules: BTreeMap<Vec<String>, PathBuf>,
    sources: HashMap<PathBuf, String>,
    /// Per module, the names it re-exports (`pub use a::b::Name;`) and the module they come
    /// from.
    reexports: HashMap<Vec<String>, HashMap<String, Vec<String>>>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and string literals (a path inside either names nothing).
fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                // A raw string `r#"…"#` starts with r and hashes, handled by skipping to the
                // matching quote and hashes.
                let hashes = source[..i].bytes().rev().take_while(|&b| b == b'#').count();
                let raw = i > hashes && bytes[i - hashes - 1] == b'r';
                i += 1;
                while i < bytes.len() {
                    if !raw && bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == b'"'
                        && (!raw
                            || source[i + 1..].bytes().take_while(|&b| b == b'#').count() >= hashes)
                    {
                        i += 1 + if raw { hashes } else { 0 };
                        break;
                    }
                    i += 1;
                }
                out.push_str("\"\"");
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') || (bytes.get(i + 1) == Some(&b'\\')) => {
                // A char literal ('"', '\'', '\n'): skipped whole.
                let end = source[i + 1..].find('\'').map_or(bytes.len(), |e| {
                    let e = i + 1 + e;
                    if bytes[e - 1] == b'\\' && bytes.get(e + 1) == Some(&b'\'') {
                        e + 1
                    } else {
                        e
                    }
                });
                i = end + 1;
            }
            b => {
                out.push(b as char);
                i += 1;
            }
        }
    }
    out
}

/// The source without its `#[cfg(test)] mod … { … }` blocks: a test may use anything.
fn without_tests(source: &str) -> String {
    let mut out = String::new();
    let mut rest = source;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = rest[at + "#[cfg(test)]".len()..].trim_start();
        let is_mod = after.starts_with("mod ") || after.starts_with("pub mod ");
        match (is_mod, after.find('{'), after.find(';')) {
            (true, Some(open), semi) if semi.is_none_or(|s| s > open) => {
                let mut depth = 0;
                let mut end = after.len();
                for (i, c) in after[open..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &after[end..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// The modules a source declares as test-only files: `#[cfg(test)] mod name;`.
fn test_modules(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = rest[at + "#[cfg(test)]".len()..].trim_start();
        let after = after.strip_prefix("pub(crate) ").unwrap_or(after);
        if let Some(decl) = after.strip_prefix("mod ") {
            let name: String = decl
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if decl[name.len()..].trim_start().starts_with(';') {
                out.push(name);
            }
        }
        rest = &rest[at + 1..];
    }
    out
}

/// The module path of a file under the crate's source directory.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

/// The paths a `use` tree names, expanded: `a::{b, c::{d, e as f}}` gives `a::b`, `a::c::d`,
/// `a::c::e`.
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    // Whitespace goes, except the spaces around `as`, which become `@`.
    let words: Vec<&str> = tree.split_whitespace().collect();
    let tree: String = words
        .iter()
        .map(|w| if *w == "as" { "@" } else { w })
        .collect();
    let mut out = Vec::new();
    expand_into(&tree, &mut Vec::new(), &mut out);
    out
}

fn expand_into(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    // Split at top-level commas.
    let mut depth = 0;
    let mut start = 0;
    let mut items = Vec::new();
    for (i, c) in tree.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&tree[start..]);
    for item in items.into_iter().filter(|s| !s.is_empty()) {
        match item.find('{') {
            Some(open) => {
                let head = item[..open].trim_end_matches("::");
                let inner = &item[open + 1..item.rfind('}').unwrap_or(item.len())];
                let pushed: Vec<String> = head
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                let n = pushed.len();
                prefix.extend(pushed);
                expand_into(inner, prefix, out);
                prefix.truncate(prefix.len() - n);
            }
            None => {
                let item = item.split('@').next().unwrap_or(item);
                let mut path = prefix.clone();
                path.extend(
                    item.split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                );
                out.push(path);
            }
        }
    }
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let mut modules = BTreeMap::new();
        let mut sources = HashMap::new();
        let mut test_only: Vec<Vec<String>> = Vec::new();
        for file in files {
            let relative = file.strip_prefix(src).unwrap().to_path_buf();
            // Binaries other than the crate's own (src/bin/…) are crates of their own.
            if relative.starts_with("bin") {
                continue;
            }
            let code = code_only(&std::fs::read_to_string(&file).unwrap());
            let module = module_of(&relative);
            // Test modules in files of their own (`#[cfg(test)] mod tests;`) are left out too.
            for declared in test_modules(&code) {
                let mut child = module.clone();
                child.push(declared);
                test_only.push(child);
            }
            modules.insert(module, relative.clone());
            sources.insert(relative, without_tests(&code));
        }
        modules.retain(|module, _| !test_only.iter().any(|t| module.starts_with(t)));
        let mut krate = Crate {
            modules,
            sources,
            reexports: HashMap::new(),
        };
        let mut reexports = HashMap::new();
        for (own, file) in &krate.modules {
            let mut names = HashMap::new();
            for statement in uses(&krate.sources[file]) {
                if !statement.public {
                    continue;
                }
                for path in expand_use(&statement.tree) {
                    let Some((name, _)) = path.split_last() else {
                        continue;
                    };
                    if name == "*" {
                        continue;
                    }
                    if let Some(absolute) = krate.resolve(own, &path) {
                        let (_, module) = absolute.split_last().unwrap();
                        names.insert(name.clone(), module.to_vec());
                    }
                }
            }
            reexports.insert(own.clone(), names);
        }
        krate.reexports = reexports;
        krate
    }

    /// `path` (from the root) with names re-exported by a module replaced by where they come
    /// from, until none is left.
    fn through_reexports(&self, mut path: Vec<String>) -> Vec<String> {
        for _ in 0..8 {
            let Some(at) = (0..path.len()).find(|&n| {
                !self.modules.contains_key(&path[..=n]) && self.modules.contains_key(&path[..n])
            }) else {
                return path;
            };
            let Some(source) = self
                .reexports
                .get(&path[..at])
                .and_then(|names| names.get(&path[at]))
            else {
                return path;
            };
            let mut next = source.clone();
            next.extend(path[at..].iter().cloned());
            if next == path {
                return path;
            }
            path = next;
        }
        path
    }
    /// The file of the deepest module `path` (from the crate root) reaches.
    fn file_of(&self, path: &[String]) -> Option<&PathBuf> {
        (1..=path.len())
            .rev()
            .find_map(|n| self.modules.get(&path[..n]))
    }

    /// Resolves `path` named in module `own` to a module path from the root.
    fn resolve(&self, own: &[String], path: &[String]) -> Option<Vec<String>> {
        let first = path.first()?;
        let absolute: Vec<String> = match first.as_str() {
            "crate" => path[1..].to_vec(),
            "super" => {
                let ups = path.iter().take_while(|s| *s == "super").count();
                let mut base = own[..own.len().saturating_sub(ups)].to_vec();
                base.extend(path[ups..].iter().cloned());
                base
            }
            "self" => {
                let mut base = own.to_vec();
                base.extend(path[1..].iter().cloned());
                base
            }
            child => {
                // A child module named without a prefix (`use conn::Conn;` next to `mod conn;`).
                let mut base = own.to_vec();
                base.push(child.to_owned());
                if !self.modules.contains_key(&base) {
                    return None;
                }
                base.extend(path[1..].iter().cloned());
                base
            }
        };
        // A name a module re-exports: the module it comes from.
        Some(if self.reexports.is_empty() {
            absolute
        } else {
            self.through_reexports(absolute)
        })
    }

    /// Each file's files: what it names, resolved, less itself, its own descendants when it
    /// only declares or re-exports them, and the crate root.
    fn graph(&self) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
        let root = self.modules[&Vec::new()].clone();
        let mut graph = BTreeMap::new();
        for (own, file) in &self.modules {
            let source = &self.sources[file];
            let mut named: Vec<(Vec<String>, bool)> = Vec::new();
            for statement in uses(source) {
                for path in expand_use(&statement.tree) {
                    named.push((path, statement.public));
                }
            }
            for path in inline_paths(source) {
                named.push((path, false));
            }
            let mut targets = BTreeSet::new();
            for (path, reexport) in named {
                let Some(absolute) = self.resolve(own, &path) else {
                    continue;
                };
                let Some(target) = self.file_of(&absolute) else {
                    continue;
                };
                let descendant = absolute.len() > own.len() && absolute.starts_with(own);
                if target == file || *target == root || (reexport && descendant) {
                    continue;
                }
                targets.insert(target.clone());
            }
            graph.insert(file.clone(), targets);
        }
        graph
    }
}

struct UseStatement {
    public: bool,
    tree: String,
}

/// The `use` statements of a source (comments and strings already removed).
fn uses(source: &str) -> Vec<UseStatement> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(at) = find_word(rest, "use") {
        let before = rest[..at].trim_end();
        let public = before.ends_with("pub") || before.ends_with(')');
        let after = &rest[at + 3..];
        let Some(end) = after.find(';') else { break };
        out.push(UseStatement {
            public,
            tree: after[..end].to_owned(),
        });
        rest = &after[end..];
    }
    out
}

/// Where `word` stands as a whole word at the start of a statement.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let starts = before.is_none_or(|c| c.is_whitespace() || c == ';' || c == '{' || c == '}');
        let ends = after.is_some_and(|c| c.is_whitespace());
        if starts && ends {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// `crate::…`, `super::…` and `self::…` paths outside `use` statements.
fn inline_paths(source: &str) -> Vec<Vec<String>> {
    let mut code = String::new();
    let mut rest = source;
    while let Some(at) = find_word(rest, "use") {
        code.push_str(&rest[..at]);
        match rest[at..].find(';') {
            Some(end) => rest = &rest[at + end..],
            None => {
                rest = "";
                break;
            }
        }
    }
    code.push_str(rest);
    let mut out = Vec::new();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: Vec<String> = code[at..]
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            out.push(path);
        }
    }
    out
}

/// A cycle in the graph, if there is one, as the files along it.
fn find_cycle(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Option<Vec<PathBuf>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &PathBuf,
        graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        marks: &mut HashMap<PathBuf, Mark>,
        stack: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        marks.insert(node.clone(), Mark::Open);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(next, graph, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    for node in graph.keys() {
        if marks.get(node).copied().unwrap_or(Mark::New) == Mark::New {
            let mut stack = Vec::new();
            if let Some(c) = visit(node, graph, &mut marks, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn assert_no_cycle(dir: &str) {
    let krate = Crate::read(&repo().join(dir));
    let graph = krate.graph();
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    assert!(
        edges >= graph.len() / 2,
        "{dir}: only {edges} imports between {} files: the scan is broken",
        graph.len()
    );
    let mut cycles = Vec::new();
    let mut graph = graph;
    while let Some(cycle) = find_cycle(&graph) {
        let shown: Vec<String> = cycle.iter().map(|p| p.display().to_string()).collect();
        cycles.push(shown.join(" -> "));
        // Cut the cycle's last edge and look for the next one.
        let (from, to) = (&cycle[cycle.len() - 2], &cycle[cycle.len() - 1]);
        graph.get_mut(from).unwrap().remove(to);
    }
    assert!(
        cycles.is_empty(),
        "{dir}: circles of imports:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_core_has_no_circle_of_imports() {
    assert_no_cycle("core/src");
}

#[test]
fn the_c_library_has_no_circle_of_imports() {
    assert_no_cycle("src");
}

#[test]
fn the_emulator_has_no_circle_of_imports() {
    assert_no_cycle("emulator/src");
}

#[test]
fn no_file_of_the_core_is_longer_than_700_lines() {
    let mut files = Vec::new();
    rust_files(&repo().join("core/src"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines: {}",
        long.join(", ")
    );
}

#[test]
fn the_scan_finds_what_each_form_of_import_names() {
    assert_eq!(
        expand_use("crate::{a, b::{c, d as e}, f::*}"),
        [
            vec!["crate", "a"],
            vec!["crate", "b", "c"],
            vec!["crate", "b", "d"],
            vec!["crate", "f", "*"],
        ]
    );
    let source = code_only(
        "use super::x::Y; // crate::ignored\nfn f() { let s = \"crate::in_a_string\"; crate::z::w(); self::v::u(); }",
    );
    assert_eq!(uses(&source).len(), 1);
    assert_eq!(
        inline_paths(&source),
        [vec!["crate", "z", "w"], vec!["self", "v", "u"]]
    );
    // A two-file circle is found, named in order.
    let mut graph = BTreeMap::new();
    graph.insert(
        PathBuf::from("a.rs"),
        BTreeSet::from([PathBuf::from("b.rs")]),
    );
    graph.insert(
        PathBuf::from("b.rs"),
        BTreeSet::from([PathBuf::from("a.rs")]),
    );
    assert_eq!(
        find_cycle(&graph).unwrap(),
        [
            PathBuf::from("a.rs"),
            PathBuf::from("b.rs"),
            PathBuf::from("a.rs")
        ]
    );
}

/// The top-level modules of a crate and the top-level modules each one uses.
fn top_level_graph(dir: &str) -> BTreeMap<String, BTreeSet<String>> {
    let krate = Crate::read(&repo().join(dir));
    let module_of_file: HashMap<&PathBuf, &Vec<String>> =
        krate.modules.iter().map(|(m, f)| (f, m)).collect();
    let top = |file: &PathBuf| module_of_file[file].first().cloned();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, targets) in krate.graph() {
        let Some(from) = top(&file) else { continue };
        let entry = graph.entry(from.clone()).or_default();
        for target in &targets {
            if let Some(to) = top(target).filter(|to| *to != from) {
                entry.insert(to);
            }
        }
    }
    graph
}

/// The core's layers, bottom up: a module may use only modules of lower layers. Every
/// top-level module must be placed here.
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "error" | "random" | "civil" => 0,
        "log" | "value" => 1,
        "config" | "cms" => 2,
        "net" | "signer" => 3,
        "transport" | "token" => 4,
        "flows" => 5,
        "client" => 6,
        _ => return None,
    })
}

#[test]
fn every_module_of_the_core_has_a_layer_and_uses_only_those_below() {
    let graph = top_level_graph("core/src");
    assert!(graph.len() >= 10, "{graph:?}");
    let mut wrong = Vec::new();
    for (module, uses) in &graph {
        let Some(own) = layer(module) else {
            wrong.push(format!("{module} has no layer in this test"));
            continue;
        };
        for used in uses {
            match layer(used) {
                Some(theirs) if theirs < own => {}
                _ => wrong.push(format!("{module} uses {used}")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Inside `token`, the stores sit under the cache: key and lease <- store <- redis <- manager.
#[test]
fn inside_token_the_stores_sit_under_the_cache() {
    let krate = Crate::read(&repo().join("core/src"));
    let module_of_file: HashMap<&PathBuf, &Vec<String>> =
        krate.modules.iter().map(|(m, f)| (f, m)).collect();
    let rank = |file: &PathBuf| {
        let module = module_of_file[file];
        (module.first().map(String::as_str) == Some("token"))
            .then(|| match module.get(1).map(String::as_str) {
                Some("key" | "lease") => Some(0),
                Some("store") => Some(1),
                Some("redis") => Some(2),
                Some("manager") => Some(3),
                _ => None,
            })
            .flatten()
    };
    let mut wrong = Vec::new();
    for (file, targets) in krate.graph() {
        let Some(mine) = rank(&file) else { continue };
        for target in &targets {
            if rank(target).is_some_and(|theirs| theirs > mine) {
                wrong.push(format!("{} uses {}", file.display(), target.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The README's module graph (the block after `<!-- module graph -->`) is the one read from the
/// source: each line names a module, then the modules it uses.
#[test]
fn the_readme_shows_the_real_module_graph() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let block = readme
        .split("<!-- module graph -->")
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .expect("README.md has a module graph block");
    let mut shown: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in block.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let module = words.next().unwrap().to_owned();
        if module == "module" {
            continue;
        }
        let uses: BTreeSet<String> = words
            .take_while(|w| *w != "|")
            .filter(|w| *w != "-")
            .map(str::to_owned)
            .collect();
        shown.insert(module, uses);
    }
    let real = top_level_graph("core/src");
    let show = |g: &BTreeMap<String, BTreeSet<String>>| {
        g.iter()
            .map(|(m, u)| {
                format!(
                    "{m:<10} {}",
                    u.iter().cloned().collect::<Vec<_>>().join(" ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        show(&shown),
        show(&real),
        "the README's module graph differs from the source's"
    );
}
