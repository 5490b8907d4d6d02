//! New cases for a trained model ("score new patients"), each with an id for the predictions file:
//! - a table model: a second table with the training table's feature columns (in any order; the
//!   target column may be absent) encoded exactly as the training table was: the same columns
//!   kept, the same categorical levels one-hot encoded, missing or unreadable values replaced by
//!   the training part's mean, and the training part's standardisation ([`encode_new_table`]);
//! - an image model: image files (DICOM, PNG, JPEG) without labels, every frame a case, decoded as
//!   a folder's images are for training ([`encode_new_images`]).

use super::columns::{column_profile, feature_kind, is_missing, number, FeatureKind};
use super::csv::{parse_csv, Csv};
use super::image::decode_image;
use super::part::plural;
use super::table::read_table;
use super::text::decode_text;
use super::{err, DataError, Task};

/// New cases ready for the model: features standardised as the training table's.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCases {
    /// Row-major features, `rows × feature_names.len()`.
    pub x: Vec<f32>,
    /// The feature names (the training table's: `column` or `column=level`).
    pub feature_names: Vec<String>,
    /// One id per row: the id column's value, or `row N` (N the line in the file, the header
    /// being line 1).
    pub ids: Vec<String>,
    /// The column the ids come from (`None`: line numbers).
    pub id_column: Option<String>,
    /// What was done (values replaced by the training mean, unknown levels).
    pub notes: Vec<String>,
}

impl NewCases {
    /// Number of cases.
    pub fn rows(&self) -> usize {
        self.ids.len()
    }
}

/// A feature column of the training table: its name and what it became.
struct Column {
    name: String,
    levels: Option<Vec<String>>,
}

/// The training table's feature columns, by the rule [`read_table`] applied to it.
fn training_columns(csv: &Csv, targets: &[String]) -> Vec<Column> {
    let profile = column_profile(csv);
    profile
        .iter()
        .enumerate()
        .filter(|(_, p)| !targets.contains(&p.name))
        .filter_map(|(j, p)| match feature_kind(p, &csv.rows, j) {
            FeatureKind::Numeric => Some(Column {
                name: p.name.clone(),
                levels: None,
            }),
            FeatureKind::Categorical(l) => Some(Column {
                name: p.name.clone(),
                levels: Some(l),
            }),
            FeatureKind::LeftOut(_) => None,
        })
        .collect()
}

/// The first column of `csv` outside `used` whose cells are all present and distinct.
fn id_column(csv: &Csv, used: &[usize]) -> Option<usize> {
    (0..csv.header.len())
        .filter(|j| !used.contains(j))
        .find(|&j| {
            let mut seen = std::collections::HashSet::new();
            csv.rows
                .iter()
                .all(|r| !is_missing(&r[j]) && seen.insert(r[j].trim()))
        })
}

/// Encodes one cell of `col` into `out` (NaN where missing); whether it was present but not
/// readable (text in a numeric column, a level the training table did not have).
fn encode_cell(v: &str, col: &Column, out: &mut Vec<f32>) -> bool {
    let v = v.trim();
    let width = col.levels.as_ref().map_or(1, Vec::len);
    let value = match &col.levels {
        _ if is_missing(v) => None,
        Some(levels) => levels
            .iter()
            .any(|l| l == v)
            .then(|| levels.iter().map(|l| f32::from(u8::from(l == v))).collect()),
        None => number(v).map(|n| vec![n as f32]),
    };
    match value {
        Some(cells) => {
            out.extend(cells);
            false
        }
        None => {
            out.extend(std::iter::repeat_n(f32::NAN, width));
            !is_missing(v)
        }
    }
}

/// The new table `new_bytes` (file `new_name`) encoded as the training table `train_bytes`
/// (file `train_name`, read with `targets` and `task` as for training) was (module
/// documentation).
///
/// # Errors
/// The training table's errors ([`read_table`]), a new table that cannot be read, a feature
/// column missing from it, or no rows.
pub fn encode_new_table(
    train_bytes: &[u8],
    train_name: &str,
    targets: &[String],
    task: Option<Task>,
    new_bytes: &[u8],
    new_name: &str,
) -> Result<NewCases, DataError> {
    let trained = read_table(train_bytes, train_name, targets, task)?;
    let Some(scale) = trained.feature_scale else {
        return err("The training table has no feature standardisation.");
    };
    let columns = training_columns(
        &parse_csv(&decode_text(train_bytes, train_name)?.text)?,
        targets,
    );
    let new_text = decode_text(new_bytes, new_name)?;
    let new = parse_csv(&new_text.text)?;
    if new.rows.is_empty() {
        return err(format!("\"{new_name}\" has no data rows."));
    }
    let mut at = Vec::new();
    for c in &columns {
        match new.header.iter().position(|h| h == &c.name) {
            Some(j) => at.push(j),
            None => {
                return err(format!(
                    "Column \"{}\" (used by the model) is not in \"{new_name}\". Its columns: {}.",
                    c.name,
                    new.header.join(", ")
                ))
            }
        }
    }
    let mut x = Vec::new();
    let (mut replaced, mut unreadable) = (0usize, 0usize);
    for r in &new.rows {
        for (c, &j) in columns.iter().zip(&at) {
            unreadable += usize::from(encode_cell(&r[j], c, &mut x));
        }
    }
    for (i, v) in x.iter_mut().enumerate() {
        if v.is_nan() {
            *v = scale.mean[i % scale.mean.len()] as f32;
            replaced += 1;
        }
    }
    scale.apply(&mut x);
    let id = id_column(
        &new,
        &at.iter()
            .copied()
            .chain(
                targets
                    .iter()
                    .filter_map(|t| new.header.iter().position(|h| h == t)),
            )
            .collect::<Vec<_>>(),
    );
    let mut notes = new_text.notes;
    if replaced > 0 {
        let why = match unreadable {
            0 => "missing".to_string(),
            n => format!(
                "missing, or text or a level the training table did not have (in {n} cells)"
            ),
        };
        notes.push(format!(
            "{} replaced by the training mean: {why}.",
            plural(replaced, "feature value")
        ));
    }
    Ok(NewCases {
        feature_names: trained.split.train.feature_names.unwrap_or_default(),
        ids: (0..new.rows.len())
            .map(|i| {
                id.map_or_else(
                    || format!("row {}", i + 2),
                    |j| new.rows[i][j].trim().to_string(),
                )
            })
            .collect(),
        id_column: id.map(|j| new.header[j].clone()),
        x,
        notes,
    })
}

/// New image cases: each of `files` (name, bytes) decoded as training images are ([`decode_image`]:
/// DICOM or PNG/JPEG, centre crop, `size × size`), every frame a case with the id `name#frame`
/// (frames counted from 1). A file that cannot be decoded is skipped with a note.
///
/// # Errors
/// No file could be decoded.
pub fn encode_new_images(files: &[(String, Vec<u8>)], size: usize) -> Result<NewCases, DataError> {
    let (mut x, mut ids, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for (name, bytes) in files {
        match decode_image(name, bytes, size) {
            Ok(frames) => {
                for (k, f) in frames.into_iter().enumerate() {
                    x.extend(f);
                    ids.push(format!("{name}#{}", k + 1));
                }
            }
            Err(e) => skipped.push(format!("{name} ({e})")),
        }
    }
    if ids.is_empty() {
        return err(format!("No image could be read: {}.", skipped.join("; ")));
    }
    let notes = if skipped.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "{} skipped: {}.",
            plural(skipped.len(), "file"),
            skipped.join("; ")
        )]
    };
    Ok(NewCases {
        x,
        feature_names: Vec::new(),
        ids,
        id_column: None,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train_csv() -> String {
        let mut s = String::from("id,age,sex,outcome\n");
        for i in 0..20 {
            let sex = if i % 3 == 0 { "F" } else { "M" };
            let outcome = if i % 2 == 0 { "sick" } else { "healthy" };
            s += &format!("p{i},{},{sex},{outcome}\n", 40 + i);
        }
        s
    }

    #[test]
    fn new_rows_are_encoded_as_the_training_rows() {
        let train = train_csv();
        let targets = vec!["outcome".to_string()];
        // the training rows themselves, columns reordered and the target dropped
        let mut again = String::from("sex,id,age\n");
        for line in train.lines().skip(1) {
            let c: Vec<&str> = line.split(',').collect();
            again += &format!("{},{},{}\n", c[2], c[0], c[1]);
        }
        let cases = encode_new_table(
            train.as_bytes(),
            "t.csv",
            &targets,
            None,
            again.as_bytes(),
            "n.csv",
        )
        .unwrap();
        assert_eq!(cases.id_column.as_deref(), Some("id"));
        assert_eq!(cases.ids[3], "p3");
        let ds = read_table(train.as_bytes(), "t.csv", &targets, None).unwrap();
        let width = ds.split.train.width();
        assert_eq!(
            cases.feature_names,
            ds.split.train.feature_names.clone().unwrap()
        );
        // each training row, found by its id in the training part's sample names, encodes equally
        let names = ds.split.train.sample_names.clone().unwrap();
        for (k, name) in names.iter().enumerate() {
            let line: usize = name.trim_start_matches("row ").parse().unwrap();
            let mine = &cases.x[(line - 2) * width..(line - 1) * width];
            assert_eq!(
                mine,
                &ds.split.train.x[k * width..(k + 1) * width],
                "{name}"
            );
        }
    }

    #[test]
    fn missing_and_unknown_values_take_the_training_mean() {
        let train = train_csv();
        let targets = vec!["outcome".to_string()];
        let new = "age,sex\n,F\n50,X\n";
        let cases = encode_new_table(
            train.as_bytes(),
            "t.csv",
            &targets,
            None,
            new.as_bytes(),
            "n.csv",
        )
        .unwrap();
        assert_eq!(cases.ids, ["row 2", "row 3"]);
        assert!(
            cases.x[0].abs() < 1e-5,
            "missing age: the training mean, 0 once standardised"
        );
        assert!(
            cases.x[4].abs() < 1e-5 && cases.x[5].abs() < 1e-5,
            "unknown level X"
        );
        assert!(
            cases
                .notes
                .iter()
                .any(|n| n.contains("3 feature values replaced")),
            "{:?}",
            cases.notes
        );
        let e = encode_new_table(
            train.as_bytes(),
            "t.csv",
            &targets,
            None,
            b"age\n1\n",
            "n.csv",
        )
        .unwrap_err();
        assert!(e.0.contains("\"sex\""), "{e}");
    }

    #[test]
    fn new_images_are_decoded_as_training_images() {
        let png = |v: u8| {
            let img = image::GrayImage::from_pixel(6, 6, image::Luma([v]));
            let mut out = Vec::new();
            image::DynamicImage::ImageLuma8(img)
                .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
                .unwrap();
            out
        };
        let files = vec![
            ("a.png".to_string(), png(255)),
            ("broken.png".to_string(), b"not an image".to_vec()),
            ("b.png".to_string(), png(0)),
        ];
        let cases = encode_new_images(&files, 4).unwrap();
        assert_eq!(cases.ids, ["a.png#1", "b.png#1"]);
        assert_eq!(cases.x.len(), 2 * 16);
        assert_eq!(
            &cases.x[..16],
            &decode_image("a.png", &files[0].1, 4).unwrap()[0][..]
        );
        assert!(cases.notes[0].contains("broken.png"), "{:?}", cases.notes);
        assert!(encode_new_images(&files[1..2], 4).is_err());
    }
}
