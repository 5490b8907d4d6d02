//! The node's evaluator: runs a [`QuantizedModel`] on an encrypted batch.
//!
//! Layout (CryptoNets, Gilad-Bachrach et al. 2016; nGraph-HE2, Boemer et al. 2019): slot j of
//! input ciphertext i holds input value i of sample j, so a dense or convolution layer is a sum
//! of ciphertexts times integer scalars (no rotations, no Galois keys), and x² is one ciphertext
//! product. Only the relinearization key reaches the node.
//!
//! The evaluator never decrypts and holds no secret: it sees the model, the number of samples
//! and the timing.
mod fast;
mod reference;

use crate::model::linear::Step;
use crate::params::bfv_parameters;
use crate::{QuantizedModel, SecureError};
use fhe::bfv::{Ciphertext, RelinearizationKey};

/// Level the outputs are switched down to before they are returned (0 = all primes): each level
/// drops one 62-bit prime and shrinks the answer by a third while keeping the noise far below
/// Δ/2 (measured by the tests' noise budget).
pub const OUTPUT_LEVEL: usize = 1;

/// Runs one published model on encrypted batches.
#[derive(Debug)]
pub struct Evaluator {
    steps: Vec<Step>,
    /// The fast form of each linear step (`None` for x²), index-aligned with `steps`.
    fast: Vec<Option<fast::FastLinear>>,
    input_len: usize,
    output_len: usize,
    reference: reference::Encoded,
}

impl Evaluator {
    /// Validates the model, checks that it cannot overflow the plaintext modulus
    /// ([`QuantizedModel::check_fits`]) and prepares its weights.
    pub fn new(model: &QuantizedModel) -> Result<Self, SecureError> {
        model.check_fits(crate::params::plaintext_modulus())?;
        let steps = model.steps()?;
        let reference = reference::Encoded::new(&steps)?;
        let fast = steps
            .iter()
            .map(|s| match s {
                Step::Linear(map) => Some(fast::FastLinear::new(map)),
                Step::Square => None,
            })
            .collect();
        Ok(Self {
            input_len: model.input_len(),
            output_len: model.output_len(),
            steps,
            fast,
            reference,
        })
    }

    /// Ciphertexts a request carries (one per input value).
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// Ciphertexts an answer carries (one per output value).
    pub fn output_len(&self) -> usize {
        self.output_len
    }

    /// Evaluates the model on `inputs` (`input_len` two-part ciphertexts at the top level, in
    /// input order) with the caller's relinearization key; returns `output_len` two-part
    /// ciphertexts at [`OUTPUT_LEVEL`], in output order.
    ///
    /// Linear layers run on the raw NTT coefficients as exact limb GEMMs (see `fast.rs`); x² is
    /// a ciphertext squaring WITHOUT relinearization, and the three-part products go through the
    /// next linear layer as they are: only the outputs are relinearized (lazy relinearization,
    /// nGraph-HE2, Boemer et al. 2019), e.g. 10 relinearizations instead of 64 for a
    /// 784-64-x²-10 MLP. The decryptions equal those of
    /// [`evaluate_reference`](Self::evaluate_reference).
    pub fn evaluate(
        &self,
        key: &RelinearizationKey,
        inputs: Vec<Ciphertext>,
    ) -> Result<Vec<Ciphertext>, SecureError> {
        self.check_inputs(&inputs)?;
        let mut x = inputs;
        for (step, fast) in self.steps.iter().zip(&self.fast) {
            x = match (step, fast) {
                (Step::Linear(map), Some(fast)) => {
                    let mut y = fast.apply(&x)?;
                    for (ct, &b) in y.iter_mut().zip(&map.bias) {
                        *ct += self.reference.get(b);
                    }
                    y
                }
                _ => map_range(x.len(), |i| Ok(&x[i] * &x[i]))?,
            };
        }
        let mut out = map_range(x.len(), |i| {
            let mut ct = x[i].clone();
            if ct.len() == 3 {
                key.relinearizes(&mut ct)?;
            }
            Ok(ct)
        })?;
        switch_outputs(&mut out)?;
        Ok(out)
    }

    /// The same result through fhe.rs's plain API only (`dot_product_scalar`, `Multiplicator`
    /// with relinearization after every product): the reference the fast path is tested against.
    pub fn evaluate_reference(
        &self,
        key: &RelinearizationKey,
        inputs: Vec<Ciphertext>,
    ) -> Result<Vec<Ciphertext>, SecureError> {
        self.check_inputs(&inputs)?;
        self.reference.evaluate(&self.steps, key, inputs)
    }

    fn check_inputs(&self, inputs: &[Ciphertext]) -> Result<(), SecureError> {
        if inputs.len() != self.input_len {
            return Err(SecureError::Invalid(format!(
                "{} input ciphertexts, the model takes {}",
                inputs.len(),
                self.input_len
            )));
        }
        let par = bfv_parameters();
        for ct in inputs {
            let top = ct.len() == 2 && par.level_of_context(ct[0].ctx()).ok() == Some(0);
            if !top {
                return Err(SecureError::Invalid(
                    "input ciphertexts must be fresh two-part ciphertexts at the top level".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Switches every output down to [`OUTPUT_LEVEL`].
pub(crate) fn switch_outputs(outputs: &mut [Ciphertext]) -> Result<(), SecureError> {
    for ct in outputs {
        ct.switch_to_level(OUTPUT_LEVEL)?;
    }
    Ok(())
}

/// `f` over `0..n`, on rayon's threads with the `parallel` feature.
pub(crate) fn map_range<T: Send, F>(n: usize, f: F) -> Result<Vec<T>, SecureError>
where
    F: Fn(usize) -> Result<T, SecureError> + Sync + Send,
{
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        (0..n).map(f).collect()
    }
}
