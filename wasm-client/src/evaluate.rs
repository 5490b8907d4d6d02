//! Results a clinician can act on, in the page: the JS-facing face of
//! `more_data_owner::evaluate` (classification and regression reports over the decrypted
//! predictions and the plaintext targets the page kept) and of `more_data_owner::data::score`
//! (new cases encoded as the training data were: tables and image files). Reports come back as plain objects
//! (camelCase fields, `null` where the library has `None`); nothing here is sent anywhere.

use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use more_data_owner::data::score::{encode_new_images, encode_new_table, NewCases};
use more_data_owner::evaluate::{classification_report, regression_report, RegressionInput};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::data::task_arg;

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    let s = serde_wasm_bindgen::Serializer::json_compatible();
    v.serialize(&s).map_err(|e| JsError::new(&e.to_string()))
}

fn indices(v: &[u32]) -> Vec<usize> {
    v.iter().map(|&i| i as usize).collect()
}

/// The classification report (`more_data_owner::evaluate::ClassificationReport`) of `outputs`
/// (`labels.length × classNames.length` decrypted logits, row-major) against the test `labels`,
/// for the positive class `positive`, baselines from the training part's `trainLabels`.
#[wasm_bindgen(js_name = evaluateClassification)]
pub fn evaluate_classification(
    outputs: &[f32],
    labels: &[u32],
    class_names: Vec<String>,
    train_labels: &[u32],
    positive: u32,
) -> Result<JsValue, JsError> {
    let r = classification_report(
        outputs,
        &indices(labels),
        &class_names,
        &indices(train_labels),
        positive as usize,
    )?;
    to_js(&r)
}

/// The regression report (`more_data_owner::evaluate::RegressionReport`): `outputs` and the
/// targets standardised, `mean`/`std` the training targets' moments (the data set's
/// `targetScale`), features `width` per row, `names` the target columns.
#[wasm_bindgen(js_name = evaluateRegression)]
#[allow(clippy::too_many_arguments)] // the parts of the page's data set, one by one
pub fn evaluate_regression(
    outputs: &[f32],
    test_y: &[f32],
    test_x: &[f32],
    train_x: &[f32],
    train_y: &[f32],
    width: usize,
    names: Vec<String>,
    mean: Vec<f64>,
    std: Vec<f64>,
) -> Result<JsValue, JsError> {
    let r = regression_report(&RegressionInput {
        outputs,
        test_y,
        test_x,
        train_x,
        train_y,
        width,
        names: &names,
        target_mean: &mean,
        target_std: &std,
    })?;
    to_js(&r)
}

/// New cases as the page holds them: `{x: Float32Array, featureShape, rows, ids, idColumn, notes,
/// featureNames}`.
fn cases_js(cases: &NewCases, feature_shape: &[usize]) -> Result<JsValue, JsError> {
    let o = Object::new();
    let meta = serde_json::json!({
        "featureShape": feature_shape,
        "rows": cases.rows(),
        "ids": cases.ids,
        "idColumn": cases.id_column,
        "notes": cases.notes,
        "featureNames": cases.feature_names,
    });
    let set = |k: &str, v: JsValue| {
        Reflect::set(&o, &k.into(), &v)
            .map_err(|_| JsError::new("cannot build the new cases object"))
    };
    for (k, v) in meta.as_object().into_iter().flatten() {
        set(k, to_js(v)?)?;
    }
    set("x", Float32Array::from(&cases.x[..]).into())?;
    Ok(o.into())
}

/// New cases of a table model: the table `newBytes` encoded as the training table `trainBytes`
/// was read (same `targets` and `task`; `more_data_owner::data::score::encode_new_table`),
/// features standardised as the training part's; see `cases_js` for the object.
#[wasm_bindgen(js_name = scoreTable)]
pub fn score_table(
    train_bytes: &[u8],
    train_name: &str,
    targets: Vec<String>,
    task: &str,
    new_bytes: &[u8],
    new_name: &str,
) -> Result<JsValue, JsError> {
    let cases = encode_new_table(
        train_bytes,
        train_name,
        &targets,
        task_arg(task)?,
        new_bytes,
        new_name,
    )?;
    cases_js(&cases, &[cases.feature_names.len()])
}

/// New cases of an image model: image files (`names[i]` the name of `files[i]`, a `Uint8Array`;
/// DICOM, PNG, JPEG) decoded as training images are, `size × size`, every frame a case with the id
/// `name#frame` (`more_data_owner::data::score::encode_new_images`); featureShape `[1, size,
/// size]`.
#[wasm_bindgen(js_name = scoreImages)]
pub fn score_images(names: Vec<String>, files: Array, size: usize) -> Result<JsValue, JsError> {
    let bytes: Vec<Vec<u8>> = files
        .iter()
        .map(|f| f.dyn_into::<Uint8Array>().map(|a| a.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| JsError::new("image files must be Uint8Arrays"))?;
    let named: Vec<(String, Vec<u8>)> = names.into_iter().zip(bytes).collect();
    cases_js(&encode_new_images(&named, size)?, &[1, size, size])
}
