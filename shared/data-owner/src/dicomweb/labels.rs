//! The labels of PACS studies: a CSV that maps Study Instance UIDs (or SOP Instance UIDs) to
//! class labels, the DICOMweb counterpart of a folder's `filename,label` CSV.

use std::collections::HashMap;

use crate::data::{parse_csv, DataError};

/// What the labels CSV's key column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelKey {
    /// Study Instance UIDs: every instance of a study gets the study's label.
    Study,
    /// SOP Instance UIDs: one label per instance.
    Instance,
}

/// A label per study or per instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Labels {
    /// What the keys are.
    pub key: LabelKey,
    /// UID -> label.
    pub map: HashMap<String, String>,
}

const STUDY_COLUMNS: [&str; 3] = ["study", "studyinstanceuid", "study_uid"];
const INSTANCE_COLUMNS: [&str; 4] = ["instance", "sopinstanceuid", "sop_uid", "sop"];
const LABEL_COLUMNS: [&str; 3] = ["label", "class", "target"];

fn column(header: &[String], names: &[&str]) -> Option<usize> {
    header
        .iter()
        .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
}

impl Labels {
    /// Parses a labels CSV (`study,label` or `instance,label`; also `StudyInstanceUID` /
    /// `SOPInstanceUID`, `class` / `target`).
    ///
    /// # Errors
    /// [`DataError`] for a malformed CSV, a missing key or label column, or a UID given twice
    /// with different labels.
    pub fn from_csv(text: &str, file_name: &str) -> Result<Labels, DataError> {
        let csv = parse_csv(text)?;
        let (key, ki) = match (
            column(&csv.header, &STUDY_COLUMNS),
            column(&csv.header, &INSTANCE_COLUMNS),
        ) {
            (Some(i), _) => (LabelKey::Study, i),
            (None, Some(i)) => (LabelKey::Instance, i),
            (None, None) => {
                return Err(DataError(format!(
                    "{file_name} needs a column \"study\" (Study Instance UID) or \"instance\" \
                     (SOP Instance UID) and a column \"label\"; it has {}.",
                    csv.header.join(", ")
                )))
            }
        };
        let li = column(&csv.header, &LABEL_COLUMNS)
            .ok_or_else(|| DataError(format!("{file_name} has no column \"label\".")))?;
        let mut map = HashMap::new();
        for r in &csv.rows {
            let (uid, label) = (r[ki].trim().to_string(), r[li].trim().to_string());
            if let Some(old) = map.insert(uid.clone(), label.clone()) {
                if old != label {
                    return Err(DataError(format!(
                        "{file_name}: {uid} has two labels, \"{old}\" and \"{label}\"."
                    )));
                }
            }
        }
        Ok(Labels { key, map })
    }

    /// The label of an instance of a study, if the CSV gives one.
    pub fn label_of(&self, study: &str, instance: &str) -> Option<&str> {
        let uid = match self.key {
            LabelKey::Study => study,
            LabelKey::Instance => instance,
        };
        self.map.get(uid).map(String::as_str)
    }

    /// The Study Instance UIDs of a study-keyed CSV, sorted (empty for an instance-keyed one).
    pub fn studies(&self) -> Vec<String> {
        let mut v: Vec<String> = match self.key {
            LabelKey::Study => self.map.keys().cloned().collect(),
            LabelKey::Instance => Vec::new(),
        };
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn study_and_instance_keys() {
        let l = Labels::from_csv("StudyInstanceUID,label\n1.2.3,a\n1.2.4,b\n", "l.csv").unwrap();
        assert_eq!(l.key, LabelKey::Study);
        assert_eq!(l.label_of("1.2.3", "9.9"), Some("a"));
        assert_eq!(l.studies(), ["1.2.3", "1.2.4"]);
        let l = Labels::from_csv("instance,class\n1.5,x\n", "l.csv").unwrap();
        assert_eq!(l.label_of("1.2.3", "1.5"), Some("x"));
        assert_eq!(l.label_of("1.2.3", "1.6"), None);
        assert!(Labels::from_csv("file,label\na,b\n", "l.csv").is_err());
        assert!(Labels::from_csv("study,label\n1.2,a\n1.2,b\n", "l.csv")
            .unwrap_err()
            .0
            .contains("two labels"));
    }
}
