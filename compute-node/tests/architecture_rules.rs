//! Rules of the architecture that the type system alone does not enforce, checked on the source.

use std::path::{Path, PathBuf};

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

/// The server never holds a secret key: no server module names the key type or the keys module.
#[test]
fn server_modules_do_not_import_the_secret_key() {
    let files = rust_files(&workspace().join("compute-node/src/server"));
    assert!(!files.is_empty(), "server modules exist");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for forbidden in ["SecretKey", "keys::", "more_core::keys"] {
            assert!(
                !text.contains(forbidden),
                "{} mentions {forbidden}",
                file.display()
            );
        }
    }
}

/// Only the attack suite computes eigenvalues or eigenvectors of ciphertexts.
#[test]
fn only_the_attack_suite_computes_eigen_decompositions() {
    let shared = workspace().join("shared/src");
    let attack_dir = shared.join("attacks");
    let mut checked = 0;
    for file in rust_files(&shared)
        .into_iter()
        .chain(rust_files(&workspace().join("compute-node/src")))
    {
        if file.starts_with(&attack_dir) {
            continue;
        }
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
