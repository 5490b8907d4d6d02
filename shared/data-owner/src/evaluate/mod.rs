//! Evaluation of a model where the secret key is: pure functions over decrypted predictions and
//! the plaintext targets the data owner kept, so a clinician can act on the results.
//!
//! | what | module |
//! |---|---|
//! | a count and its fraction (sensitivity 45/50) | [`ratio`] |
//! | confusion matrix; sensitivity, specificity, PPV, NPV for a positive class | [`confusion`] |
//! | ROC curve and AUC (ties handled; Fawcett 2006) | [`roc`] |
//! | calibration bins (reliability diagram) | [`calibration`] |
//! | the classification report: class names, accuracy against the majority-class and balanced-chance baselines | [`classification`] |
//! | the regression report: MAE, RMSE, R² per output in the target's units against the mean and a linear model | [`regression`] |
//! | ordinary least squares (the linear-model baseline) | [`linear`] |
//!
//! Predictions are the decrypted model outputs (logits for classification, standardised values
//! for regression); the reports turn them into probabilities and target units themselves.

pub mod calibration;
pub mod classification;
pub mod confusion;
pub mod linear;
pub mod ratio;
pub mod regression;
pub mod roc;

pub use calibration::{calibration_bins, CalibrationBin};
pub use classification::{classification_report, softmax, ClassificationReport};
pub use confusion::{BinaryMetrics, ConfusionMatrix};
pub use linear::LinearModel;
pub use ratio::Ratio;
pub use regression::{regression_report, OutputErrors, RegressionInput, RegressionReport};
pub use roc::{roc_curve, Roc, RocPoint};

/// Inputs that do not fit together (the message is for the user, and names what differs).
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{0}")]
pub struct EvaluateError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, EvaluateError> {
    Err(EvaluateError(msg.into()))
}
