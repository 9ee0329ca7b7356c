//! The C# binding's P/Invoke declarations (`bindings/dotnet/src/Native.cs`) against the header
//! they stand for (`include/suz_auth.h`): every function of the header is declared once, with
//! its name, its number of arguments, each argument's and the result's type as P/Invoke must
//! spell it for that C type (a wrong width or a missing `out` is a silent stack mismatch at run
//! time), `cdecl`; every declaration is a function of the header; the callback delegates match
//! the header's function-pointer types; `TokenValueMax` is `SUZ_TOKEN_VALUE_MAX`.

use std::collections::BTreeMap;
use std::path::Path;

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)).unwrap()
}

/// Comments (`//` to the end of the line) and preprocessor lines removed, and `extern "C" {`
/// and its closing brace.
fn without_comments(source: &str) -> String {
    source
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.replace("extern \"C\" {", ""))
        .filter(|l| l.trim() != "}")
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whitespace collapsed to single spaces, and none next to `*`.
fn squeeze(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    s.replace(" *", "*").replace("* ", "*")
}

/// Splits `type name` into the type (e.g. `const char*`), dropping the parameter's name.
fn c_type(param: &str) -> String {
    let p = squeeze(param);
    if p == "void" {
        return p;
    }
    match p.rfind(['*', ' ']) {
        Some(at) => p[..=at].trim().to_owned(),
        None => p,
    }
}

/// Each `suz_*` function of the header: its result type and its parameters' types.
fn header_functions(header: &str) -> BTreeMap<String, (String, Vec<String>)> {
    let code = without_comments(header);
    let mut out = BTreeMap::new();
    for statement in code.split(';') {
        let statement = statement.trim();
        let Some(open) = statement.find("suz_").filter(|_| statement.ends_with(')')) else {
            continue;
        };
        if statement.starts_with("typedef") {
            continue;
        }
        let head = &statement[..open];
        let rest = &statement[open..];
        let Some(paren) = rest.find('(') else {
            continue;
        };
        let name = rest[..paren].to_owned();
        let params = &rest[paren + 1..rest.len() - 1];
        let params: Vec<String> = params
            .split(',')
            .map(c_type)
            .filter(|p| p != "void")
            .collect();
        out.insert(name, (squeeze(head), params));
    }
    out
}

/// The header's callback types: name and parameters' types.
fn header_callbacks(header: &str) -> BTreeMap<String, (String, Vec<String>)> {
    let code = without_comments(header);
    let mut out = BTreeMap::new();
    for statement in code.split(';') {
        let statement = squeeze(statement.trim());
        let Some(rest) = statement.strip_prefix("typedef ") else {
            continue;
        };
        let Some(open) = rest.find("(*") else {
            continue;
        };
        let result = rest[..open].trim().to_owned();
        let close = rest[open..].find(')').unwrap() + open;
        let name = rest[open + 2..close].to_owned();
        let params = &rest[close + 2..rest.len() - 1];
        let params = params
            .split(',')
            .map(c_type)
            .filter(|p| p != "void")
            .collect();
        out.insert(name, (result, params));
    }
    out
}

/// The P/Invoke spelling(s) allowed for a C parameter type.
fn csharp_for_param(c: &str) -> Vec<String> {
    let handle = |t: &str| {
        let name = t
            .trim_start_matches("const ")
            .trim_start_matches("struct ")
            .trim_end_matches('*')
            .trim_start_matches("Suz");
        match name {
            "Client" | "Token" | "Pending" | "Signer" | "Response" => Some(format!("{name}Handle")),
            _ => None,
        }
    };
    let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
    match c {
        "const char*" => v(&["byte[]"]),
        "char*" => v(&["IntPtr", "byte[]"]),
        "char**" => v(&["out IntPtr"]),
        "const uint8_t*" => v(&["byte[]", "IntPtr"]),
        "const uint8_t**" => v(&["out IntPtr"]),
        "size_t" => v(&["UIntPtr"]),
        "size_t*" => v(&["out UIntPtr"]),
        "bool" => v(&["[MarshalAs(UnmanagedType.I1)] bool"]),
        "bool*" => v(&["[MarshalAs(UnmanagedType.I1)] out bool"]),
        "uint32_t" | "SuzResult" | "SuzSignatureKind" | "SuzLogLevel" | "SuzFlow" => v(&["uint"]),
        "int32_t" => v(&["int"]),
        "int64_t" => v(&["long"]),
        "int64_t*" => v(&["out long"]),
        "uint16_t" => v(&["ushort"]),
        "void*" => v(&["IntPtr"]),
        "SuzSignCallback" => v(&["SignCallback"]),
        "SuzUserdataFree" => v(&["UserdataFree"]),
        "SuzLogCallback" => v(&["LogCallback"]),
        t if t.ends_with("**") => {
            let mut all = vec!["out IntPtr".to_owned()];
            if let Some(h) = handle(&t[..t.len() - 1]) {
                all.push(format!("out {h}"));
            }
            all
        }
        t if t.ends_with('*') => {
            let mut all = vec!["IntPtr".to_owned()];
            if let Some(h) = handle(t) {
                all.push(h);
            }
            all
        }
        other => panic!("no P/Invoke mapping for the C type {other:?}: add one here"),
    }
}

fn csharp_for_result(c: &str) -> &'static str {
    match c {
        "SuzResult" | "uint32_t" => "uint",
        "void" => "void",
        "const char*" => "IntPtr",
        "int64_t" => "long",
        "uint16_t" => "ushort",
        "size_t" => "UIntPtr",
        "int32_t" => "int",
        other => panic!("no P/Invoke mapping for the C result type {other:?}"),
    }
}

/// A C# parameter's type as written, without its name.
fn csharp_param_type(param: &str) -> String {
    let p = param.split_whitespace().collect::<Vec<_>>();
    p[..p.len() - 1].join(" ")
}

/// Each `[DllImport] … extern RESULT NAME(PARAMS);` of Native.cs: result, parameters' types
/// and whether it says `CallingConvention = C`.
fn dll_imports(source: &str) -> BTreeMap<String, (String, Vec<String>, bool)> {
    let code = without_comments(source);
    let mut out = BTreeMap::new();
    for chunk in code.split("[DllImport(").skip(1) {
        let attrs = &chunk[..chunk.find(')').unwrap()];
        let cdecl = attrs.contains("CallingConvention = C");
        let decl = squeeze(&chunk[..chunk.find(';').unwrap()]);
        let decl = decl.replace("( ", "(").replace(" )", ")");
        let extern_at = decl.find("extern ").expect("an extern declaration");
        let signature = &decl[extern_at + "extern ".len()..];
        let open = signature.find('(').unwrap();
        let mut words = signature[..open].split_whitespace();
        let result = words.next().unwrap().to_owned();
        let name = words.next().unwrap().to_owned();
        let inner = &signature[open + 1..signature.rfind(')').unwrap()];
        let params = if inner.trim().is_empty() {
            Vec::new()
        } else {
            split_params(inner)
                .iter()
                .map(|p| csharp_param_type(p))
                .collect()
        };
        assert!(
            out.insert(name.clone(), (result, params, cdecl)).is_none(),
            "{name} is declared twice"
        );
    }
    out
}

/// Splits at commas outside brackets (`[MarshalAs(UnmanagedType.I1)] bool x`).
fn split_params(inner: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(inner[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(inner[start..].trim().to_owned());
    out
}

/// Every disagreement between a header and a C# source.
fn disagreements(header: &str, native: &str) -> Vec<String> {
    let functions = header_functions(header);
    let imports = dll_imports(native);
    let mut wrong = Vec::new();
    for (name, (result, params)) in &functions {
        let Some((cs_result, cs_params, cdecl)) = imports.get(name) else {
            wrong.push(format!("{name}: in the header, not in Native.cs"));
            continue;
        };
        if !cdecl {
            wrong.push(format!("{name}: not CallingConvention = C (cdecl)"));
        }
        if cs_result != csharp_for_result(result) {
            wrong.push(format!(
                "{name}: returns {result} in C, {cs_result} in C# (want {})",
                csharp_for_result(result)
            ));
        }
        if cs_params.len() != params.len() {
            wrong.push(format!(
                "{name}: {} parameters in C, {} in C#",
                params.len(),
                cs_params.len()
            ));
            continue;
        }
        for (i, (c, cs)) in params.iter().zip(cs_params).enumerate() {
            let allowed = csharp_for_param(c);
            if !allowed.contains(cs) {
                wrong.push(format!(
                    "{name}: parameter {} is {c} in C, {cs} in C# (want one of {allowed:?})",
                    i + 1
                ));
            }
        }
    }
    for name in imports.keys() {
        if !functions.contains_key(name) {
            wrong.push(format!("{name}: in Native.cs, not in the header"));
        }
    }
    wrong
}

#[test]
fn every_p_invoke_declaration_matches_the_header() {
    let (header, native) = (
        read("include/suz_auth.h"),
        read("bindings/dotnet/src/Native.cs"),
    );
    let functions = header_functions(&header);
    assert!(
        functions.len() >= 50,
        "only {} functions read",
        functions.len()
    );
    let wrong = disagreements(&header, &native);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_callback_delegates_match_the_header() {
    let header = read("include/suz_auth.h");
    let native = without_comments(&read("bindings/dotnet/src/Native.cs"));
    let callbacks = header_callbacks(&header);
    assert_eq!(callbacks.len(), 3, "{callbacks:?}");
    for (c_name, (result, params)) in callbacks {
        let cs_name = csharp_for_param(&c_name).remove(0);
        let declaration = native
            .split("[UnmanagedFunctionPointer(CallingConvention.Cdecl)]")
            .skip(1)
            .map(squeeze)
            .find(|d| d.contains(&format!(" {cs_name}(")))
            .unwrap_or_else(|| panic!("no cdecl delegate {cs_name} for {c_name}"));
        let inner =
            &declaration[declaration.find('(').unwrap() + 1..declaration.find(')').unwrap()];
        let cs_params: Vec<String> = split_params(inner)
            .iter()
            .map(|p| csharp_param_type(p))
            .collect();
        let cs_result = declaration.split_whitespace().nth(2).unwrap();
        assert_eq!(cs_result, csharp_for_result(&result), "{c_name}");
        assert_eq!(cs_params.len(), params.len(), "{c_name}");
        for (c, cs) in params.iter().zip(&cs_params) {
            // What C hands to a callback is a pointer C# reads itself (IntPtr).
            let mut allowed = csharp_for_param(c);
            if c.ends_with('*') {
                allowed.push("IntPtr".to_owned());
            }
            assert!(allowed.contains(cs), "{c_name}: {c} as {cs}");
        }
    }
}

#[test]
fn token_value_max_is_the_headers() {
    let header = read("include/suz_auth.h");
    let native = read("bindings/dotnet/src/Native.cs");
    let c = header
        .lines()
        .find_map(|l| l.strip_prefix("#define SUZ_TOKEN_VALUE_MAX "))
        .unwrap()
        .trim()
        .to_owned();
    let cs = native
        .lines()
        .find_map(|l| l.trim().strip_prefix("internal const int TokenValueMax = "))
        .and_then(|l| l.split(';').next())
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(cs, c);
}

/// The check itself: a wrong width, a missing `out`, a dropped argument, a stdcall import and
/// a function the header does not have are each reported.
#[test]
fn a_wrong_declaration_is_reported() {
    let header = read("include/suz_auth.h");
    let native = read("bindings/dotnet/src/Native.cs");
    for (from, to, says) in [
        (
            "internal static extern long suz_token_expires_at_ms(TokenHandle token);",
            "internal static extern int suz_token_expires_at_ms(TokenHandle token);",
            "suz_token_expires_at_ms: returns int64_t in C, int in C#",
        ),
        (
            "byte[] exported, out PendingHandle pending);",
            "byte[] exported, PendingHandle pending);",
            "suz_pending_import: parameter 3",
        ),
        (
            "suz_gismt_begin(ClientHandle client, byte[] omsConnection, out PendingHandle pending);",
            "suz_gismt_begin(ClientHandle client, out PendingHandle pending);",
            "suz_gismt_begin: 3 parameters in C, 2 in C#",
        ),
        (
            "[DllImport(Lib, CallingConvention = C)] internal static extern void suz_string_free",
            "[DllImport(Lib)] internal static extern void suz_string_free",
            "suz_string_free: not CallingConvention = C",
        ),
        (
            "internal static extern uint suz_last_error_code();",
            "internal static extern uint suz_last_error_code(); [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_no_such_function();",
            "suz_no_such_function: in Native.cs, not in the header",
        ),
    ] {
        assert!(native.contains(from), "{from}");
        let broken = native.replace(from, to);
        let wrong = disagreements(&header, &broken);
        assert!(
            wrong.iter().any(|w| w.starts_with(says)),
            "{says}: {wrong:?}"
        );
    }
}
