//! Every package in the workspace's dependency graph (`cargo metadata`: every member, every
//! target platform, normal, build and dev dependencies) is under a licence expression that the
//! project's list satisfies: MIT, Apache-2.0, BSD-2-Clause, BSD-3-Clause, ISC or Zlib (the
//! house rules; GPL, AGPL and LGPL are not on it). A package needing anything else is a named
//! exception below, per package, with the reason. The expression checker is unit-tested, and a
//! throwaway crate declaring `GPL-3.0-only` is run through the same `cargo metadata` check to
//! show it fails.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The licences every package may use (SPDX identifiers).
const ALLOWED: [&str; 6] = [
    "MIT",
    "Apache-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Zlib",
];

/// Exceptions (`X WITH exception`) that only add rights to an allowed licence: the LLVM
/// exception of Apache-2.0 (rustix, wasi, target-lexicon).
const ALLOWED_WITH: [&str; 1] = ["LLVM-exception"];

/// A licence beyond [`ALLOWED`] that named packages may use, and why.
struct Exception {
    licence: &'static str,
    packages: &'static [&'static str],
    why: &'static str,
}

const EXCEPTIONS: &[Exception] = &[
    Exception {
        licence: "Unicode-3.0",
        packages: &[
            "icu_collections",
            "icu_locale_core",
            "icu_normalizer",
            "icu_normalizer_data",
            "icu_properties",
            "icu_properties_data",
            "icu_provider",
            "litemap",
            "potential_utf",
            "tinystr",
            "writeable",
            "yoke",
            "yoke-derive",
            "zerofrom",
            "zerofrom-derive",
            "zerotrie",
            "zerovec",
            "zerovec-derive",
            "unicode-ident",
            "unicode-normalization",
            "unicode-properties",
        ],
        why: "the Unicode data licence (MIT-style: use, copy, modify with the notice kept) of \
              the ICU4X crates behind URL host parsing (url -> idna) and of the Unicode tables \
              in unicode-ident (every proc macro) and unicode-normalization (sqlx, PostgreSQL)",
    },
    Exception {
        licence: "CC0-1.0",
        packages: &[
            "encoding-index-japanese",
            "encoding-index-korean",
            "encoding-index-simpchinese",
            "encoding-index-singlebyte",
            "encoding-index-tradchinese",
            "encoding_index_tests",
        ],
        why: "public-domain dedication of the WHATWG encoding tables that the DICOM reader \
              (dicom-encoding -> encoding) decodes text with",
    },
    Exception {
        licence: "IJG",
        packages: &["jpeg-encoder"],
        why: "the Independent JPEG Group's permissive licence (BSD-like, attribution) on the \
              JPEG code that the DICOM pixel-data crate links; together with MIT OR Apache-2.0",
    },
    Exception {
        licence: "CDLA-Permissive-2.0",
        packages: &["webpki-root-certs"],
        why: "Mozilla's root certificates as data under a permissive data licence; only a \
              wasm32 dependency of rustls-platform-verifier (through reqwest), and the node is \
              never built for wasm32",
    },
    Exception {
        licence: "MIT-0",
        packages: &["borrow-or-share"],
        why: "MIT without its attribution clause (MIT No Attribution): the URI parser's helper \
              behind the JSON Schema validator of the REST client's OpenAPI test, a \
              dev-dependency of more-cli only (jsonschema -> referencing -> fluent-uri)",
    },
    Exception {
        licence: "BSD-3-Clause-Clear",
        packages: &["tfhe-ntt"],
        why: "a permissive copyright licence that grants no patent rights (Zama grants a \
              non-commercial patent licence only). fhe-math 0.1.1 lists it as a dependency but \
              calls it only under its `tfhe-ntt` features, which nothing here enables \
              (asserted by `tfhe_ntt_is_linked_but_never_enabled`): the NTT in use is \
              fhe-math's own",
    },
];

/// Packages whose manifest has no SPDX expression, with the licence their licence file states
/// (checked on the file's first line).
const LICENCE_FILES: &[(&str, &str, &str)] = &[("apalis-postgres", "MIT License", "MIT")];

/// A parsed licence expression: identifiers joined by `OR`, `AND` and `WITH`.
#[derive(Debug, PartialEq)]
enum Expr {
    Id(String),
    With(Box<Expr>, String),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

fn tokens(s: &str) -> Vec<String> {
    // `/` is the legacy crates.io spelling of OR ("MIT/Apache-2.0").
    s.replace('(', " ( ")
        .replace(')', " ) ")
        .replace('/', " OR ")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Parses an SPDX licence expression (precedence: WITH, then AND, then OR).
fn parse(s: &str) -> Result<Expr, String> {
    let toks = tokens(s);
    let mut at = 0;
    let e = parse_or(&toks, &mut at)?;
    if at != toks.len() {
        return Err(format!("{s:?}: unexpected {:?}", toks[at]));
    }
    Ok(e)
}

fn parse_or(t: &[String], at: &mut usize) -> Result<Expr, String> {
    let mut e = parse_and(t, at)?;
    while t.get(*at).is_some_and(|x| x == "OR") {
        *at += 1;
        e = Expr::Or(Box::new(e), Box::new(parse_and(t, at)?));
    }
    Ok(e)
}

fn parse_and(t: &[String], at: &mut usize) -> Result<Expr, String> {
    let mut e = parse_with(t, at)?;
    while t.get(*at).is_some_and(|x| x == "AND") {
        *at += 1;
        e = Expr::And(Box::new(e), Box::new(parse_with(t, at)?));
    }
    Ok(e)
}

fn parse_with(t: &[String], at: &mut usize) -> Result<Expr, String> {
    let e = parse_atom(t, at)?;
    if t.get(*at).is_some_and(|x| x == "WITH") {
        *at += 1;
        let exception = t.get(*at).ok_or("WITH needs an exception")?.clone();
        *at += 1;
        return Ok(Expr::With(Box::new(e), exception));
    }
    Ok(e)
}

fn parse_atom(t: &[String], at: &mut usize) -> Result<Expr, String> {
    let tok = t.get(*at).ok_or("expression ends early")?.clone();
    *at += 1;
    match tok.as_str() {
        "(" => {
            let e = parse_or(t, at)?;
            if t.get(*at).is_none_or(|x| x != ")") {
                return Err("missing )".into());
            }
            *at += 1;
            Ok(e)
        }
        ")" | "OR" | "AND" | "WITH" => Err(format!("unexpected {tok:?}")),
        id => Ok(Expr::Id(id.to_string())),
    }
}

/// Whether the expression can be complied with using only `allowed` licences.
fn satisfiable(e: &Expr, allowed: &BTreeSet<&str>) -> bool {
    match e {
        Expr::Id(id) => allowed.contains(id.as_str()),
        Expr::With(e, exception) => {
            satisfiable(e, allowed) && ALLOWED_WITH.contains(&exception.as_str())
        }
        Expr::And(a, b) => satisfiable(a, allowed) && satisfiable(b, allowed),
        Expr::Or(a, b) => satisfiable(a, allowed) || satisfiable(b, allowed),
    }
}

/// Whether `expression` is acceptable for package `name` (the list plus its exceptions).
fn acceptable(name: &str, expression: &str) -> Result<bool, String> {
    let mut allowed: BTreeSet<&str> = ALLOWED.into_iter().collect();
    for x in EXCEPTIONS.iter().filter(|x| x.packages.contains(&name)) {
        assert!(!x.why.is_empty());
        allowed.insert(x.licence);
    }
    Ok(satisfiable(&parse(expression)?, &allowed))
}

fn cargo_metadata(dir: &Path) -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(dir)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// `name version: problem` for every package of `metadata` that breaks the rule.
fn violations(metadata: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for p in metadata["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().unwrap_or("?");
        let what = format!("{name} {}", p["version"].as_str().unwrap_or("?"));
        match p["license"].as_str() {
            Some(expr) => match acceptable(name, expr) {
                Ok(true) => {}
                Ok(false) => out.push(format!("{what}: {expr:?} is not on the list")),
                Err(e) => out.push(format!("{what}: unreadable licence {e}")),
            },
            None => out.push(licence_file_problem(p, &what)),
        }
    }
    out.retain(|v| !v.is_empty());
    out
}

/// "" when a package without an SPDX expression is a [`LICENCE_FILES`] entry whose file says
/// what the entry says; else the problem.
fn licence_file_problem(p: &serde_json::Value, what: &str) -> String {
    let name = p["name"].as_str().unwrap_or("?");
    let Some((_, first_line, spdx)) = LICENCE_FILES.iter().find(|(n, _, _)| *n == name) else {
        return format!("{what}: no licence expression");
    };
    let manifest = Path::new(p["manifest_path"].as_str().unwrap_or(""));
    let file = p["license_file"].as_str().unwrap_or("LICENSE");
    let text = std::fs::read_to_string(manifest.parent().unwrap().join(file)).unwrap_or_default();
    match text.lines().next().map(str::trim) == Some(*first_line)
        && acceptable(name, spdx) == Ok(true)
    {
        true => String::new(),
        false => format!("{what}: licence file does not start with {first_line:?}"),
    }
}

#[test]
fn every_package_of_the_workspace_has_a_licence_on_the_list() {
    let metadata = cargo_metadata(Path::new(env!("CARGO_MANIFEST_DIR")));
    let packages = metadata["packages"].as_array().unwrap().len();
    assert!(packages > 100, "the whole graph is listed ({packages})");
    let bad = violations(&metadata);
    assert!(bad.is_empty(), "licences off the list:\n{}", bad.join("\n"));
    // Every exception is still needed: a package named in one is in the graph.
    let names: BTreeSet<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for x in EXCEPTIONS {
        for p in x.packages {
            assert!(
                names.contains(p),
                "exception for {p} ({}) is stale",
                x.licence
            );
        }
    }
}

/// The exception for tfhe-ntt holds only while fhe-math's `tfhe-ntt` features stay off.
#[test]
fn tfhe_ntt_is_linked_but_never_enabled() {
    let metadata = cargo_metadata(Path::new(env!("CARGO_MANIFEST_DIR")));
    let nodes = metadata["resolve"]["nodes"].as_array().unwrap();
    let fhe_math: Vec<_> = nodes
        .iter()
        .filter(|n| n["id"].as_str().unwrap_or("").contains("fhe-math@"))
        .collect();
    assert!(!fhe_math.is_empty(), "fhe-math is in the graph");
    for n in fhe_math {
        let features = n["features"].as_array().unwrap();
        assert!(
            !features
                .iter()
                .any(|f| f.as_str().unwrap_or("").starts_with("tfhe-ntt")),
            "fhe-math is built with {features:?}: Zama's NTT (no commercial patent grant) in use"
        );
    }
}

/// A package declaring GPL, run through the same `cargo metadata` check, is reported.
#[test]
fn a_planted_gpl_package_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"planted\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
         license = \"GPL-3.0-only\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
    let bad = violations(&cargo_metadata(dir.path()));
    assert_eq!(
        bad,
        vec!["planted 0.1.0: \"GPL-3.0-only\" is not on the list".to_string()]
    );
}

#[test]
fn the_expression_checker_reads_spdx() {
    let ok = |e: &str| acceptable("any", e).unwrap();
    assert!(ok("MIT OR Apache-2.0"));
    assert!(ok("MIT/Apache-2.0"));
    assert!(ok("(MIT OR Apache-2.0) AND BSD-3-Clause"));
    assert!(ok("MIT OR Apache-2.0 OR LGPL-2.1-or-later"));
    assert!(ok("Apache-2.0 WITH LLVM-exception"));
    assert!(ok("ISC AND (Apache-2.0 OR ISC)"));
    assert!(!ok("GPL-3.0"));
    assert!(!ok("AGPL-3.0-only"));
    assert!(!ok("LGPL-2.1-or-later"));
    assert!(!ok("MIT AND GPL-2.0-or-later"));
    assert!(!ok("(MIT OR Apache-2.0) AND Unicode-3.0"));
    assert!(!ok("GPL-2.0 WITH Classpath-exception-2.0"));
    assert!(!ok("MIT WITH Classpath-exception-2.0"));
    assert!(!ok("LLVM-exception"));
    assert!(!ok("MPL-2.0"));
    assert!(!ok("BSD-3-Clause-Clear"));
    // An exception applies to its packages only.
    assert!(acceptable("unicode-ident", "(MIT OR Apache-2.0) AND Unicode-3.0").unwrap());
    assert!(!acceptable("unicode-ident", "GPL-3.0").unwrap());
    for broken in ["MIT OR", "(MIT", "AND MIT", "MIT Apache-2.0", ""] {
        assert!(acceptable("any", broken).is_err(), "{broken:?}");
    }
}
