//! The Wisconsin diagnostic breast cancer table (Street, Wolberg and Mangasarian 1993; UCI
//! Machine Learning Repository, CC BY 4.0): 569 patients, 30 real features of the cell nuclei in
//! a fine-needle aspirate image, diagnosis malignant (212) or benign (357). Read in the form the
//! scikit-learn wheel ships it (`sklearn/datasets/data/breast_cancer.csv`, BSD-3-Clause): a first
//! line `569,30,malignant,benign` (rows, features, class names), then one row per patient with the
//! 30 features and the class index (0 malignant, 1 benign). `.ci/setup-tests` takes the file out of the
//! wheel into `target/datasets/breast_cancer.csv`.

use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::{DataError, Dataset};

/// Default location, relative to the repository root (written by `.ci/setup-tests`).
pub const BREAST_CANCER_CSV: &str = "target/datasets/breast_cancer.csv";

/// The 30 feature names: mean, standard error and worst (mean of the three largest) of ten
/// measurements, in the file's column order.
pub const BREAST_CANCER_FEATURES: [&str; 30] = [
    "mean radius",
    "mean texture",
    "mean perimeter",
    "mean area",
    "mean smoothness",
    "mean compactness",
    "mean concavity",
    "mean concave points",
    "mean symmetry",
    "mean fractal dimension",
    "radius error",
    "texture error",
    "perimeter error",
    "area error",
    "smoothness error",
    "compactness error",
    "concavity error",
    "concave points error",
    "symmetry error",
    "fractal dimension error",
    "worst radius",
    "worst texture",
    "worst perimeter",
    "worst area",
    "worst smoothness",
    "worst compactness",
    "worst concavity",
    "worst concave points",
    "worst symmetry",
    "worst fractal dimension",
];

/// `path` if given; otherwise [`BREAST_CANCER_CSV`] relative to the working directory if it
/// exists there, else relative to the repository this binary was built from.
pub fn resolve_breast_cancer(path: Option<&Path>) -> PathBuf {
    if let Some(p) = path {
        return p.to_path_buf();
    }
    let here = PathBuf::from(BREAST_CANCER_CSV);
    if here.exists() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(BREAST_CANCER_CSV)
}

/// One patient's line: appends the 30 features to `features`, returns the class (0 or 1).
fn patient_row(line: &str, features: &mut Vec<f32>) -> Result<usize, String> {
    let cells: Vec<&str> = line.split(',').map(str::trim).collect();
    if cells.len() != 31 {
        return Err(format!("{} cells, 31 expected", cells.len()));
    }
    for c in &cells[..30] {
        match c.parse::<f32>() {
            Ok(v) if v.is_finite() => features.push(v),
            _ => return Err(format!("{c:?} is not a finite number")),
        }
    }
    match cells[30] {
        "0" => Ok(0),
        "1" => Ok(1),
        other => Err(format!("class {other:?} is not 0 or 1")),
    }
}

/// Loads the table (scikit-learn's layout, above) as a classification set.
///
/// # Errors
/// [`DataError::Io`] (a missing file says to run `.ci/setup-tests`), [`DataError::Invalid`] for a
/// header that is not `rows,30,name,name`, a row of the wrong width, a value that is not a finite
/// number, a class that is not 0 or 1, or a row count that differs from the header's.
pub fn load_breast_cancer(path: &Path) -> Result<Dataset, DataError> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            source.kind(),
            format!("{source} (bash .ci/setup-tests takes it out of the scikit-learn wheel)"),
        ),
    })?;
    let bad = |line: usize, why: String| {
        DataError::Invalid(format!("{} line {}: {why}", path.display(), line + 1))
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| bad(0, "empty file".into()))?;
    let head: Vec<&str> = header.split(',').map(str::trim).collect();
    let rows = match head[..] {
        [rows, "30", _, _] => rows
            .parse::<usize>()
            .map_err(|_| bad(0, format!("row count {rows:?}")))?,
        _ => {
            return Err(bad(
                0,
                format!("header {header:?} is not rows,30,name,name"),
            ))
        }
    };
    let mut features = Vec::with_capacity(rows * 30);
    let mut labels = Vec::with_capacity(rows);
    for (i, line) in lines {
        let label = patient_row(line, &mut features).map_err(|why| bad(i, why))?;
        labels.push(label);
    }
    if labels.len() != rows {
        return Err(DataError::Invalid(format!(
            "{}: {} rows, the header says {rows}",
            path.display(),
            labels.len()
        )));
    }
    let features = Array2::from_shape_vec((rows, 30), features).expect("30 per row");
    let mut ds = Dataset::classification(
        "breast cancer Wisconsin diagnostic (569 patients, scikit-learn's copy)",
        features,
        vec![30],
        labels,
        vec![head[2].to_string(), head[3].to_string()],
    );
    ds.feature_names = BREAST_CANCER_FEATURES
        .iter()
        .map(|s| s.to_string())
        .collect();
    Ok(ds)
}
