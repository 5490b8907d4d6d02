//! Readers for the data a user uploads, with the web page's rules (`web/formats.js`), so that a
//! file gives the same training and test split, the same standardisation and the same one-hot
//! targets from the command line, from Python and from the page.
//!
//! Every problem is a [`DataError`] with a message for the user; nothing is sent before the data
//! has been read completely.

use std::path::Path;

/// A problem with the user's data file (exit code 3 of `more-client`).
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{0}")]
pub struct DataError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, DataError> {
    Err(DataError(msg.into()))
}

/// What the data set is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// One target column whose distinct values are the classes (targets one-hot).
    Classification,
    /// Numeric target columns, standardised with the training split's moments.
    Regression,
}

impl Task {
    /// The name the REST API uses (`"classification"` / `"regression"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        }
    }
}

/// One part (training or test) of a labelled data set, ready to encrypt.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    /// A name for the data set (the file name).
    pub name: String,
    /// Classification or regression.
    pub task: Task,
    /// Shape of one sample (`[features]` for tables, `[1, h, w]` for images).
    pub feature_shape: Vec<usize>,
    /// Row-major features, `rows × prod(feature_shape)`.
    pub x: Vec<f32>,
    /// Row-major targets, `rows × target_dim` (one-hot for classification).
    pub y: Vec<f32>,
    /// Target width (number of classes, or of target columns).
    pub target_dim: usize,
    /// Class index of each row (classification only).
    pub labels: Option<Vec<usize>>,
    /// Class names, sorted (classification only).
    pub class_names: Option<Vec<String>>,
    /// Feature column names (tables only).
    pub feature_names: Option<Vec<String>>,
    /// Names of the target columns (tables only).
    pub target_names: Option<Vec<String>>,
}

impl Part {
    /// Number of samples.
    pub fn rows(&self) -> usize {
        let width: usize = self.feature_shape.iter().product();
        self.x.len().checked_div(width).unwrap_or(0)
    }

    /// Values per sample (`prod(feature_shape)`).
    pub fn width(&self) -> usize {
        self.feature_shape.iter().product()
    }
}

/// A training part and a test part.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// Uploaded encrypted and trained on.
    pub train: Part,
    /// Kept by the data owner for prediction.
    pub test: Part,
}

/// The page's deterministic shuffle (`permutation` in `web/formats.js`: mulberry32, then
/// Fisher-Yates from the end), so splits agree with the page bit for bit.
pub fn permutation(n: usize, seed: u32) -> Vec<usize> {
    let mut s = seed;
    let mut rand = move || {
        s = s.wrapping_add(0x6d2b_79f5);
        let mut t = s;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        f64::from(t ^ (t >> 14)) / 4_294_967_296.0
    };
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rand() * (i + 1) as f64).floor() as usize;
        p.swap(i, j);
    }
    p
}

fn take_rows(buf: &[f32], width: usize, idx: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.len() * width);
    for &r in idx {
        out.extend_from_slice(&buf[r * width..(r + 1) * width]);
    }
    out
}

/// Splits into training and test parts: the last 20 % (at least one row) of the page's seeded
/// shuffle (seed 42) are the test part.
pub fn split(part: Part) -> Split {
    let rows = part.rows();
    let width = part.width();
    let order = permutation(rows, 42);
    let n_test = ((rows as f64 * 0.2).round() as usize).max(1).min(rows);
    let (train_idx, test_idx) = order.split_at(rows - n_test);
    let make = |idx: &[usize]| Part {
        x: take_rows(&part.x, width, idx),
        y: take_rows(&part.y, part.target_dim, idx),
        labels: part
            .labels
            .as_ref()
            .map(|l| idx.iter().map(|&i| l[i]).collect()),
        ..part.clone()
    };
    Split {
        train: make(train_idx),
        test: make(test_idx),
    }
}

/// One-hot rows of `classes` columns.
pub fn one_hot(labels: &[usize], classes: usize) -> Vec<f32> {
    let mut y = vec![0.0; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        y[i * classes + l] = 1.0;
    }
    y
}

// ------------------------------------------------------------------------------------------ CSV

/// A parsed CSV file: the trimmed header and the data rows (untrimmed fields).
#[derive(Clone, Debug, PartialEq)]
pub struct Csv {
    /// Column names.
    pub header: Vec<String>,
    /// Data rows, each with `header.len()` fields.
    pub rows: Vec<Vec<String>>,
}

/// The page's small RFC 4180 reader (`parseCsv`): quoted fields, `,` or `;` (whichever the first
/// line has more of), blank lines skipped.
///
/// # Errors
/// No data row, or a row whose field count differs from the header's.
pub fn parse_csv(text: &str) -> Result<Csv, DataError> {
    let first = text.split('\n').next().unwrap_or("");
    let delim = if first.matches(';').count() > first.matches(',').count() {
        ';'
    } else {
        ','
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    let (mut row, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let chars: Vec<char> = text.chars().collect();
    let keep = |row: &Vec<String>| row.iter().any(|v| !v.trim().is_empty());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if quoted {
            if c == '"' && chars.get(i + 1) == Some(&'"') {
                field.push('"');
                i += 1;
            } else if c == '"' {
                quoted = false;
            } else {
                field.push(c);
            }
        } else if c == '"' {
            quoted = true;
        } else if c == delim {
            row.push(std::mem::take(&mut field));
        } else if c == '\n' || c == '\r' {
            if c == '\r' && chars.get(i + 1) == Some(&'\n') {
                i += 1;
            }
            row.push(std::mem::take(&mut field));
            if keep(&row) {
                rows.push(std::mem::take(&mut row));
            }
            row.clear();
        } else {
            field.push(c);
        }
        i += 1;
    }
    row.push(field);
    if keep(&row) {
        rows.push(row);
    }
    if rows.len() < 2 {
        return err("The CSV file needs a header row and at least one data row.");
    }
    let header: Vec<String> = rows[0].iter().map(|h| h.trim().to_string()).collect();
    for (i, r) in rows.iter().enumerate().skip(1) {
        if r.len() != header.len() {
            return err(format!(
                "CSV row {} has {} fields, the header has {}.",
                i + 1,
                r.len(),
                header.len()
            ));
        }
    }
    rows.remove(0);
    Ok(Csv { header, rows })
}

/// A number as the page reads it (`Number(v)` finite, not blank).
pub fn number(v: &str) -> Option<f64> {
    let t = v.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Per-column mean and population standard deviation (0 becomes 1), as the page computes them.
fn column_stats(x: &[f32], rows: usize, width: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut mean, mut std) = (vec![0.0f64; width], vec![0.0f64; width]);
    for r in 0..rows {
        for j in 0..width {
            mean[j] += f64::from(x[r * width + j]) / rows as f64;
        }
    }
    for r in 0..rows {
        for j in 0..width {
            std[j] += (f64::from(x[r * width + j]) - mean[j]).powi(2) / rows as f64;
        }
    }
    for s in &mut std {
        *s = s.sqrt();
        if *s == 0.0 || s.is_nan() {
            *s = 1.0;
        }
    }
    (mean, std)
}

fn standardize(buf: &mut [f32], width: usize, mean: &[f64], std: &[f64]) {
    for row in buf.chunks_mut(width) {
        for (j, v) in row.iter_mut().enumerate() {
            *v = ((f64::from(*v) - mean[j]) / std[j]) as f32;
        }
    }
}

/// A tabular data set from CSV text (`tableFromCsv` of the page): features are every numeric
/// column besides the targets, standardised with the training split's moments; classification
/// takes one target column (its sorted distinct values are the classes, 2 to 100), regression
/// numeric target columns (standardised too).
///
/// # Errors
/// Missing or unsuitable target columns, no numeric feature column, the CSV errors of
/// [`parse_csv`].
pub fn table_from_csv(
    text: &str,
    targets: &[String],
    task: Task,
    name: &str,
) -> Result<Split, DataError> {
    let Csv { header, rows } = parse_csv(text)?;
    if targets.is_empty() {
        return err("Choose at least one target column.");
    }
    let missing: Vec<String> = targets
        .iter()
        .filter(|t| !header.contains(t))
        .map(|m| format!("\"{m}\""))
        .collect();
    if !missing.is_empty() {
        return err(format!(
            "Target column{} {} not found. Columns: {}.",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            header.join(", ")
        ));
    }
    if task == Task::Classification && targets.len() != 1 {
        return err("Classification needs exactly one target column.");
    }
    let t_idx: Vec<usize> = targets
        .iter()
        .map(|t| header.iter().position(|h| h == t).unwrap_or(0))
        .collect();
    let f_idx: Vec<usize> = (0..header.len())
        .filter(|j| !t_idx.contains(j) && rows.iter().all(|r| number(&r[*j]).is_some()))
        .collect();
    if f_idx.is_empty() {
        return err("No numeric feature columns are left besides the target.");
    }
    let n = rows.len();
    let mut x = Vec::with_capacity(n * f_idx.len());
    for r in &rows {
        for &j in &f_idx {
            x.push(number(&r[j]).unwrap_or(0.0) as f32);
        }
    }
    let (y, target_dim, labels, class_names) = match task {
        Task::Classification => {
            let col = t_idx[0];
            let mut names: Vec<String> = rows.iter().map(|r| r[col].trim().to_string()).collect();
            names.sort();
            names.dedup();
            if names.len() < 2 {
                return err(format!(
                    "Target \"{}\" has only one distinct value.",
                    targets[0]
                ));
            }
            if names.len() > 100 {
                return err(format!(
                    "Target \"{}\" has {} distinct values: it looks continuous; choose regression.",
                    targets[0],
                    names.len()
                ));
            }
            let labels: Vec<usize> = rows
                .iter()
                .map(|r| names.iter().position(|c| c == r[col].trim()).unwrap_or(0))
                .collect();
            (
                one_hot(&labels, names.len()),
                names.len(),
                Some(labels),
                Some(names),
            )
        }
        Task::Regression => {
            let mut y = Vec::with_capacity(n * t_idx.len());
            for (i, r) in rows.iter().enumerate() {
                for &j in &t_idx {
                    match number(&r[j]) {
                        Some(v) => y.push(v as f32),
                        None => {
                            return err(format!(
                                "Target \"{}\" is not numeric in row {} (\"{}\").",
                                header[j],
                                i + 2,
                                r[j]
                            ))
                        }
                    }
                }
            }
            (y, t_idx.len(), None, None)
        }
    };
    let width = f_idx.len();
    let mut parts = split(Part {
        name: name.to_string(),
        task,
        feature_shape: vec![width],
        x,
        y,
        target_dim,
        labels,
        class_names,
        feature_names: Some(f_idx.iter().map(|&j| header[j].clone()).collect()),
        target_names: Some(targets.to_vec()),
    });
    let (mean, std) = column_stats(&parts.train.x, parts.train.rows(), width);
    standardize(&mut parts.train.x, width, &mean, &std);
    standardize(&mut parts.test.x, width, &mean, &std);
    if task == Task::Regression {
        let (mean, std) = column_stats(&parts.train.y, parts.train.rows(), target_dim);
        standardize(&mut parts.train.y, target_dim, &mean, &std);
        standardize(&mut parts.test.y, target_dim, &mean, &std);
    }
    Ok(parts)
}

// ------------------------------------------------------------------------------------------ IDX

/// One IDX file (unsigned bytes): its dimensions and values.
#[derive(Clone, Debug, PartialEq)]
pub struct Idx {
    /// Dimensions from the header.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Parses one IDX file (gzip-compressed or not) as the page does (`parseIdx`).
///
/// # Errors
/// Bad magic number, not unsigned bytes, bad header, truncated data, damaged gzip.
pub fn parse_idx(bytes: &[u8], file_name: &str) -> Result<Idx, DataError> {
    let bytes = if bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out)
            .map_err(|e| DataError(format!("{file_name}: the gzip data is damaged ({e})")))?;
        out
    } else {
        bytes.to_vec()
    };
    if bytes.len() < 8 || bytes[0] != 0 || bytes[1] != 0 {
        return err(format!(
            "{file_name} is not an IDX file (bad magic number)."
        ));
    }
    if bytes[2] != 0x08 {
        return err(format!(
            "{file_name}: only unsigned-byte IDX files are supported."
        ));
    }
    let rank = bytes[3] as usize;
    if !(1..=4).contains(&rank) || bytes.len() < 4 + 4 * rank {
        return err(format!("{file_name}: bad IDX header."));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let expected = dims.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
    let have = bytes.len() - 4 - 4 * rank;
    if expected != Some(have) {
        return err(format!(
            "{file_name} is truncated or damaged: the header announces {} values, the file holds {have}.",
            expected.map_or_else(|| "too many".to_string(), |e| e.to_string())
        ));
    }
    Ok(Idx {
        dims,
        data: bytes[4 + 4 * rank..].to_vec(),
    })
}

/// IDX image and label files (`loadIdxFiles` of the page): names with `t10k` or `test` are the
/// test pair; at most `max_samples` training images (and `ceil(max_samples / 4)` test images)
/// are read; without a test pair the training pair is split 80/20. Pixels are scaled to `[0, 1]`,
/// features `[1, h, w]`, labels 0–9 one-hot over 10 classes.
///
/// # Errors
/// Unreadable files, the [`parse_idx`] errors, missing or mismatched image/label files, labels
/// above 9.
pub fn load_idx_files(files: &[&Path], max_samples: usize) -> Result<Split, DataError> {
    struct Parsed {
        name: String,
        is_test: bool,
        idx: Idx,
    }
    let mut parsed = Vec::new();
    for f in files {
        let name = f
            .file_name()
            .map_or_else(|| f.display().to_string(), |n| n.to_string_lossy().into());
        let bytes =
            std::fs::read(f).map_err(|e| DataError(format!("cannot read {}: {e}", f.display())))?;
        let lower = name.to_lowercase();
        parsed.push(Parsed {
            is_test: lower.contains("t10k") || lower.contains("test"),
            idx: parse_idx(&bytes, &name)?,
            name,
        });
    }
    let images: Vec<&Parsed> = parsed.iter().filter(|p| p.idx.dims.len() == 3).collect();
    let labels: Vec<&Parsed> = parsed.iter().filter(|p| p.idx.dims.len() == 1).collect();
    if images.is_empty() || labels.is_empty() {
        return err("Open IDX image files (…-images-idx3-ubyte) together with their label files (…-labels-idx1-ubyte).");
    }
    let pair = |is_test: bool| -> Result<Option<Part>, DataError> {
        let im = images.iter().find(|p| p.is_test == is_test);
        let lb = labels.iter().find(|p| p.is_test == is_test);
        let (im, lb) = match (im, lb) {
            (None, None) => return Ok(None),
            (Some(im), Some(lb)) => (im, lb),
            (im, _) => {
                return err(format!(
                    "Missing the {} {} file.",
                    if is_test { "test" } else { "training" },
                    if im.is_some() { "labels" } else { "images" }
                ))
            }
        };
        if im.idx.dims[0] != lb.idx.dims[0] {
            return err(format!(
                "{} has {} images but {} has {} labels.",
                im.name, im.idx.dims[0], lb.name, lb.idx.dims[0]
            ));
        }
        let (h, w) = (im.idx.dims[1], im.idx.dims[2]);
        let cap = if is_test {
            max_samples.div_ceil(4)
        } else {
            max_samples
        };
        let n = im.idx.dims[0].min(cap);
        let x: Vec<f32> = im.idx.data[..n * h * w]
            .iter()
            .map(|&v| (f64::from(v) / 255.0) as f32)
            .collect();
        let lab: Vec<usize> = lb.idx.data[..n].iter().map(|&l| l as usize).collect();
        if lab.iter().any(|&l| l > 9) {
            return err(format!("{}: labels must be 0–9.", lb.name));
        }
        Ok(Some(Part {
            name: im.name.clone(),
            task: Task::Classification,
            feature_shape: vec![1, h, w],
            x,
            y: one_hot(&lab, 10),
            target_dim: 10,
            labels: Some(lab),
            class_names: Some((0..10).map(|d| d.to_string()).collect()),
            feature_names: None,
            target_names: None,
        }))
    };
    let train = pair(false)?;
    let test = pair(true)?;
    match (train, test) {
        (Some(train), Some(test)) => Ok(Split { train, test }),
        (Some(train), None) => Ok(split(train)),
        (None, Some(test)) => Ok(split(test)),
        (None, None) => err("No IDX image/label pair found."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_matches_the_page() {
        // web/formats.js permutation(10, 42) and permutation(12, 7), computed with node.
        assert_eq!(permutation(10, 42), [0, 7, 3, 5, 2, 1, 8, 9, 4, 6]);
        assert_eq!(permutation(12, 7), [7, 10, 3, 5, 1, 8, 2, 4, 6, 9, 11, 0]);
    }

    #[test]
    fn csv_quotes_semicolons_and_errors() {
        let c = parse_csv("a;b\n\"1;2\";3\r\n\n4;\"x\"\"y\"").unwrap();
        assert_eq!(c.header, ["a", "b"]);
        assert_eq!(c.rows, [["1;2", "3"], ["4", "x\"y"]]);
        assert!(parse_csv("a,b\n").is_err());
        assert!(parse_csv("a,b\n1,2,3")
            .unwrap_err()
            .0
            .contains("row 2 has 3"));
    }

    #[test]
    fn table_standardises_with_training_moments() {
        let mut text = String::from("age,bp,label\n");
        for i in 0..20 {
            text += &format!(
                "{},{},{}\n",
                40 + i,
                120 + 2 * i,
                if i % 2 == 0 { "no" } else { "yes" }
            );
        }
        let s = table_from_csv(&text, &["label".into()], Task::Classification, "t").unwrap();
        assert_eq!((s.train.rows(), s.test.rows()), (16, 4));
        assert_eq!(s.train.target_dim, 2);
        let mean: f32 = s.train.x.iter().step_by(2).sum::<f32>() / 16.0;
        assert!(mean.abs() < 1e-5);
        assert!(table_from_csv(&text, &["nope".into()], Task::Classification, "t").is_err());
        assert!(table_from_csv(&text, &["label".into()], Task::Regression, "t").is_err());
    }

    #[test]
    fn idx_header_errors() {
        assert!(parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x02\x01", "f")
            .unwrap_err()
            .0
            .contains("truncated"));
        assert!(parse_idx(b"PK\x03\x04xxxxxx", "f").is_err());
        assert_eq!(
            parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02", "f")
                .unwrap()
                .data,
            [1, 2]
        );
    }
}
