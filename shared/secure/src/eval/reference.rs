//! The evaluator through fhe.rs's plain API: `dot_product_scalar` against pre-encoded constant
//! plaintexts, `Multiplicator` with relinearization after every product.
use super::{map_range, switch_outputs};
use crate::model::linear::{LinearMap, Step};
use crate::params::{bfv_parameters, DEGREE};
use crate::SecureError;
use fhe::bfv::{
    dot_product_scalar, Ciphertext, Encoding, Multiplicator, Plaintext, RelinearizationKey,
};
use fhe_traits::FheEncoder;
use std::collections::HashMap;

/// Every distinct weight and bias of a model as a plaintext with that integer in every slot.
#[derive(Debug)]
pub(crate) struct Encoded {
    constants: HashMap<i64, Plaintext>,
}

fn constant(v: i64) -> Result<Plaintext, SecureError> {
    Ok(Plaintext::try_encode(
        &vec![v; DEGREE],
        Encoding::simd_at_level(0),
        bfv_parameters(),
    )?)
}

impl Encoded {
    pub fn new(steps: &[Step]) -> Result<Self, SecureError> {
        let mut constants = HashMap::new();
        constants.insert(0, constant(0)?);
        for step in steps {
            if let Step::Linear(map) = step {
                for v in map
                    .rows
                    .iter()
                    .flatten()
                    .map(|(_, w)| w.abs())
                    .chain(map.bias.iter().copied())
                {
                    if let std::collections::hash_map::Entry::Vacant(e) = constants.entry(v) {
                        e.insert(constant(v)?);
                    }
                }
            }
        }
        Ok(Self { constants })
    }

    /// The plaintext with `v` in every slot (any weight magnitude or bias of the model).
    pub fn get(&self, v: i64) -> &Plaintext {
        &self.constants[&v]
    }

    /// Σ |w|·x over the entries of one sign (fhe.rs lifts a plaintext to [0, t), so a negative
    /// weight as a plaintext would be t − |w| and multiply the noise by about t).
    fn signed_sum(
        &self,
        row: &[(u32, i64)],
        x: &[Ciphertext],
        negative: bool,
    ) -> Result<Option<Ciphertext>, SecureError> {
        let part: Vec<(u32, i64)> = row
            .iter()
            .copied()
            .filter(|&(_, w)| (w < 0) == negative)
            .collect();
        if part.is_empty() {
            return Ok(None);
        }
        Ok(Some(dot_product_scalar(
            part.iter().map(|&(i, _)| &x[i as usize]),
            part.iter().map(|&(_, w)| self.get(w.abs())),
        )?))
    }

    fn linear(&self, map: &LinearMap, x: &[Ciphertext]) -> Result<Vec<Ciphertext>, SecureError> {
        map_range(map.outputs(), |o| {
            let row = &map.rows[o];
            let pos = self.signed_sum(row, x, false)?;
            let neg = self.signed_sum(row, x, true)?;
            let mut y = match (pos, neg) {
                (Some(p), Some(n)) => &p - &n,
                (Some(p), None) => p,
                (None, Some(n)) => -&n,
                (None, None) => dot_product_scalar(x[..1].iter(), std::iter::once(self.get(0)))?,
            };
            y += self.get(map.bias[o]);
            Ok(y)
        })
    }

    pub fn evaluate(
        &self,
        steps: &[Step],
        key: &RelinearizationKey,
        inputs: Vec<Ciphertext>,
    ) -> Result<Vec<Ciphertext>, SecureError> {
        let mul = Multiplicator::default(key)?;
        let mut x = inputs;
        for step in steps {
            x = match step {
                Step::Linear(map) => self.linear(map, &x)?,
                Step::Square => map_range(x.len(), |i| Ok(mul.multiply(&x[i], &x[i])?))?,
            };
        }
        switch_outputs(&mut x)?;
        Ok(x)
    }
}
