//! Which model a data owner's client picks for a data set. The architectures themselves are
//! `more-core`'s presets ([`more_core::nn::ModelSpec::preset`], `table_mlp` included), so the
//! node builds the same network from `{"preset": "table_mlp"}` that the page, the CLI and Python
//! ask for.

/// The model the page picks for a data set: `regression_mlp` for a regression, `table_mlp` for a
/// table (one feature axis), `mnist_mlp` otherwise. `task` is the REST name
/// (`"classification"` / `"regression"`), `feature_shape` the shape of one sample.
pub fn default_preset(task: &str, feature_shape: &[usize]) -> &'static str {
    if task == "regression" {
        "regression_mlp"
    } else if feature_shape.len() == 1 {
        "table_mlp"
    } else {
        "mnist_mlp"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use more_core::nn::{LayerSpec, ModelSpec};

    #[test]
    fn tables_get_the_core_table_mlp() {
        assert_eq!(default_preset("classification", &[12]), "table_mlp");
        assert_eq!(default_preset("regression", &[12]), "regression_mlp");
        assert_eq!(default_preset("classification", &[1, 28, 28]), "mnist_mlp");
        let spec = ModelSpec::preset("table_mlp", &[12], 3).unwrap();
        assert_eq!(
            spec.layers,
            [
                LayerSpec::Flatten,
                LayerSpec::Dense { units: 32 },
                LayerSpec::Tanh,
                LayerSpec::Dense { units: 3 },
            ]
        );
        assert_eq!(spec.input_shape, [12]);
    }
}
