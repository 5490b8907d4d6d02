//! The loss of a model on a validation set: forward passes only (inference mode: no dropout, no
//! parameter update), in batches, with the training loss ([`LossKind`]), so that the key holder
//! can compare epochs, learning rates and stopping points on data the model did not train on.
//! On ciphertexts the result is a ciphertext: the node computes it, only the key holder reads it.

use super::error::Context;
use super::{LossKind, Model, NnError};
use crate::tensor::{PlanarTensor, Representation};
use crate::Float;

/// The mean loss of `model` over the validation set `(x, y)`, shape `[1]`.
///
/// `x: (samples, input_shape...)`, `y: (samples, outputs)`. The samples are taken in order, in
/// batches of at most `batch_size` (fewer when a prediction batch of that size would exceed the
/// activation budget); each batch's loss is normalised by the whole set
/// ([`LossKind::shard_loss_and_gradient`] with `batch = samples`), so their sum is the mean over
/// the samples: for [`LossKind::Mse`] the mean squared error per output value, for
/// [`LossKind::CrossEntropy`] the mean negative log-likelihood per sample, the quantities the
/// training loss averages over a batch.
///
/// # Errors
/// [`NnError::InvalidConfig`] when `batch_size` is 0 or `x` and `y` do not have the same,
/// non-zero number of samples; [`NnError::Tensor`] for a shape or basis mismatch with the model
/// or a non-finite output.
pub fn validation_loss<F: Float, R: Representation<F>>(
    model: &Model<F, R>,
    loss: LossKind,
    x: &PlanarTensor<F, R>,
    y: &PlanarTensor<F, R>,
    batch_size: usize,
) -> Result<PlanarTensor<F, R>, NnError> {
    let n = x.shape().first().copied().unwrap_or(0);
    if n == 0 || y.shape().first() != Some(&n) || batch_size == 0 {
        return Err(NnError::InvalidConfig(format!(
            "validation features {:?} and targets {:?} must have the same, non-zero number of \
             samples, and the batch size ({batch_size}) must be > 0",
            x.shape(),
            y.shape()
        )));
    }
    let batch = fitting_batch(model, batch_size.min(n));
    let mut total: Option<PlanarTensor<F, R>> = None;
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let xb = x.slice_axis(0, start, end).at("validation batch")?;
        let yb = y.slice_axis(0, start, end).at("validation batch")?;
        let out = model.forward(&xb)?;
        let (part, _) = loss
            .shard_loss_and_gradient(&out, &yb, n)
            .at("validation loss")?;
        total = Some(match total {
            None => part,
            Some(acc) => acc.add(&part).at("validation loss")?,
        });
    }
    Ok(total.expect("n > 0: at least one batch"))
}

/// The largest batch up to `wanted` whose prediction pass fits the activation budget (at least 1;
/// a model whose single sample does not fit fails in [`Model::forward`] with the budget's
/// message).
fn fitting_batch<F: Float, R: Representation<F>>(model: &Model<F, R>, wanted: usize) -> usize {
    let bytes = Model::<F, R>::bytes_per_value();
    let mut batch = wanted.max(1);
    while batch > 1 && model.budget().check_batch(batch, bytes, false).is_err() {
        batch /= 2;
    }
    batch
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::validation_loss;
    use crate::nn::{LossKind, Model, ModelSpec, NnError};
    use crate::tensor::{Compact, CompactBasis, Plain, PlanarTensor};

    /// Message and shadow eigenvalues of the test's basis, and its eigenvector matrix `S`.
    const M0: f64 = 1.7;
    const R0: f64 = -0.6;
    const S: [f64; 4] = [1.0, 0.5, 0.3, 1.0];

    /// `C0 = S·diag(M0, R0)·S⁻¹`, row-major.
    fn basis() -> CompactBasis {
        let det = S[0] * S[3] - S[1] * S[2];
        let inv = [S[3] / det, -S[1] / det, -S[2] / det, S[0] / det];
        let sd = [S[0] * M0, S[1] * R0, S[2] * M0, S[3] * R0];
        let c0 = [
            sd[0] * inv[0] + sd[1] * inv[2],
            sd[0] * inv[1] + sd[1] * inv[3],
            sd[2] * inv[0] + sd[3] * inv[2],
            sd[2] * inv[1] + sd[3] * inv[3],
        ];
        CompactBasis::new(c0).unwrap()
    }

    /// The compact ciphertext of `values` with shadows drawn uniformly from ±0.1 (the key
    /// crate's encryption written out: `S·diag(x, r)·S⁻¹ = a·I + b·C0` with
    /// `b = (x − r)/(M0 − R0)`, `a = x − b·M0`).
    fn encrypt(values: &ArrayD<f32>, rng: &mut ChaCha8Rng) -> PlanarTensor<f32, Compact> {
        let mut a = values.clone();
        let mut b = values.clone();
        for (ai, bi) in a.iter_mut().zip(b.iter_mut()) {
            let x = f64::from(*ai);
            let r: f64 = rng.random_range(-0.1..0.1);
            let bb = (x - r) / (M0 - R0);
            *bi = bb as f32;
            *ai = (x - bb * M0) as f32;
        }
        PlanarTensor::from_planes(Compact { basis: basis() }, vec![a, b]).unwrap()
    }

    fn decrypt(t: &PlanarTensor<f32, Compact>) -> f64 {
        let p = t.planes();
        f64::from(p[0][[0]]) + f64::from(p[1][[0]]) * M0
    }

    /// A data set of `n` samples of 6 features and 3 outputs (one-hot when `one_hot`).
    fn data(n: usize, one_hot: bool, seed: u64) -> (ArrayD<f32>, ArrayD<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = ArrayD::from_shape_fn(IxDyn(&[n, 6]), |_| rng.random_range(-1.0f32..1.0));
        let y = ArrayD::from_shape_fn(IxDyn(&[n, 3]), |i| match one_hot {
            true => f32::from(u8::from(i[1] == i[0] % 3)),
            false => rng.random_range(-1.0f32..1.0),
        });
        (x, y)
    }

    fn spec() -> ModelSpec {
        ModelSpec::preset("table_mlp", &[6], 3).unwrap()
    }

    /// The mean over all samples, computed in one plaintext pass: the reference.
    fn plain_mean(loss: LossKind, x: &ArrayD<f32>, y: &ArrayD<f32>) -> f64 {
        let model = Model::<f32, Plain>::new(&spec(), Plain, 7).unwrap();
        let out = model.forward(&PlanarTensor::plain(x.clone())).unwrap();
        let (l, _) = loss
            .loss_and_gradient(&out, &PlanarTensor::plain(y.clone()))
            .unwrap();
        f64::from(l.values()[[0]])
    }

    /// Batched plaintext equals one pass over all samples (to f32 summation order: 1e-5
    /// relative), for both losses and batch sizes that do and do not divide the set.
    #[test]
    fn batched_plaintext_equals_the_mean_over_all_samples() {
        for (loss, one_hot) in [(LossKind::Mse, false), (LossKind::CrossEntropy, true)] {
            let (x, y) = data(50, one_hot, 1);
            let model = Model::<f32, Plain>::new(&spec(), Plain, 7).unwrap();
            let want = plain_mean(loss, &x, &y);
            for batch in [1, 7, 16, 50, 500] {
                let (px, py) = (
                    PlanarTensor::plain(x.clone()),
                    PlanarTensor::plain(y.clone()),
                );
                let got = validation_loss(&model, loss, &px, &py, batch).unwrap();
                let got = f64::from(got.values()[[0]]);
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{loss:?} batch {batch}: {got} vs {want}"
                );
            }
        }
    }

    /// On compact ciphertexts the loss decrypts to the plaintext computation. Tolerance 1e-4
    /// relative: f32 planes, and the shadow slot's values (up to ±0.1 on the inputs) round with
    /// the message slot's, so the message loses a few more bits than a plaintext pass.
    #[test]
    fn encrypted_loss_decrypts_to_the_plaintext_loss() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (loss, one_hot) in [(LossKind::Mse, false), (LossKind::CrossEntropy, true)] {
            let (x, y) = data(40, one_hot, 2);
            let want = plain_mean(loss, &x, &y);
            let rep = Compact { basis: basis() };
            let model = Model::<f32, Compact>::new(&spec(), rep, 7).unwrap();
            let (cx, cy) = (encrypt(&x, &mut rng), encrypt(&y, &mut rng));
            let got = decrypt(&validation_loss(&model, loss, &cx, &cy, 16).unwrap());
            assert!(
                (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                "{loss:?}: decrypted {got} vs plaintext {want}"
            );
        }
    }

    /// The model's parameters are the same bits after a validation pass.
    #[test]
    fn validation_does_not_change_the_model() {
        let (x, y) = data(20, true, 4);
        let model = Model::<f32, Plain>::new(&spec(), Plain, 7).unwrap();
        let before = model.to_safetensors();
        let (px, py) = (PlanarTensor::plain(x), PlanarTensor::plain(y));
        validation_loss(&model, LossKind::CrossEntropy, &px, &py, 8).unwrap();
        assert_eq!(model.to_safetensors(), before);
    }

    /// Mismatched sample counts and a zero batch are refused with `InvalidConfig`.
    #[test]
    fn mismatched_samples_and_zero_batches_are_refused() {
        let (x, y) = data(10, true, 5);
        let model = Model::<f32, Plain>::new(&spec(), Plain, 7).unwrap();
        let px = PlanarTensor::plain(x);
        let short = PlanarTensor::plain(y.slice_axis(ndarray::Axis(0), (0..9).into()).to_owned());
        let full = PlanarTensor::plain(y);
        for (t, batch) in [(&short, 4), (&full, 0)] {
            let e = validation_loss(&model, LossKind::CrossEntropy, &px, t, batch).unwrap_err();
            assert!(matches!(e, NnError::InvalidConfig(_)), "{e:?}");
        }
    }
}
