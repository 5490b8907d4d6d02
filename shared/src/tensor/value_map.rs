//! One function applied at every index of several planes of one length, writing several output
//! planes in the same pass: the per-value arithmetic of the ciphertext representations.
//!
//! The operand and result counts are constants, so the loop body is the function alone: with the
//! closed forms of `algebra::functions` inlined (their branches only select between values), the
//! compiler runs it on SIMD lanes. Chunks of [`CHUNK`] values go to rayon's threads (with the
//! `parallel` feature), and each chunk is compiled for the widest instruction set the processor
//! has (pulp's runtime dispatch: AVX2 and FMA on x86-64). The results do not depend on either:
//! every lane computes the same IEEE operations in the same order (Rust never contracts `a·b + c`
//! into a fused multiply-add by itself).

use ndarray::{ArrayD, IxDyn};

use crate::Float;

/// Values per chunk (the unit of the parallelism).
pub(crate) const CHUNK: usize = 8192;

/// `g` of the values at each index of the `N` planes `inputs` (one length, standard layout),
/// as `M` planes of `shape`.
pub(crate) fn zip_map<F: Float, const N: usize, const M: usize>(
    shape: &[usize],
    inputs: [&ArrayD<F>; N],
    g: impl Fn([F; N]) -> [F; M] + Sync + Send,
) -> Vec<ArrayD<F>> {
    let slices = inputs.map(|p| p.as_slice().expect("planes are kept in standard layout"));
    let n = slices.first().map_or(0, |s| s.len());
    let mut outs: [Vec<F>; M] = std::array::from_fn(|_| vec![F::zero(); n]);
    let mut parts = outs.each_mut().map(|o| o.chunks_mut(CHUNK));
    let chunks: Vec<[&mut [F]; M]> = (0..n.div_ceil(CHUNK))
        .map(|_| parts.each_mut().map(|p| p.next().expect("equal lengths")))
        .collect();
    let fill = |(c, chunk): (usize, [&mut [F]; M])| {
        let start = c * CHUNK;
        let ins = slices.map(|s| &s[start..start + chunk[0].len()]);
        pulp::Arch::new().dispatch(
            #[inline(always)]
            || map_chunk(ins, chunk, &g),
        );
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        chunks.into_par_iter().enumerate().for_each(fill);
    }
    #[cfg(not(feature = "parallel"))]
    chunks.into_iter().enumerate().for_each(fill);
    outs.into_iter()
        .map(|v| ArrayD::from_shape_vec(IxDyn(shape), v).expect("length matches shape"))
        .collect()
}

/// `outs[m][j] = g(ins[..][j])[m]` for every `j`; all slices have one length.
#[inline(always)]
fn map_chunk<F: Float, const N: usize, const M: usize>(
    ins: [&[F]; N],
    mut outs: [&mut [F]; M],
    g: &impl Fn([F; N]) -> [F; M],
) {
    let len = outs.first().map_or(0, |o| o.len());
    // Known lengths let the compiler drop the bounds checks, and with them the branches that
    // would keep the loop off the SIMD lanes.
    let ins = ins.map(|s| &s[..len]);
    let mut outs = outs.each_mut().map(|o| &mut o[..len]);
    for j in 0..len {
        let values = g(std::array::from_fn(|k| ins[k][j]));
        for (out, value) in outs.iter_mut().zip(values) {
            out[j] = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};

    use super::{zip_map, CHUNK};

    #[test]
    fn zip_map_writes_every_chunk_of_every_plane() {
        let n = 2 * CHUNK + 77;
        let a = ArrayD::from_shape_fn(IxDyn(&[n]), |i| i[0] as f64);
        let b = ArrayD::from_shape_fn(IxDyn(&[n]), |i| (3 * i[0]) as f64);
        let out = zip_map(&[n], [&a, &b], |[x, y]| [x + y, x * y]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], &a + &b);
        assert_eq!(out[1], &a * &b);
    }
}
