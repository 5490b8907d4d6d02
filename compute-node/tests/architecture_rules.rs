//! Rules of the architecture: the key boundary on the dependency graph (`cargo metadata`), and
//! rules the type system alone does not enforce, checked on the source.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The packages reachable from `root` in `cargo metadata`'s resolve graph, over every kind of
/// dependency (normal, build and dev), so not even a test of the server may link the client.
fn reachable_packages(metadata: &serde_json::Value, root: &str) -> BTreeSet<String> {
    reachable(metadata, root, true)
}

/// The packages `root` builds with: normal and build dependencies, transitively, no
/// dev-dependency (not the root's: its binary and library do not link them; not a member's:
/// cargo builds those for that member's own tests only).
fn built_with(metadata: &serde_json::Value, root: &str) -> BTreeSet<String> {
    reachable(metadata, root, false)
}

/// Whether a resolve edge is only a dev-dependency.
fn dev_only(dep: &serde_json::Value) -> bool {
    dep["dep_kinds"]
        .as_array()
        .is_some_and(|kinds| kinds.iter().all(|k| k["kind"] == "dev"))
}

fn reachable(metadata: &serde_json::Value, root: &str, dev: bool) -> BTreeSet<String> {
    let name_of: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let edges: BTreeMap<&str, Vec<(&str, bool)>> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
        .iter()
        .map(|n| {
            let deps = n["deps"].as_array().unwrap();
            let ids = deps
                .iter()
                .map(|d| (d["pkg"].as_str().unwrap(), dev_only(d)))
                .collect();
            (n["id"].as_str().unwrap(), ids)
        })
        .collect();
    let start = *name_of
        .iter()
        .find(|(_, name)| **name == root)
        .unwrap_or_else(|| panic!("package {root} is in the workspace"))
        .0;
    let (mut seen, mut todo) = (BTreeSet::new(), vec![start]);
    while let Some(id) = todo.pop() {
        if seen.insert(id) {
            let follow = |&&(_, dev_edge): &&(&str, bool)| dev || !dev_edge;
            todo.extend(
                edges
                    .get(id)
                    .into_iter()
                    .flatten()
                    .filter(follow)
                    .map(|e| e.0),
            );
        }
    }
    seen.into_iter().map(|id| name_of[id].to_string()).collect()
}

fn cargo_metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(workspace())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// The server cannot hold a secret key: the crate that defines it (`more-secret-key`) is not in the
/// server's dependency graph, so no server code can name `SecretKey`, whatever its text says.
#[test]
fn the_server_crate_cannot_reach_the_client_crate() {
    let metadata = cargo_metadata();
    let server = reachable_packages(&metadata, "more-server");
    assert!(server.contains("more-core"), "the graph walk follows edges");
    assert!(
        !server.contains("more-secret-key"),
        "more-server reaches more-secret-key through its dependencies"
    );
    // The same walk does find the client where it belongs, so the check can fail.
    assert!(reachable_packages(&metadata, "more-node").contains("more-secret-key"));
    assert!(reachable_packages(&metadata, "more-wasm").contains("more-secret-key"));
}

/// Secure mode (issue #30): the node's service reaches the public half of BFV (`more-secure`:
/// parameters, models, wire format, evaluator) and never the client crate that holds the BFV
/// secret key (`more_secret_key::secure::BfvSecretKey`), over any kind of dependency; `more-secure`
/// itself never reaches the client either. `more-distributed` builds without the client (its
/// tests encrypt data with it: a dev-dependency). `more-node`, the command line, is the one
/// server-side crate that links the client, by design: its lab experiments and attack suite
/// play the data owner and the node in one process (the secure experiment encrypts with
/// `BfvSecretKey`); `more-node serve` runs `more-server`, whose code cannot name a secret key.
#[test]
fn secure_mode_keeps_the_secret_key_out_of_the_server() {
    let metadata = cargo_metadata();
    let server = reachable_packages(&metadata, "more-server");
    assert!(server.contains("more-secure"), "more-server evaluates BFV");
    assert!(
        !server.contains("more-secret-key"),
        "more-server reaches more-secret-key"
    );
    let secure = reachable_packages(&metadata, "more-secure");
    assert!(secure.contains("fhe"), "the graph walk follows edges");
    assert!(
        !secure.contains("more-secret-key"),
        "more-secure reaches more-secret-key"
    );
    assert!(!built_with(&metadata, "more-distributed").contains("more-secret-key"));
    // The exemption is real (the walks can find the client) and the only one: more-node.
    assert!(reachable_packages(&metadata, "more-distributed").contains("more-secret-key"));
    assert!(built_with(&metadata, "more-node").contains("more-secret-key"));
    assert!(reachable_packages(&metadata, "more-secret-key").contains("more-secure"));
}

/// The id of package `name` in `cargo metadata`'s output.
fn id_of(metadata: &serde_json::Value, name: &str) -> String {
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .map(|p| p["id"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("package {name} is in the metadata"))
}

/// Adds an edge `from -> to` of `kind` (`"dev"`, or `null` for a normal dependency) to the resolve
/// graph, as a line in `from`'s manifest would.
fn plant(metadata: &mut serde_json::Value, from: &str, to: &str, kind: serde_json::Value) {
    let (from, to) = (id_of(metadata, from), id_of(metadata, to));
    let node = metadata["resolve"]["nodes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|n| n["id"] == from.as_str())
        .unwrap();
    node["deps"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "name": "planted", "pkg": to, "dep_kinds": [{"kind": kind, "target": null}]
        }));
}

/// The walk catches a planted edge: the metadata with a dev-dependency of `more-server` on
/// `more-secret-key` added (as `[dev-dependencies] more-secret-key = ...` would) breaks the rule.
#[test]
fn a_planted_client_dependency_of_the_server_is_caught() {
    let mut metadata = cargo_metadata();
    plant(
        &mut metadata,
        "more-server",
        "more-secret-key",
        serde_json::json!("dev"),
    );
    assert!(reachable_packages(&metadata, "more-server").contains("more-secret-key"));
    // A dev-only edge is outside what the server builds with, inside what its tests link.
    assert!(!built_with(&metadata, "more-server").contains("more-secret-key"));
}

/// The node's layers below HTTP: the store (`more-store`), the job runner (`more-runner`) and
/// the MPI rank program (`more-distributed`).
const BELOW_HTTP: [&str; 3] = ["more-store", "more-runner", "more-distributed"];

/// Every crate of the node: the layers below HTTP and the HTTP service.
const NODE_CRATES: [&str; 4] = [
    "more-store",
    "more-runner",
    "more-distributed",
    "more-server",
];

/// The breaches of the node's layering in `metadata`: a layer below HTTP that reaches the web
/// framework or the HTTP crate (over any kind of dependency), a node crate that reaches the key
/// crate (the rank program: in what it builds with; its tests encrypt with the key crate).
fn layer_breaches(metadata: &serde_json::Value) -> Vec<String> {
    let mut breaches = Vec::new();
    for layer in BELOW_HTTP {
        let reached = reachable_packages(metadata, layer);
        for above in ["actix-web", "actix-http", "more-server"] {
            if reached.contains(above) {
                breaches.push(format!("{layer} reaches {above}"));
            }
        }
    }
    for node in NODE_CRATES {
        let reached = match node {
            "more-distributed" => built_with(metadata, node),
            _ => reachable_packages(metadata, node),
        };
        if reached.contains("more-secret-key") {
            breaches.push(format!("{node} reaches more-secret-key"));
        }
    }
    breaches
}

/// The node in three layers (issue #28): the store, the runner over it and the MPI rank program
/// do not reach the web framework nor the HTTP crate (`cargo tree -p more-distributed -e normal`
/// has no actix), and no crate of the node reaches the key crate. The walks do find what they
/// look for where it is (the server links actix, the runner the store, the rank program the
/// store), so the rule is not vacuous.
#[test]
fn the_layers_below_http_do_not_reach_the_web_framework_nor_the_key() {
    let metadata = cargo_metadata();
    assert_eq!(layer_breaches(&metadata), Vec::<String>::new());
    assert!(built_with(&metadata, "more-server").contains("actix-web"));
    assert!(built_with(&metadata, "more-server").contains("more-runner"));
    assert!(built_with(&metadata, "more-runner").contains("more-store"));
    assert!(built_with(&metadata, "more-distributed").contains("more-store"));
    assert!(built_with(&metadata, "more-store").contains("sqlx"));
}

/// A planted dependency breaks a layer and is caught: the store on actix-web (as
/// `actix-web = "4"` in its manifest would), the rank program on the HTTP crate, the runner on
/// the key crate (a dev-dependency: its tests may not link it either).
#[test]
fn a_planted_dependency_that_breaks_a_layer_is_caught() {
    let cases = [
        (
            "more-store",
            "actix-web",
            serde_json::Value::Null,
            "more-store reaches actix-web",
        ),
        (
            "more-distributed",
            "more-server",
            serde_json::Value::Null,
            "more-distributed reaches more-server",
        ),
        (
            "more-runner",
            "more-secret-key",
            serde_json::json!("dev"),
            "more-runner reaches more-secret-key",
        ),
    ];
    let clean = cargo_metadata();
    for (from, to, kind, breach) in cases {
        let mut metadata = clean.clone();
        plant(&mut metadata, from, to, kind);
        let breaches = layer_breaches(&metadata);
        assert!(
            breaches.iter().any(|b| b == breach),
            "{from} -> {to} planted, not caught: {breaches:?}"
        );
    }
}

/// The public crate has no secret-key type: `more-core` does not reach `more-secret-key` either.
#[test]
fn the_core_crate_cannot_reach_the_client_crate() {
    let core = reachable_packages(&cargo_metadata(), "more-core");
    assert!(!core.contains("more-secret-key"), "{core:?}");
}

/// Only the attack suite computes eigenvalues or eigenvectors of ciphertexts.
#[test]
fn only_the_attack_suite_computes_eigen_decompositions() {
    let mut checked = 0;
    let sources = [
        "shared/src",
        "shared/secret-key/src",
        "wasm-client/src",
        "compute-node/src",
        "compute-node/crates/server/src",
        "compute-node/crates/store/src",
        "compute-node/crates/runner/src",
        "compute-node/crates/distributed/src",
    ];
    for file in sources
        .iter()
        .flat_map(|dir| rust_files(&workspace().join(dir)))
    {
        let code: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for forbidden in [
            "eigen2",
            "Eigen2",
            "fn eigen",
            "eigenvalues(",
            "eigenvectors(",
        ] {
            assert!(
                !code.contains(forbidden),
                "{} computes eigen-decompositions ({forbidden})",
                file.display()
            );
        }
        checked += 1;
    }
    assert!(checked > 20, "scanned the sources");
}
