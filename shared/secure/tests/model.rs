//! The plaintext side of secure mode: validation, the exact integer reference and the
//! worst-case bounds that decide whether a model may be served.
use more_secure::{
    model::MAX_WIDTH, plaintext_modulus, InputQuantizer, QuantizedLayer, QuantizedModel,
    SecureError,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn model(
    input_shape: Vec<usize>,
    min: i64,
    max: i64,
    layers: Vec<QuantizedLayer>,
) -> QuantizedModel {
    QuantizedModel {
        input_shape,
        input: InputQuantizer {
            offset: vec![0.5],
            scale: vec![0.25],
            min,
            max,
        },
        layers,
        output_scale: 0.5,
        class_names: vec![],
    }
}

fn dense(inputs: usize, outputs: usize, weights: Vec<i64>, bias: Vec<i64>) -> QuantizedLayer {
    QuantizedLayer::Dense {
        inputs,
        outputs,
        weights,
        bias,
    }
}

/// A direct, loop-by-loop convolution (cross-correlation with zero padding) as the oracle.
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &[i64],
    [c, h, w]: [usize; 3],
    oc: usize,
    [kh, kw]: [usize; 2],
    [sh, sw]: [usize; 2],
    [ph, pw]: [usize; 2],
    wt: &[i64],
    b: &[i64],
) -> Vec<i64> {
    let oh = (h + 2 * ph - kh) / sh + 1;
    let ow = (w + 2 * pw - kw) / sw + 1;
    let mut out = vec![];
    for o in 0..oc {
        for y in 0..oh {
            for xx in 0..ow {
                let mut acc = b[o];
                for ci in 0..c {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (y * sh + ky) as isize - ph as isize;
                            let ix = (xx * sw + kx) as isize - pw as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                acc += wt[((o * c + ci) * kh + ky) * kw + kx]
                                    * x[(ci * h + iy as usize) * w + ix as usize];
                            }
                        }
                    }
                }
                out.push(acc);
            }
        }
    }
    out
}

#[test]
fn forward_plaintext_matches_a_direct_convolution_and_dense_layer() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let shape = [2, 7, 6];
    let (oc, k, s, p) = (3, [3, 2], [2, 1], [1, 1]);
    let wt: Vec<i64> = (0..oc * 2 * 6).map(|_| rng.random_range(-5..=5)).collect();
    let b: Vec<i64> = (0..oc).map(|_| rng.random_range(-9..=9)).collect();
    let conv = QuantizedLayer::Conv2d {
        in_channels: 2,
        out_channels: oc,
        kernel: k,
        stride: s,
        padding: p,
        weights: wt.clone(),
        bias: b.clone(),
    };
    // output [3, 4, 7] = 84 values
    let dw: Vec<i64> = (0..84 * 2).map(|_| rng.random_range(-3..=3)).collect();
    let m = model(
        shape.to_vec(),
        -4,
        4,
        vec![
            conv,
            QuantizedLayer::Square,
            dense(84, 2, dw.clone(), vec![5, -5]),
        ],
    );
    m.validate().unwrap();
    assert_eq!((m.input_len(), m.output_len()), (84, 2));
    let samples = 3;
    let x: Vec<i64> = (0..samples * 84)
        .map(|_| rng.random_range(-4..=4))
        .collect();
    let got = m.forward_plaintext(&x, samples).unwrap();
    for j in 0..samples {
        let h = naive_conv(&x[j * 84..(j + 1) * 84], shape, oc, k, s, p, &wt, &b);
        assert_eq!(h.len(), 84);
        let sq: Vec<i64> = h.iter().map(|v| v * v).collect();
        for o in 0..2 {
            let want = [5, -5][o] + (0..84).map(|i| dw[o * 84 + i] * sq[i]).sum::<i64>();
            assert_eq!(got[j * 2 + o], want, "sample {j} output {o}");
        }
    }
}

#[test]
fn bounds_are_attained_by_extreme_inputs_and_check_fits_refuses_overflow() {
    // y = 3a - 2b + 1 on a, b in [-4, 10]: [-4*3 - 20 + 1, 30 + 8 + 1] = [-31, 39]; y² in [0, 1521].
    let m = model(
        vec![2],
        -4,
        10,
        vec![dense(2, 1, vec![3, -2], vec![1]), QuantizedLayer::Square],
    );
    let b = m.worst_case_bounds();
    assert_eq!((b[0].min, b[0].max, b[1].min, b[1].max), (-31, 39, 0, 1521));
    assert_eq!(
        m.forward_plaintext(&[10, -4, -4, 10], 2).unwrap(),
        vec![1521, 961]
    );
    assert_eq!(b[1].bits(), 11);
    m.check_fits(plaintext_modulus()).unwrap();
    // The limit is (t-1)/2: 1521 fits t = 3043 (limit 1521) but not t = 3041 (limit 1520).
    m.check_fits(3043).unwrap();
    assert_eq!(
        m.check_fits(3041),
        Err(SecureError::MayOverflow {
            layer: 1,
            bound: 1521,
            limit: 1520
        })
    );
    // A model at the real t: (2^20 · 2^20)² = 2^80 > t/2 ≈ 2^47 at the x² (layer 1).
    let big = model(
        vec![1],
        0,
        1 << 20,
        vec![dense(1, 1, vec![1 << 20], vec![0]), QuantizedLayer::Square],
    );
    match big.check_fits(plaintext_modulus()) {
        Err(SecureError::MayOverflow {
            layer: 1, bound, ..
        }) => assert_eq!(bound, 1u128 << 80),
        other => panic!("expected MayOverflow at layer 1, got {other:?}"),
    }
}

#[test]
fn check_fits_refuses_weight_norms_beyond_the_noise_budget() {
    // Inputs fixed at 0: the values are the biases, so only the norm limit stops these weights.
    let wide = |n: usize| vec![1i64 << 20; n];
    let layers = |inputs: usize| {
        vec![
            dense(inputs, 4, wide(inputs * 4), vec![1; 4]),
            QuantizedLayer::Square,
            dense(4, 1, wide(4), vec![0]),
        ]
    };
    // 4096 · 2^20 = 2^32 (33 bits) + 4 · 2^20 (23 bits) = 56 bits: served.
    let ok = model(vec![4096], 0, 0, layers(4096));
    assert_eq!(ok.weight_norm_bits(), 56);
    ok.check_fits(plaintext_modulus()).unwrap();
    // Two wide layers before the x²: 33 + 27 + 23 = 83 bits: refused.
    let deep = model(
        vec![4096],
        0,
        0,
        vec![
            dense(4096, 64, wide(4096 * 64), vec![0; 64]),
            dense(64, 4, wide(256), vec![1; 4]),
            QuantizedLayer::Square,
            dense(4, 1, wide(4), vec![0]),
        ],
    );
    assert_eq!(deep.weight_norm_bits(), 33 + 27 + 23);
    match deep.check_fits(plaintext_modulus()) {
        Err(SecureError::Invalid(msg)) => assert!(msg.contains("noise"), "{msg}"),
        other => panic!("norms beyond the budget accepted: {other:?}"),
    }
}

#[test]
fn validate_refuses_malformed_models() {
    let ok = model(
        vec![3],
        0,
        15,
        vec![
            dense(3, 2, vec![1; 6], vec![0; 2]),
            QuantizedLayer::Square,
            dense(2, 1, vec![1, 1], vec![0]),
        ],
    );
    ok.validate().unwrap();
    // Biases may be far larger than weights (a bias after x² lives at the output's scale).
    let mut big_bias = ok.clone();
    big_bias.layers[2] = dense(2, 1, vec![1, 1], vec![1 << 40]);
    big_bias.validate().unwrap();
    let mut cases: Vec<(QuantizedModel, &str)> = vec![];
    let mut m = ok.clone();
    m.layers[0] = dense(3, 2, vec![1; 5], vec![0; 2]);
    cases.push((m, "weights"));
    let mut m = ok.clone();
    m.layers[0] = dense(4, 2, vec![1; 8], vec![0; 2]);
    cases.push((m, "inputs"));
    let mut m = ok.clone();
    m.layers.insert(2, QuantizedLayer::Square);
    cases.push((m, "depth"));
    let mut m = ok.clone();
    m.layers.clear();
    cases.push((m, "no layers"));
    let mut m = ok.clone();
    m.input_shape = vec![MAX_WIDTH + 1];
    cases.push((m, "too wide"));
    let mut m = ok.clone();
    m.input.scale = vec![0.0];
    cases.push((m, "scale"));
    let mut m = ok.clone();
    m.input.offset = vec![0.0, 1.0];
    cases.push((m, "offset length"));
    let mut m = ok.clone();
    m.input.min = 16;
    cases.push((m, "range"));
    let mut m = ok.clone();
    m.layers[0] = dense(3, 2, vec![1 << 21; 6], vec![0; 2]);
    cases.push((m, "weight size"));
    let mut m = ok.clone();
    m.layers[0] = QuantizedLayer::Conv2d {
        in_channels: 1,
        out_channels: 1,
        kernel: [1, 1],
        stride: [1, 1],
        padding: [0, 0],
        weights: vec![1],
        bias: vec![0],
    };
    cases.push((m, "conv on a flat input"));
    let mut m = ok.clone();
    m.layers[0] = dense(3, 2, vec![1; 6], vec![(1 << 46) + 1, 0]);
    cases.push((m, "bias size"));
    let mut m = ok.clone();
    m.class_names = vec!["a".into(), "b".into()];
    cases.push((m, "class names"));
    let mut m = ok.clone();
    m.output_scale = f64::NAN;
    cases.push((m, "output scale"));
    for (m, what) in cases {
        assert!(
            matches!(m.validate(), Err(SecureError::Invalid(_))),
            "{what} accepted"
        );
        assert!(
            m.forward_plaintext(&[0, 0, 0], 1).is_err(),
            "{what}: forward ran"
        );
        assert!(m.worst_case_bounds().is_empty(), "{what}: bounds computed");
    }
}

#[test]
fn quantize_input_rounds_clamps_and_checks() {
    let m = model(vec![3], 0, 15, vec![dense(3, 1, vec![1; 3], vec![0])]);
    // (x - 0.5) / 0.25: 0.5 -> 0, 1.0 -> 2, 100 -> 398 clamped to 15, -3 -> -14 clamped to 0.
    assert_eq!(
        m.quantize_input(&[0.5, 1.0, 100.0]).unwrap(),
        vec![0, 2, 15]
    );
    assert_eq!(m.quantize_input(&[-3.0, 0.6, 0.7]).unwrap(), vec![0, 0, 1]);
    assert!(m.quantize_input(&[1.0, 2.0]).is_err());
    assert!(m.quantize_input(&[1.0, f32::NAN, 2.0]).is_err());
}

#[test]
fn the_model_round_trips_through_json() {
    let m = model(
        vec![1, 2, 2],
        -8,
        7,
        vec![
            QuantizedLayer::Conv2d {
                in_channels: 1,
                out_channels: 1,
                kernel: [2, 2],
                stride: [1, 1],
                padding: [0, 0],
                weights: vec![1, -1, 2, 0],
                bias: vec![3],
            },
            QuantizedLayer::Square,
        ],
    );
    let json = serde_json::to_string(&m).unwrap();
    assert!(
        json.contains("\"conv2d\"") && json.contains("\"square\""),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<QuantizedModel>(&json).unwrap(), m);
}
