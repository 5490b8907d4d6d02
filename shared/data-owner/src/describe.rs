//! One description of a data set as read, the same whichever client read it: the page (which
//! computes it in JS from the tensors it would encrypt), `more-client data inspect`, Python's
//! `more_client.inspect` and `more-node data inspect`. The conformance suite
//! (`shared/data-owner/tests/conformance/`, `web/tests/conformance.test.mjs`) compares them.
//!
//! Tensors are named by the SHA-256 of their values as f32 little-endian bytes, so two clients
//! agree only when every value is bit-identical.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::Split;

/// What a client made of a data set: shapes, task, class names, notes and the digests of the
/// training and test tensors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// `"classification"` or `"regression"`.
    pub task: String,
    /// Shape of one sample (`[features]` for tables, `[1, h, w]` for images).
    pub feature_shape: Vec<usize>,
    /// Target width (number of classes, or of target columns).
    pub target_dim: usize,
    /// Samples in the training part.
    pub train_rows: usize,
    /// Samples in the test part.
    pub test_rows: usize,
    /// Class names in class-index order (classification), else `None` (`null` in JSON).
    pub class_names: Option<Vec<String>>,
    /// Every decision taken on the data, as the client shows it.
    pub notes: Vec<String>,
    /// SHA-256 (hex) of the training features, f32 little-endian, row-major.
    pub train_x_sha256: String,
    /// SHA-256 (hex) of the training targets (one-hot for classification).
    pub train_y_sha256: String,
    /// SHA-256 (hex) of the test features.
    pub test_x_sha256: String,
    /// SHA-256 (hex) of the test targets.
    pub test_y_sha256: String,
}

/// SHA-256 (lowercase hex) of `values` as f32 little-endian bytes.
pub fn f32_sha256(values: &[f32]) -> String {
    let mut h = Sha256::new();
    for v in values {
        h.update(v.to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The description of `split` read with `notes`.
pub fn describe(split: &Split, notes: &[String]) -> Description {
    let Split { train, test } = split;
    Description {
        task: train.task.as_str().to_string(),
        feature_shape: train.feature_shape.clone(),
        target_dim: train.target_dim,
        train_rows: train.rows(),
        test_rows: test.rows(),
        class_names: train.class_names.clone(),
        notes: notes.to_vec(),
        train_x_sha256: f32_sha256(&train.x),
        train_y_sha256: f32_sha256(&train.y),
        test_x_sha256: f32_sha256(&test.x),
        test_y_sha256: f32_sha256(&test.y),
    }
}

impl Description {
    /// Pretty JSON, fields in declaration order (what every client prints).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a Description always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_of_little_endian_f32_bytes() {
        // SHA-256 of the 8 bytes 00 00 80 3f 00 00 00 40 (1.0f32, 2.0f32 little-endian).
        let bytes: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let want: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(f32_sha256(&[1.0, 2.0]), want);
        // One ULP apart gives another digest.
        assert_ne!(
            f32_sha256(&[1.0, 2.0]),
            f32_sha256(&[1.0, f32::from_bits(2.0f32.to_bits() + 1)])
        );
    }
}
