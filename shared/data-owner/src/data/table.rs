//! A table (CSV) to a data set: formerly the page's `tableFromCsv` in JS, now with categorical columns one-hot
//! encoded. Steps, each a sentence in the notes when it changes anything:
//! 1. rows whose target is missing (or, for a regression, not a number) are dropped;
//! 2. each other column becomes a numeric feature, a one-hot categorical ([`feature_kind`]) or is
//!    left out (free text, identifiers, a single value, only missing values);
//! 3. rows with text in a numeric feature column are dropped;
//! 4. the page's split ([`split`](super::split::split));
//! 5. missing feature values are imputed with the training part's column mean (for a categorical
//!    column: each level column's mean, the level's frequency in the training part);
//! 6. features (and regression targets) are standardised with the training part's moments.

use super::columns::{column_profile, feature_kind, guess_task, is_missing, number, quote_list};
use super::columns::{ColumnProfile, FeatureKind};
use super::csv::{parse_csv, Csv};
use super::part::{plural, DataSet, Part, Split};
use super::standardize::Standardizer;
use super::targets::{classes, one_hot};
use super::text::decode_text;
use super::{err, DataError, Task};

/// A table file's bytes (`file_name` for messages and the data set's name): decoded
/// ([`decode_text`]: gzip, encoding), parsed and read with [`table_from_csv`]; the decoding
/// notes come first.
///
/// # Errors
/// Those of [`decode_text`] and [`table_from_csv`].
pub fn read_table(
    bytes: &[u8],
    file_name: &str,
    targets: &[String],
    task: Option<Task>,
) -> Result<DataSet, DataError> {
    let text = decode_text(bytes, file_name)?;
    let mut table = table_from_csv(&text.text, targets, task, file_name)?;
    let mut notes = text.notes;
    notes.append(&mut table.notes);
    table.notes = notes;
    Ok(table)
}

/// The columns of a table file (decoded and parsed as [`read_table`] does), for showing before a
/// target is chosen: the header order's column profiles and the decoding/parsing notes.
///
/// # Errors
/// Those of [`decode_text`] and [`parse_csv`].
pub fn profile_table(
    bytes: &[u8],
    file_name: &str,
) -> Result<(Vec<ColumnProfile>, Vec<String>), DataError> {
    let text = decode_text(bytes, file_name)?;
    let csv = parse_csv(&text.text)?;
    let mut notes = text.notes;
    notes.extend(csv.notes());
    Ok((column_profile(&csv), notes))
}

/// A table before the split (steps 1–3 of the module documentation): one [`Part`] holding every
/// usable row, missing feature values NaN. [`table_from_csv`] splits, imputes and standardises
/// it; the lab applies its own experiment splits to it.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedTable {
    /// All usable rows (features with NaN where a value is missing, raw targets).
    pub part: Part,
    /// Notes so far (parsing, dropped rows, encoded and left-out columns).
    pub notes: Vec<String>,
    /// Data rows in the file.
    pub rows_read: usize,
    /// The task the target column suggests.
    pub guessed_task: Task,
    /// Per source column with missing feature values: its name, first feature index, number of
    /// features (levels for a categorical column), missing cells, whether categorical.
    pub missing: Vec<MissingCells>,
}

/// Missing cells of one source column of an [`EncodedTable`].
#[derive(Clone, Debug, PartialEq)]
pub struct MissingCells {
    /// The column's name.
    pub column: String,
    /// Its first feature index.
    pub first: usize,
    /// Whether it is one-hot encoded (imputed with level frequencies).
    pub categorical: bool,
    /// Missing cells among the usable rows.
    pub count: usize,
}

/// Steps 1–3 of the module documentation on CSV text. `task` `None` guesses it
/// ([`guess_task`]).
///
/// # Errors
/// Missing or unsuitable target columns, no feature column, fewer than 5 usable rows, the CSV
/// errors of [`parse_csv`].
pub fn encode_table(
    text: &str,
    targets: &[String],
    task: Option<Task>,
    name: &str,
) -> Result<EncodedTable, DataError> {
    let csv = parse_csv(text)?;
    let profile = column_profile(&csv);
    let t_idx = target_columns(&csv.header, targets)?;
    let guessed_task = guess_task(&profile, targets);
    let task = task.unwrap_or(guessed_task);
    if task == Task::Classification && targets.len() != 1 {
        return err("Classification needs exactly one target column.");
    }
    let mut notes = csv.notes();
    let mut drops = Drops::new(csv.rows.len());
    drop_target_rows(&csv, &profile, &t_idx, task, &mut drops, &mut notes)?;
    let features = choose_features(&csv, &profile, &t_idx, &mut notes)?;
    drop_text_rows(&csv, &profile, &features, &mut drops, &mut notes);
    let keep: Vec<usize> = (0..csv.rows.len()).filter(|&i| !drops.has(i)).collect();
    if keep.len() < 5 {
        return err(format!(
            "Only {} usable rows are left (of {}); a model needs more.",
            keep.len(),
            csv.rows.len()
        ));
    }
    let matrix = feature_matrix(&csv, &keep, &features);
    let part = target_part(&csv, &keep, &t_idx, task, targets, name, matrix.x)?;
    Ok(EncodedTable {
        part: Part {
            feature_names: Some(matrix.names),
            ..part
        },
        notes,
        rows_read: csv.rows.len(),
        guessed_task,
        missing: missing_cells(&csv, &features, &matrix.missing),
    })
}

/// A tabular data set from CSV text (module documentation): [`encode_table`], the page's split,
/// [`impute_missing`] and standardisation with the training part's moments. Classification takes
/// one target column whose distinct values (2 to 100) are the classes.
///
/// # Errors
/// Those of [`encode_table`].
pub fn table_from_csv(
    text: &str,
    targets: &[String],
    task: Option<Task>,
    name: &str,
) -> Result<DataSet, DataError> {
    let encoded = encode_table(text, targets, task, name)?;
    let rows_used = encoded.part.rows();
    let mut split = super::split::split(encoded.part);
    let mut notes = encoded.notes;
    let width = split.train.width();
    let mean = impute_missing(&mut split.train.x, &mut split.test.x, width);
    notes.extend(imputation_notes(&encoded.missing, &mean));
    let (feature_scale, target_scale) = standardise(&mut split);
    Ok(DataSet {
        split,
        notes,
        rows_read: encoded.rows_read,
        rows_used,
        feature_scale: Some(feature_scale),
        guessed_task: Some(encoded.guessed_task),
        target_scale,
    })
}

fn target_columns(header: &[String], targets: &[String]) -> Result<Vec<usize>, DataError> {
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
    Ok(targets
        .iter()
        .map(|t| header.iter().position(|h| h == t).unwrap_or(0))
        .collect())
}

/// Rows dropped, with the first reason, in the order they were found.
struct Drops {
    reason: Vec<Option<String>>,
    order: Vec<usize>,
}

impl Drops {
    fn new(rows: usize) -> Self {
        Drops {
            reason: vec![None; rows],
            order: Vec::new(),
        }
    }

    fn has(&self, i: usize) -> bool {
        self.reason[i].is_some()
    }

    /// Drops row `i` unless it is already dropped; whether it was newly dropped.
    fn drop(&mut self, i: usize, why: impl FnOnce() -> String) -> bool {
        if self.has(i) {
            return false;
        }
        self.reason[i] = Some(why());
        self.order.push(i);
        true
    }
}

fn drop_target_rows(
    csv: &Csv,
    profile: &[ColumnProfile],
    t_idx: &[usize],
    task: Task,
    drops: &mut Drops,
    notes: &mut Vec<String>,
) -> Result<(), DataError> {
    let (header, rows) = (&csv.header, &csv.rows);
    for &j in t_idx {
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
                drops.drop(i, || format!("missing {}", header[j]));
            } else if task == Task::Regression && number(&r[j]).is_none() {
                drops.drop(i, || {
                    format!("\"{}\" in {} is not a number", r[j].trim(), header[j])
                });
            }
        }
    }
    if let Some(&first) = drops.order.first() {
        notes.push(format!(
            "{} dropped: the target is missing or not a number (e.g. row {}: {}).",
            plural(drops.order.len(), "row"),
            first + 2,
            drops.reason[first].as_deref().unwrap_or("")
        ));
    }
    Ok(())
}

/// A feature column of the file and what it becomes.
struct Feature {
    column: usize,
    kind: FeatureKind,
}

impl Feature {
    fn width(&self) -> usize {
        match &self.kind {
            FeatureKind::Categorical(levels) => levels.len(),
            _ => 1,
        }
    }
}

fn choose_features(
    csv: &Csv,
    profile: &[ColumnProfile],
    t_idx: &[usize],
    notes: &mut Vec<String>,
) -> Result<Vec<Feature>, DataError> {
    let mut features = Vec::new();
    for (j, p) in profile.iter().enumerate() {
        if t_idx.contains(&j) {
            continue;
        }
        match feature_kind(p, &csv.rows, j) {
            FeatureKind::LeftOut(why) => notes.push(why),
            FeatureKind::Categorical(levels) => {
                notes.push(format!(
                    "Column \"{}\" one-hot encoded: {} ({}).",
                    p.name,
                    plural(levels.len(), "level"),
                    levels.join(", ")
                ));
                features.push(Feature {
                    column: j,
                    kind: FeatureKind::Categorical(levels),
                });
            }
            FeatureKind::Numeric => features.push(Feature {
                column: j,
                kind: FeatureKind::Numeric,
            }),
        }
    }
    if features.is_empty() {
        return err("No feature columns are left besides the target.");
    }
    Ok(features)
}

fn drop_text_rows(
    csv: &Csv,
    profile: &[ColumnProfile],
    features: &[Feature],
    drops: &mut Drops,
    notes: &mut Vec<String>,
) {
    for f in features.iter().filter(|f| f.kind == FeatureKind::Numeric) {
        let j = f.column;
        if profile[j].non_numeric == 0 {
            continue;
        }
        let mut k = 0;
        for (i, r) in csv.rows.iter().enumerate() {
            let v = &r[j];
            if !is_missing(v) && number(v).is_none() && drops.drop(i, || "text".into()) {
                k += 1;
            }
        }
        if k > 0 {
            notes.push(format!(
                "{} dropped: column \"{}\" holds text where a number belongs (e.g. {}).",
                plural(k, "row"),
                csv.header[j],
                quote_list(&profile[j].examples)
            ));
        }
    }
}

/// Features of the kept rows (NaN where missing), their names, and missing cells per feature.
struct Matrix {
    x: Vec<f32>,
    names: Vec<String>,
    missing: Vec<usize>,
}

fn feature_matrix(csv: &Csv, keep: &[usize], features: &[Feature]) -> Matrix {
    let width: usize = features.iter().map(Feature::width).sum();
    let mut x = Vec::with_capacity(keep.len() * width);
    let mut missing = vec![0usize; features.len()];
    for &r in keep {
        for (k, f) in features.iter().enumerate() {
            let v = csv.rows[r][f.column].trim();
            if is_missing(v) {
                missing[k] += 1;
                x.extend(std::iter::repeat_n(f32::NAN, f.width()));
                continue;
            }
            match &f.kind {
                FeatureKind::Categorical(levels) => {
                    x.extend(levels.iter().map(|l| f32::from(u8::from(l == v))));
                }
                _ => x.push(number(v).unwrap_or(f64::NAN) as f32),
            }
        }
    }
    let names = features
        .iter()
        .flat_map(|f| {
            let name = &csv.header[f.column];
            match &f.kind {
                FeatureKind::Categorical(levels) => {
                    levels.iter().map(|l| format!("{name}={l}")).collect()
                }
                _ => vec![name.clone()],
            }
        })
        .collect();
    Matrix { x, names, missing }
}

fn target_part(
    csv: &Csv,
    keep: &[usize],
    t_idx: &[usize],
    task: Task,
    targets: &[String],
    name: &str,
    x: Vec<f32>,
) -> Result<Part, DataError> {
    let width = x.len() / keep.len();
    let (y, target_dim, labels, class_names) = match task {
        Task::Classification => {
            let raw: Vec<&str> = keep.iter().map(|&r| csv.rows[r][t_idx[0]].trim()).collect();
            let (names, labels) = classes(&raw, &targets[0])?;
            (
                one_hot(&labels, names.len()),
                names.len(),
                Some(labels),
                Some(names),
            )
        }
        Task::Regression => {
            let mut y = Vec::with_capacity(keep.len() * t_idx.len());
            for &r in keep {
                for &j in t_idx {
                    y.push(number(&csv.rows[r][j]).unwrap_or(f64::NAN) as f32);
                }
            }
            (y, t_idx.len(), None, None)
        }
    };
    Ok(Part {
        name: name.to_string(),
        task,
        feature_shape: vec![width],
        x,
        y,
        target_dim,
        labels,
        class_names,
        feature_names: None,
        target_names: Some(targets.to_vec()),
        // the row's line in the file (the header is line 1), shown beside its prediction
        sample_names: Some(keep.iter().map(|&r| format!("row {}", r + 2)).collect()),
    })
}

/// Replaces the NaN features of `train` and `test` (row-major, `width` per row) by the training
/// rows' column means over present values (0 for a column without one); returns the means.
pub fn impute_missing(train: &mut [f32], test: &mut [f32], width: usize) -> Vec<f64> {
    let (mut mean, mut count) = (vec![0.0f64; width], vec![0.0f64; width]);
    for row in train.chunks(width) {
        for (k, &v) in row.iter().enumerate() {
            if !v.is_nan() {
                mean[k] += f64::from(v);
                count[k] += 1.0;
            }
        }
    }
    for (m, c) in mean.iter_mut().zip(&count) {
        *m = if *c > 0.0 { *m / c } else { 0.0 };
    }
    for x in [train, test] {
        for (i, v) in x.iter_mut().enumerate() {
            if v.is_nan() {
                *v = mean[i % width] as f32;
            }
        }
    }
    mean
}

fn missing_cells(csv: &Csv, features: &[Feature], missing: &[usize]) -> Vec<MissingCells> {
    let mut at = 0;
    let mut out = Vec::new();
    for (f, &count) in features.iter().zip(missing) {
        if count > 0 {
            out.push(MissingCells {
                column: csv.header[f.column].clone(),
                first: at,
                categorical: matches!(f.kind, FeatureKind::Categorical(_)),
                count,
            });
        }
        at += f.width();
    }
    out
}

/// The notes on imputed cells, given the training means of [`impute_missing`].
pub fn imputation_notes(missing: &[MissingCells], mean: &[f64]) -> Vec<String> {
    missing
        .iter()
        .map(|m| {
            let values = plural(m.count, "missing value");
            if m.categorical {
                format!(
                    "{values} in \"{}\" filled in with the training rows' level frequencies.",
                    m.column
                )
            } else {
                format!(
                    "{values} in \"{}\" filled in with the training rows' mean ({}).",
                    m.column,
                    to_precision4(mean[m.first])
                )
            }
        })
        .collect()
}

/// Standardises features (and regression targets) with the training part's moments; returns
/// the two standardisers.
fn standardise(split: &mut Split) -> (Standardizer, Option<Standardizer>) {
    let fx = Standardizer::fit(&split.train.x, split.train.width());
    fx.apply(&mut split.train.x);
    fx.apply(&mut split.test.x);
    let fy = (split.train.task == Task::Regression).then(|| {
        let s = Standardizer::fit(&split.train.y, split.train.target_dim);
        s.apply(&mut split.train.y);
        s.apply(&mut split.test.y);
        s
    });
    (fx, fy)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(t: &str) -> Vec<String> {
        vec![t.to_string()]
    }

    #[test]
    fn standardises_with_training_moments() {
        let mut text = String::from("age,bp,label\n");
        for i in 0..20 {
            let label = if i % 2 == 0 { "no" } else { "yes" };
            text += &format!("{},{},{label}\n", 40 + i, 120 + 2 * i);
        }
        let t = table_from_csv(&text, &targets("label"), None, "t").unwrap();
        let s = &t.split;
        assert_eq!((s.train.rows(), s.test.rows()), (16, 4));
        assert_eq!(
            (s.train.target_dim, s.train.task),
            (2, Task::Classification)
        );
        let mean: f32 = s.train.x.iter().step_by(2).sum::<f32>() / 16.0;
        assert!(mean.abs() < 1e-5);
        assert!(table_from_csv(&text, &targets("nope"), None, "t").is_err());
        assert!(table_from_csv(&text, &targets("label"), Some(Task::Regression), "t").is_err());
    }

    #[test]
    fn blanks_are_dropped_or_imputed_with_notes() {
        let text = "id,a,b,note,y\nr1,1,NA,x,0\nr2,2,4,y,1\nr3,3,3,z,\nr4,4,abc,w,0\nr5,5,6,v,1\n\
                    r6,6,7,u,0\nr7,7,?,t,1\nr8,8,9,s,1\n";
        let t = table_from_csv(text, &targets("y"), None, "t").unwrap();
        assert_eq!((t.rows_read, t.rows_used), (8, 6));
        let train = &t.split.train;
        assert_eq!(
            train.class_names.as_deref(),
            Some(&["0".into(), "1".into()][..])
        );
        assert_eq!(
            train.feature_names.as_deref(),
            Some(&["a".into(), "b".into()][..])
        );
        assert!(train.x.iter().chain(&t.split.test.x).all(|v| v.is_finite()));
        assert_eq!(
            t.notes[..3],
            [
                "1 row dropped: the target is missing or not a number (e.g. row 4: missing y).",
                "Column \"id\" left out: free text or identifiers (8 distinct values, e.g. \"r1\", \"r2\", \"r3\").",
                "Column \"note\" left out: free text or identifiers (8 distinct values, e.g. \"x\", \"y\", \"z\").",
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

    /// 12 patients: sex and smoker categorical (with one blank), ward free text.
    fn clinical() -> String {
        let mut s = String::from("ward,sex,smoker,age,outcome\n");
        for i in 0..12 {
            let sex = if i % 3 == 0 { "F" } else { "M" };
            let smoker = if i == 5 {
                ""
            } else if i % 2 == 0 {
                "yes"
            } else {
                "no"
            };
            let outcome = if i % 4 == 0 { "sick" } else { "healthy" };
            s += &format!("W{i},{sex},{smoker},{},{outcome}\n", 30 + i);
        }
        s
    }

    #[test]
    fn categories_are_one_hot_encoded_with_named_levels() {
        let t = table_from_csv(&clinical(), &targets("outcome"), None, "t").unwrap();
        let train = &t.split.train;
        assert_eq!(
            train.feature_names.as_ref().unwrap(),
            &["sex=F", "sex=M", "smoker=no", "smoker=yes", "age"]
        );
        assert_eq!(train.feature_shape, [5]);
        assert!(t
            .notes
            .contains(&"Column \"sex\" one-hot encoded: 2 levels (F, M).".to_string()));
        assert!(t
            .notes
            .iter()
            .any(|n| n.starts_with("Column \"ward\" left out: free text")));
        assert!(t.notes.contains(
            &"1 missing value in \"smoker\" filled in with the training rows' level frequencies."
                .to_string()
        ));
        // Standardised one-hot columns: two values per column (a level, not the level).
        let sex_f: Vec<f32> = train.x.iter().step_by(5).copied().collect();
        let mut distinct = sex_f.clone();
        distinct.sort_by(f32::total_cmp);
        distinct.dedup();
        assert_eq!(distinct.len(), 2, "{sex_f:?}");
    }

    #[test]
    fn text_labels_are_class_names() {
        let t = table_from_csv(&clinical(), &targets("outcome"), None, "t").unwrap();
        assert_eq!(t.guessed_task, Some(Task::Classification));
        let train = &t.split.train;
        assert_eq!(
            train.class_names.as_deref(),
            Some(&["healthy".into(), "sick".into()][..])
        );
        let labels = train.labels.as_ref().unwrap();
        for (row, &l) in labels.iter().enumerate() {
            assert_eq!(train.y[row * 2 + l], 1.0);
        }
    }

    #[test]
    fn semicolons_decimal_commas_and_latin1_bytes() {
        // An Excel CSV on a German system: ';', decimal commas, Windows-1252 "ä" in a header.
        let mut bytes = b"Gr\xf6\xdfe;Gewicht;Klasse\n".to_vec();
        for i in 0..10 {
            bytes.extend(format!("1,{i};{},5;{}\n", 60 + i, i % 2).as_bytes());
        }
        let t = read_table(&bytes, "waage.csv", &targets("Klasse"), None).unwrap();
        let train = &t.split.train;
        assert_eq!(train.feature_names.as_ref().unwrap(), &["Größe", "Gewicht"]);
        assert!(t.notes[0].contains("Windows-1252"), "{:?}", t.notes);
        assert!(
            t.notes[1].starts_with("20 values written with a decimal comma"),
            "{:?}",
            t.notes
        );
        let s = t.feature_scale.as_ref().unwrap();
        // The training rows' mean of "Größe" lies in 1.0..=1.9: the decimals were read.
        assert!(s.mean[0] > 1.0 && s.mean[0] < 1.9, "{:?}", s.mean);
        let mut x = train.x.clone();
        s.invert(&mut x);
        let weights: Vec<f32> = x.iter().skip(1).step_by(2).copied().collect();
        assert!(
            weights.iter().all(|w| (w - w.floor() - 0.5).abs() < 1e-4),
            "{weights:?}"
        );
    }

    #[test]
    fn regression_keeps_the_target_scale() {
        let mut text = String::from("x,y\n");
        for i in 0..20 {
            text += &format!("{i},{}.5\n", 3 * i);
        }
        let t = table_from_csv(&text, &targets("y"), None, "t").unwrap();
        assert_eq!(t.split.train.task, Task::Regression);
        let scale = t.target_scale.as_ref().unwrap();
        let mut y = t.split.test.y.clone();
        scale.invert(&mut y);
        assert!(
            y.iter().all(|v| (v - v.floor() - 0.5).abs() < 1e-4),
            "{y:?}"
        );
    }
}
