//! The conformance fixtures read by the library itself: each fixture of
//! `tests/conformance/fixtures.json` must give the description in `tests/conformance/expected/`.
//! The other clients (page, CLI, Python, lab) are held to the same files by
//! `web/tests/conformance.test.mjs`. `MORE_CONFORMANCE=write` rewrites the expected files (after
//! a deliberate change of a data rule; review the diff).

use std::path::{Path, PathBuf};

use more_data_owner::data::{self, Split, Task};
use more_data_owner::describe::{describe, Description};
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads one fixture with the library's readers (over bytes for IDX, to keep its notes).
fn read(dir: &Path, f: &Value) -> (Split, Vec<String>) {
    let path = |key: &str| dir.join(f[key].as_str().expect(key));
    let set = if f.get("csv").is_some() {
        let task = match f["task"].as_str() {
            Some("classification") => Some(Task::Classification),
            Some("regression") => Some(Task::Regression),
            _ => None,
        };
        data::load_table(&path("csv"), &strings(&f["target"]), task).expect("table")
    } else if f.get("idx").is_some() {
        let files: Vec<(String, Vec<u8>)> = strings(&f["idx"])
            .iter()
            .map(|p| {
                (
                    p.rsplit('/').next().unwrap().to_string(),
                    std::fs::read(dir.join(p)).unwrap(),
                )
            })
            .collect();
        let named: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
        let max = f["max_samples"].as_u64().unwrap_or(2000) as usize;
        data::read_idx_files(&named, max).expect("idx")
    } else {
        let size = f["size"].as_u64().unwrap_or(28) as usize;
        data::load_image_folder(&path("images"), &path("labels"), size).expect("image folder")
    };
    (set.split, set.notes)
}

#[test]
fn every_fixture_gives_its_expected_description() {
    let dir = fixtures_dir();
    let list: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fixtures.json")).unwrap()).unwrap();
    let write = std::env::var("MORE_CONFORMANCE").as_deref() == Ok("write");
    let mut wrong = Vec::new();
    for f in &list {
        let name = f["name"].as_str().unwrap();
        let (split, notes) = read(&dir, f);
        let got = describe(&split, &notes);
        let file = dir.join("expected").join(format!("{name}.json"));
        if write {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, got.to_json() + "\n").unwrap();
            continue;
        }
        let want: Description = serde_json::from_str(
            &std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
        )
        .unwrap();
        if got != want {
            wrong.push(format!(
                "{name}:\n got {}\nwant {}",
                got.to_json(),
                want.to_json()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
