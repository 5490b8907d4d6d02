//! `evaluate`: the clinical report of a classifier's decrypted predictions (the page's results
//! view, `more_data_owner::evaluate`), from the two files the command line already writes: the
//! test CSV of `upload --test-out` (its `target:<class>` columns one-hot) and the predictions CSV
//! of `predict --input` on it (its `output_*` columns, the logits). Local only: no key, no node.

use std::path::{Path, PathBuf};

use clap::Args;
use more_data_owner::data;
use more_data_owner::evaluate::{classification_report, ClassificationReport, Ratio};
use more_data_owner::{CliError, DataError, Result};

use crate::{numeric_columns, target_name};

/// `more-client evaluate`'s arguments.
#[derive(Args)]
pub struct EvaluateArgs {
    /// The test CSV that `upload --test-out` wrote (a classification: one `target:<class>` column
    /// per class, one-hot).
    #[arg(long)]
    test: PathBuf,
    /// The predictions CSV that `predict --input <test CSV>` wrote (`output_*` columns).
    #[arg(long)]
    predictions: PathBuf,
    /// The positive class, by name, for sensitivity, specificity, PPV, NPV, ROC and calibration
    /// (default: the last class, as the page).
    #[arg(long)]
    positive: Option<String>,
    /// Also write the whole report as JSON (the page's fields: ROC points, calibration bins).
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The test rows' classes: names from the `target:` headers, each row's one-hot column.
struct TestLabels {
    class_names: Vec<String>,
    labels: Vec<usize>,
}

fn bad(msg: String) -> CliError {
    DataError(msg).into()
}

/// Reads the classes of `path`: every `target:<class>` column, each row one-hot over them.
fn read_test_labels(path: &Path) -> Result<TestLabels> {
    let table = data::parse_csv(&data::read_text_file(path)?)?;
    let (cols, class_names): (Vec<usize>, Vec<String>) = (table.header.iter().enumerate())
        .filter_map(|(j, h)| target_name(h).map(|name| (j, name.to_string())))
        .unzip();
    if cols.len() < 2 {
        return Err(bad(format!(
            "{} has {} target column(s): the report is for classifications (one `target:<class>` \
             column per class, as `upload --test-out` writes them)",
            path.display(),
            cols.len()
        )));
    }
    let mut labels = Vec::with_capacity(table.rows.len());
    for (i, r) in table.rows.iter().enumerate() {
        let values: Vec<Option<f64>> = cols.iter().map(|&j| data::number(&r[j])).collect();
        let hot: Vec<usize> = (0..cols.len())
            .filter(|&k| values[k] == Some(1.0))
            .collect();
        if hot.len() != 1
            || values
                .iter()
                .any(|v| !matches!(v, Some(x) if *x == 0.0 || *x == 1.0))
        {
            return Err(bad(format!(
                "{} row {}: the target columns are not one-hot (a regression's test set has no \
                 classes to report on)",
                path.display(),
                i + 2
            )));
        }
        labels.push(hot[0]);
    }
    Ok(TestLabels {
        class_names,
        labels,
    })
}

/// Reads the `output_*` columns of `path`, row-major.
fn read_outputs(path: &Path) -> Result<(usize, Vec<f32>)> {
    let table = data::parse_csv(&data::read_text_file(path)?)?;
    let cols: Vec<usize> = (0..table.header.len())
        .filter(|&j| table.header[j].starts_with("output_"))
        .collect();
    Ok((table.rows.len(), numeric_columns(path, &table, &cols)?))
}

/// `more-client evaluate`: prints the report; `--json` writes it whole.
pub fn evaluate(a: &EvaluateArgs) -> Result<()> {
    let test = read_test_labels(&a.test)?;
    let (rows, outputs) = read_outputs(&a.predictions)?;
    let k = test.class_names.len();
    if rows != test.labels.len() || outputs.len() != rows * k {
        return Err(bad(format!(
            "{} has {rows} rows of {} outputs; {} has {} rows of {k} classes: not its predictions",
            a.predictions.display(),
            outputs.len().checked_div(rows).unwrap_or(0),
            a.test.display(),
            test.labels.len()
        )));
    }
    let positive = match &a.positive {
        None => k - 1,
        Some(name) => test
            .class_names
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| {
                bad(format!(
                    "--positive {name}: not a class of {} ({})",
                    a.test.display(),
                    test.class_names.join(", ")
                ))
            })?,
    };
    // The test CSV holds no training rows: the majority baseline is the test rows' own most
    // frequent class (the strongest constant guess on them, so at least as hard to beat).
    let report = classification_report(
        &outputs,
        &test.labels,
        &test.class_names,
        &test.labels,
        positive,
    )
    .map_err(|e| bad(e.0))?;
    print!("{}", report_text(&report));
    if let Some(path) = &a.json {
        let json = serde_json::to_string_pretty(&report).expect("the report serializes");
        std::fs::write(path, json)
            .map_err(|e| CliError::Io(format!("cannot write {}: {e}", path.display())))?;
        eprintln!("wrote the report to {}", path.display());
    }
    Ok(())
}

fn ratio(r: &Ratio) -> String {
    match r.value {
        Some(v) => format!("{:.1} % ({}/{})", 100.0 * v, r.numerator, r.denominator),
        None => format!("— ({}/{})", r.numerator, r.denominator),
    }
}

/// The report as lines of `name: value` (the page's results view in words).
fn report_text(r: &ClassificationReport) -> String {
    let positive = &r.class_names[r.positive];
    let b = &r.binary;
    let mut lines = vec![
        format!("test rows: {}", r.samples),
        format!("classes: {}", r.class_names.join(", ")),
        format!("accuracy: {}", ratio(&r.accuracy)),
        format!(
            "majority class of these rows ({}): {}",
            r.majority_class,
            ratio(&r.majority_accuracy)
        ),
        format!(
            "balanced accuracy: {:.1} % (chance {:.1} %)",
            100.0 * r.balanced_accuracy,
            100.0 * r.chance_balanced_accuracy
        ),
        format!(
            "beats both baselines: {}",
            if r.beats_baselines { "yes" } else { "no" }
        ),
        format!("positive class: {positive}"),
        format!("sensitivity: {}", ratio(&b.sensitivity)),
        format!("specificity: {}", ratio(&b.specificity)),
        format!("PPV: {}", ratio(&b.ppv)),
        format!("NPV: {}", ratio(&b.npv)),
    ];
    lines.push(match (&r.roc, &r.roc_note) {
        (Some(roc), _) => format!(
            "AUC: {:.3} ({} positive, {} negative)",
            roc.auc, roc.positives, roc.negatives
        ),
        (None, note) => format!("AUC: — ({})", note.as_deref().unwrap_or("no ROC curve")),
    });
    lines.push(format!(
        "confusion (rows true, columns predicted; {}):",
        r.class_names.join(", ")
    ));
    lines.extend(
        r.confusion
            .counts
            .iter()
            .zip(&r.class_names)
            .map(|(row, name)| {
                let cells: Vec<String> = row.iter().map(usize::to_string).collect();
                format!("  {name}: {}", cells.join(" "))
            }),
    );
    lines.join("\n") + "\n"
}
