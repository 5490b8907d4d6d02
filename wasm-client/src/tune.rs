//! Automatic training settings for the page (`web/tuning.js`): the rules of
//! `more_data_owner::tune` (learning-rate range test, its choice, early stopping, the validation
//! split, the suggestion when a model does not beat its baseline), JSON objects in and out through
//! `serde-wasm-bindgen`. The page runs the plan as encrypted jobs on the node, decrypts their
//! validation losses in its Worker, and hands the numbers to these functions.

use more_data_owner::tune::{
    self, Diagnosis, EarlyStopping, ModelChoiceRequest, PlanRequest, Trial,
};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

/// JSON in.
fn input<T: for<'de> Deserialize<'de>>(v: JsValue, what: &str) -> Result<T, JsError> {
    serde_wasm_bindgen::from_value(v).map_err(|e| JsError::new(&format!("{what}: {e}")))
}

/// JSON out (plain objects, not `Map`s).
fn output<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

/// The range test's plan: `{samples, classes?, budget_samples?, low?, high?, per_decade?,
/// batch_size?}` → `{rates, epochs, train_samples, validation_samples, validation_fraction,
/// batch_size}`.
#[wasm_bindgen(js_name = tunePlan)]
pub fn tune_plan(request: JsValue) -> Result<JsValue, JsError> {
    let req: PlanRequest = input(request, "tunePlan")?;
    output(&tune::range_test_plan(&req).map_err(|e| JsError::new(&e))?)
}

/// The chosen rate: `[{learning_rate, validation_losses, diverged}]` →
/// `{learning_rate (null when none is usable), reason}`.
#[wasm_bindgen(js_name = tuneChoose)]
pub fn tune_choose(trials: JsValue) -> Result<JsValue, JsError> {
    let trials: Vec<Trial> = input(trials, "tuneChoose")?;
    output(&tune::choose_rate(&trials))
}

/// The kept model kind by the one-standard-error rule: `{loss, width, targets, runs: [{label,
/// outputs, diverged}]}` (runs simplest first, outputs on the validation rows) →
/// `{index (null when every run diverged), losses: [[mean, standard error] | null], reason}`.
#[wasm_bindgen(js_name = tuneChooseModel)]
pub fn tune_choose_model(request: JsValue) -> Result<JsValue, JsError> {
    let request: ModelChoiceRequest = input(request, "tuneChooseModel")?;
    output(&tune::choose_model(&request))
}

/// Early stopping: `{validation_losses, patience?, min_delta?}` → `{stop, best_epoch}`
/// (`best_epoch` 1-based, `null` before any loss).
#[wasm_bindgen(js_name = tuneEarlyStop)]
pub fn tune_early_stop(request: JsValue) -> Result<JsValue, JsError> {
    #[derive(Deserialize)]
    struct Request {
        validation_losses: Vec<f64>,
        patience: Option<usize>,
        min_delta: Option<f64>,
    }
    let req: Request = input(request, "tuneEarlyStop")?;
    let default = EarlyStopping::default();
    let rule = EarlyStopping {
        patience: req.patience.unwrap_or(default.patience),
        min_delta: req.min_delta.unwrap_or(default.min_delta),
    };
    output(&rule.decide(&req.validation_losses))
}

/// The validation split: `{n, labels (class per sample, or null), fraction, seed}` →
/// `{train, validation}` (indices, increasing).
#[wasm_bindgen(js_name = tuneSplit)]
pub fn tune_split(request: JsValue) -> Result<JsValue, JsError> {
    #[derive(Deserialize)]
    struct Request {
        n: usize,
        #[serde(default)]
        labels: Option<Vec<usize>>,
        fraction: f64,
        #[serde(default)]
        seed: u32,
    }
    #[derive(Serialize)]
    struct Split {
        train: Vec<usize>,
        validation: Vec<usize>,
    }
    let req: Request = input(request, "tuneSplit")?;
    let (train, validation) =
        tune::validation_split(req.n, req.labels.as_deref(), req.fraction, req.seed)
            .map_err(|e| JsError::new(&e))?;
    output(&Split { train, validation })
}

/// The suggestion: `{task, learning_rate, epochs, training_losses, validation_losses, score,
/// baseline, class_counts?, diverged?}` → `{beats_baseline, advice: [{cause, action, text}]}`.
#[wasm_bindgen(js_name = tuneSuggest)]
pub fn tune_suggest(diagnosis: JsValue) -> Result<JsValue, JsError> {
    let d: Diagnosis = input(diagnosis, "tuneSuggest")?;
    output(&tune::advise(&d))
}
