//! FHIR out: decrypted predictions as FHIR R4 resources for the hospital's systems, in a
//! `Bundle` of type `collection` (JSON):
//!
//! - classification: one `RiskAssessment` per sample, a `prediction` per class with its
//!   `outcome` (the class name) and `probabilityDecimal` (the softmax of the decrypted logits);
//! - regression: one `Observation` per sample and target value, `valueQuantity` with the UCUM
//!   unit given (or none).
//!
//! The resources are built as JSON with `serde_json` (the Rust FHIR crates need a newer compiler
//! than the workspace's, or are unmaintained); the tests validate them with the Python reference
//! models (PyPI `fhir.resources`). Everything here runs on the data owner's side, after
//! decryption: the node never sees a prediction in plaintext, nor a FHIR resource.

use serde_json::{json, Value};

use crate::data::Task;

/// Who each resource is about (FHIR `subject`, required by `RiskAssessment`).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Subject {
    /// A logical reference to the input row: `identifier {system:
    /// "urn:more-client:input-row", value: "<row>"}` (the data owner maps rows to patients).
    #[default]
    InputRow,
    /// A literal reference made from a template where `{row}` becomes the row number (from 0),
    /// e.g. `Patient/{row}`, or the same reference for every row.
    Template(String),
}

/// What the predictions are and how to label them.
#[derive(Clone, Debug, PartialEq)]
pub struct FhirOptions {
    /// Classification (`RiskAssessment`) or regression (`Observation`).
    pub task: Task,
    /// Class names (classification) or target names (regression), one per output; `class j` /
    /// `output j` when absent or of another length.
    pub names: Option<Vec<String>>,
    /// UCUM unit of regression values (e.g. `mg/dL`), `None` for a unitless value.
    pub unit: Option<String>,
    /// The model's id on the node (the resources' `method` / `code` text name it).
    pub model: String,
    /// Who each resource is about.
    pub subject: Subject,
}

/// Softmax of logits, in f64 (stable: the largest logit is subtracted first).
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let exp: Vec<f64> = logits.iter().map(|&v| (f64::from(v) - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

fn name(o: &FhirOptions, j: usize, k: usize, fallback: &str) -> String {
    match &o.names {
        Some(n) if n.len() == k => n[j].clone(),
        _ => format!("{fallback} {j}"),
    }
}

fn subject(o: &FhirOptions, row: usize) -> Value {
    match &o.subject {
        Subject::InputRow => json!({"identifier": {
            "system": "urn:more-client:input-row", "value": row.to_string()}}),
        Subject::Template(t) => json!({"reference": t.replace("{row}", &row.to_string())}),
    }
}

/// The `RiskAssessment` of one sample from its decrypted logits.
pub fn risk_assessment(logits: &[f32], row: usize, o: &FhirOptions) -> Value {
    let p = softmax(logits);
    let predictions: Vec<Value> = p
        .iter()
        .enumerate()
        .map(|(j, &pj)| {
            json!({"outcome": {"text": name(o, j, p.len(), "class")},
                   "probabilityDecimal": pj})
        })
        .collect();
    json!({
        "resourceType": "RiskAssessment",
        "id": format!("row-{row}"),
        "status": "final",
        "subject": subject(o, row),
        "method": {"text": format!("MORE encrypted model {} (softmax of decrypted logits)", o.model)},
        "prediction": predictions,
    })
}

/// The `Observation`s of one sample, one per decrypted regression output.
pub fn observations(values: &[f32], row: usize, o: &FhirOptions) -> Vec<Value> {
    values
        .iter()
        .enumerate()
        .map(|(j, &v)| {
            let mut quantity = json!({"value": f64::from(v)});
            if let Some(u) = &o.unit {
                quantity["unit"] = json!(u);
                quantity["system"] = json!("http://unitsofmeasure.org");
                quantity["code"] = json!(u);
            }
            json!({
                "resourceType": "Observation",
                "id": format!("row-{row}-{j}"),
                "status": "final",
                "code": {"text": format!("{} (MORE encrypted model {})",
                                         name(o, j, values.len(), "output"), o.model)},
                "subject": subject(o, row),
                "valueQuantity": quantity,
            })
        })
        .collect()
}

/// A `collection` Bundle of the resources of every sample's decrypted outputs (`outputs[i]`: the
/// logits or values of sample `i`).
pub fn bundle(outputs: &[Vec<f32>], o: &FhirOptions) -> Value {
    let resources: Vec<Value> = outputs
        .iter()
        .enumerate()
        .flat_map(|(row, y)| match o.task {
            Task::Classification => vec![risk_assessment(y, row, o)],
            Task::Regression => observations(y, row, o),
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": resources.into_iter().map(|r| json!({"resource": r})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(task: Task) -> FhirOptions {
        FhirOptions {
            task,
            names: Some(vec!["a".into(), "b".into()]),
            unit: Some("mg/dL".into()),
            model: "m1".into(),
            subject: Subject::Template("Patient/p{row}".into()),
        }
    }

    #[test]
    fn risk_assessment_probabilities_sum_to_one() {
        let b = bundle(&[vec![0.0, 2.0_f32.ln()]], &opts(Task::Classification));
        let r = &b["entry"][0]["resource"];
        assert_eq!(r["resourceType"], "RiskAssessment");
        assert_eq!(r["subject"]["reference"], "Patient/p0");
        let p: Vec<f64> = (0..2)
            .map(|j| r["prediction"][j]["probabilityDecimal"].as_f64().unwrap())
            .collect();
        assert!((p[0] - 1.0 / 3.0).abs() < 1e-6 && (p[1] - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(r["prediction"][1]["outcome"]["text"], "b");
    }

    #[test]
    fn observations_carry_the_unit() {
        let b = bundle(&[vec![1.5, -2.0]], &opts(Task::Regression));
        assert_eq!(b["entry"].as_array().unwrap().len(), 2);
        let q = &b["entry"][1]["resource"]["valueQuantity"];
        assert_eq!(
            (q["value"].as_f64(), &q["code"]),
            (Some(-2.0), &json!("mg/dL"))
        );
    }
}
