//! Training settings for data nobody tuned them on, decided where the key is. The node trains
//! encrypted jobs and stores their losses encrypted; the data owner's client (the page through
//! `more-wasm`, the command line's `train --auto`) decrypts them and applies these rules:
//!
//! - [`plan`]: a learning-rate range test, short encrypted jobs at rates on a log grid over a
//!   bounded training subset, each with a validation set (after Smith 2017, "Cyclical Learning
//!   Rates for Training Neural Networks", WACV 2017, §3.3: the "LR range test", run here as one
//!   short job per rate because every job is an independent encrypted run);
//! - [`choose`]: the rate with the lowest decrypted validation loss, ties to the smaller rate,
//!   diverged trials excluded;
//! - [`model_choice`]: between model kinds (a linear model beside the table MLP), the simplest
//!   whose validation loss is within one standard error of the lowest (the one-standard-error
//!   rule), from the per-sample losses of the decrypted models;
//! - [`stop`]: early stopping, patience on the validation loss with a minimum relative
//!   improvement;
//! - [`split`]: the validation split (a fraction, stratified by class, deterministic from a
//!   seed);
//! - [`advice`]: the plain-language suggestion when a model does not beat its baseline: which
//!   way to move what (rate too high, too low, too few epochs, overfitting, class imbalance).
//!
//! Every function is pure (values in, values out) and serde-friendly, so the page calls the same
//! rules through JSON.

pub mod advice;
pub mod choose;
pub mod model_choice;
pub mod plan;
pub mod split;
pub mod stop;

pub use advice::{advise, Advice, Cause, Diagnosis, Suggestion};
pub use choose::{choose_rate, Choice, Trial};
pub use model_choice::{choose_model, ModelChoice, ModelChoiceRequest, ModelRun, SampleLoss};
pub use plan::{range_test_plan, Plan, PlanRequest};
pub use split::validation_split;
pub use stop::{EarlyStopping, StopDecision};
