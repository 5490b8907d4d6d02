//! Cells and columns: what a cell holds ([`number`], [`is_missing`]), per-column statistics
//! ([`column_profile`]), the task a target column suggests ([`guess_task`]) and what a feature
//! column becomes ([`feature_kind`]).
//!
//! Decisions (where the former copies disagreed):
//! - "few distinct values → classification": at most [`CLASSIFICATION_MAX_DISTINCT`] (10, the
//!   page's; the lab said 20) whole numbers in one target column.
//! - a text column (mostly not numbers) with 2 to [`CATEGORY_MAX_LEVELS`] levels, each seen twice
//!   on average, is *categorical*: one-hot encoded, one column per level (`sex=F`, `sex=M`);
//!   other text columns (free text, identifiers, a single value) are left out with a note (the
//!   page used to leave every text column out, the lab refused the file).

use super::Task;

/// At most this many distinct whole numbers in one target column suggest a classification.
pub const CLASSIFICATION_MAX_DISTINCT: usize = 10;
/// A text column with at most this many levels is categorical (one-hot encoded).
pub const CATEGORY_MAX_LEVELS: usize = 20;

/// A number as the page reads it (`Number(v)` finite, not blank).
pub fn number(v: &str) -> Option<f64> {
    let t = v.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// A cell that means "no value" (the page's rule, formerly `isMissing` in JS): blank, `NA`, `N/A`, `NaN`, `null`,
/// `none` or `?`, in any case.
pub fn is_missing(v: &str) -> bool {
    matches!(
        v.trim().to_lowercase().as_str(),
        "" | "na" | "n/a" | "nan" | "null" | "none" | "?"
    )
}

/// Statistics of one CSV column (formerly the page's `columnProfile` in JS; the page shows it).
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
    /// Smallest, mean, population standard deviation and largest numeric cell (`None` without
    /// one), as the page shows them.
    pub stats: Option<NumericStats>,
}

/// Statistics of a column's numeric cells.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NumericStats {
    /// Smallest value.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation (`sqrt(max(E[x²] − mean², 0))`, the page's).
    pub std: f64,
    /// Largest value.
    pub max: f64,
}

impl ColumnProfile {
    /// Present (not missing) cells.
    pub fn present(&self) -> usize {
        self.numeric + self.non_numeric
    }

    /// Whether the column is mostly text (no numbers, or more text than numbers).
    pub fn is_text(&self) -> bool {
        self.numeric == 0 || self.non_numeric > self.numeric
    }
}

fn profile_column(name: &str, cells: impl Iterator<Item = String>) -> ColumnProfile {
    let mut p = ColumnProfile {
        name: name.to_string(),
        missing: 0,
        non_numeric: 0,
        examples: Vec::new(),
        numeric: 0,
        distinct: 0,
        integer: true,
        stats: None,
    };
    let (mut sum, mut sq, mut min, mut max) = (0.0f64, 0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    let mut distinct = std::collections::HashSet::new();
    for v in cells {
        if is_missing(&v) {
            p.missing += 1;
            continue;
        }
        let t = v.trim().to_string();
        match number(&t) {
            None => {
                p.non_numeric += 1;
                if p.examples.len() < 3 && !p.examples.contains(&t) {
                    p.examples.push(t.clone());
                }
            }
            Some(x) => {
                p.numeric += 1;
                p.integer &= x.fract() == 0.0;
                (sum, sq, min, max) = (sum + x, sq + x * x, min.min(x), max.max(x));
            }
        }
        distinct.insert(t);
    }
    if p.numeric > 0 {
        let n = p.numeric as f64;
        let mean = sum / n;
        let std = (sq / n - mean * mean).max(0.0).sqrt();
        p.stats = Some(NumericStats {
            min,
            mean,
            std,
            max,
        });
    }
    p.distinct = distinct.len();
    p.integer &= p.numeric > 0;
    p
}

/// Per-column statistics of a parsed CSV.
pub fn column_profile(csv: &super::Csv) -> Vec<ColumnProfile> {
    (0..csv.header.len())
        .map(|j| profile_column(&csv.header[j], csv.rows.iter().map(|r| r[j].clone())))
        .collect()
}

/// The task the target column(s) suggest (formerly the page's `guessTask` in JS): one column of text labels,
/// or of whole numbers with at most [`CLASSIFICATION_MAX_DISTINCT`] distinct values, is a
/// classification; anything else a regression.
pub fn guess_task(profile: &[ColumnProfile], targets: &[String]) -> Task {
    if targets.len() != 1 {
        return Task::Regression;
    }
    let Some(c) = profile.iter().find(|p| p.name == targets[0]) else {
        return Task::Regression;
    };
    if c.non_numeric > c.numeric
        || c.integer && c.non_numeric == 0 && c.distinct <= CLASSIFICATION_MAX_DISTINCT
    {
        Task::Classification
    } else {
        Task::Regression
    }
}

/// What a feature column becomes.
#[derive(Clone, Debug, PartialEq)]
pub enum FeatureKind {
    /// One numeric feature (text cells drop their rows, missing cells are imputed).
    Numeric,
    /// One-hot encoded: one feature per level, levels in [`sort_names`] order.
    Categorical(Vec<String>),
    /// Left out; the reason is a sentence for the notes.
    LeftOut(String),
}

/// What the feature column `j` of `rows` becomes (module documentation).
pub fn feature_kind(p: &ColumnProfile, rows: &[Vec<String>], j: usize) -> FeatureKind {
    if !p.is_text() {
        return FeatureKind::Numeric;
    }
    let quoted = quote_list(&p.examples);
    if p.present() == 0 {
        return FeatureKind::LeftOut(format!(
            "Column \"{}\" left out: only missing values.",
            p.name
        ));
    }
    if p.distinct < 2 {
        return FeatureKind::LeftOut(format!(
            "Column \"{}\" left out: a single value ({quoted}).",
            p.name
        ));
    }
    if p.distinct > CATEGORY_MAX_LEVELS || 2 * p.distinct > p.present() {
        return FeatureKind::LeftOut(format!(
            "Column \"{}\" left out: free text or identifiers ({} distinct values, e.g. {quoted}).",
            p.name, p.distinct
        ));
    }
    let mut levels: Vec<String> = Vec::new();
    for r in rows {
        let t = r[j].trim();
        if !is_missing(t) && !levels.iter().any(|l| l == t) {
            levels.push(t.to_string());
        }
    }
    sort_names(&mut levels);
    FeatureKind::Categorical(levels)
}

/// `"a", "b"` for the notes.
pub(crate) fn quote_list(items: &[String]) -> String {
    items
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The page's order of class names and levels: numeric order when every name is a number
/// (`"2"` before `"10"`), else JavaScript's default sort (UTF-16 code units).
pub fn sort_names(names: &mut [String]) {
    if names.iter().all(|c| number(c).is_some()) {
        names.sort_by(|a, b| {
            let (a, b) = (number(a).unwrap_or(0.0), number(b).unwrap_or(0.0));
            a.total_cmp(&b)
        });
    } else {
        names.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(cells: &[&str]) -> (ColumnProfile, Vec<Vec<String>>) {
        let rows: Vec<Vec<String>> = cells.iter().map(|c| vec![c.to_string()]).collect();
        (
            profile_column("c", cells.iter().map(|c| c.to_string())),
            rows,
        )
    }

    #[test]
    fn ten_distinct_whole_numbers_are_classes_eleven_are_not() {
        let ten: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let (p, _) = column(&ten.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(guess_task(&[p], &["c".into()]), Task::Classification);
        let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
        let (p, _) = column(&eleven.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(guess_task(&[p], &["c".into()]), Task::Regression);
        let (p, _) = column(&["yes", "no", "yes"]);
        assert_eq!(guess_task(&[p], &["c".into()]), Task::Classification);
    }

    #[test]
    fn categories_free_text_and_constants() {
        let (p, rows) = column(&["M", "F", "", "M", "F", "M"]);
        assert_eq!(
            feature_kind(&p, &rows, 0),
            FeatureKind::Categorical(vec!["F".into(), "M".into()])
        );
        let (p, rows) = column(&["r1", "r2", "r3", "r4"]);
        assert!(
            matches!(feature_kind(&p, &rows, 0), FeatureKind::LeftOut(m) if m.contains("identifiers"))
        );
        let (p, rows) = column(&["x", "x", "x"]);
        assert!(
            matches!(feature_kind(&p, &rows, 0), FeatureKind::LeftOut(m) if m.contains("single"))
        );
        let (p, rows) = column(&["1", "2", "x"]);
        assert_eq!(feature_kind(&p, &rows, 0), FeatureKind::Numeric);
        let mut names = vec!["10".to_string(), "2".into()];
        sort_names(&mut names);
        assert_eq!(names, ["2", "10"]);
        let mut names = vec!["b".to_string(), "B".into(), "a".into()];
        sort_names(&mut names);
        assert_eq!(names, ["B", "a", "b"]);
    }
}
