//! Targets: class names (the sorted distinct labels, text or numbers) and one-hot rows.

use super::columns::{number, sort_names};
use super::{err, DataError};

/// The most classes a target column may have (more looks continuous: a regression).
pub const MAX_CLASSES: usize = 100;

/// One-hot rows of `classes` columns.
pub fn one_hot(labels: &[usize], classes: usize) -> Vec<f32> {
    let mut y = vec![0.0; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        y[i * classes + l] = 1.0;
    }
    y
}

/// Classes of trimmed labels `raw` (a column named `column`, for messages): the distinct labels
/// sorted as the page sorts them ([`sort_names`]), and each label's class index.
///
/// # Errors
/// Fewer than 2 or more than [`MAX_CLASSES`] distinct labels.
pub fn classes(raw: &[&str], column: &str) -> Result<(Vec<String>, Vec<usize>), DataError> {
    let mut names: Vec<String> = Vec::new();
    for v in raw {
        if !names.iter().any(|c| c == v) {
            names.push(v.to_string());
        }
    }
    sort_names(&mut names);
    if names.len() < 2 {
        return err(format!("Target \"{column}\" has only one distinct value."));
    }
    if names.len() > MAX_CLASSES {
        return err(format!(
            "Target \"{column}\" has {} distinct values: it looks continuous; choose regression.",
            names.len()
        ));
    }
    let labels = raw
        .iter()
        .map(|v| names.iter().position(|c| c == v).unwrap_or(0))
        .collect();
    Ok((names, labels))
}

/// Whether every class name is a number (the classes are then in numeric order).
pub fn numeric_classes(names: &[String]) -> bool {
    names.iter().all(|c| number(c).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_labels_become_named_classes() {
        let (names, labels) = classes(&["sick", "healthy", "sick"], "y").unwrap();
        assert_eq!(names, ["healthy", "sick"]);
        assert_eq!(labels, [1, 0, 1]);
        assert_eq!(one_hot(&labels, 2), [0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
        let (names, _) = classes(&["10", "2", "1.5"], "y").unwrap();
        assert_eq!(names, ["1.5", "2", "10"]);
        assert!(classes(&["a", "a"], "y")
            .unwrap_err()
            .0
            .contains("one distinct"));
    }
}
