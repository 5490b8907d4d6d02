//! The report of `experiment secure` (JSON and Markdown).

use serde::Serialize;

/// One encrypted batch: the owner's and the node's times and the bytes each way.
#[derive(Clone, Debug, Serialize)]
pub struct BatchTiming {
    /// Samples in the batch (one per slot).
    pub samples: usize,
    /// Owner: encryption of the batch (one ciphertext per input value).
    pub encrypt_seconds: f64,
    /// Node: parsing the batch, evaluating, writing the answer.
    pub evaluate_seconds: f64,
    /// `samples / evaluate_seconds`.
    pub node_images_per_second: f64,
    /// Owner: decryption of the answer.
    pub decrypt_seconds: f64,
    /// Bytes of the encrypted batch (request body).
    pub upload_bytes: usize,
    /// Bytes of the encrypted answer.
    pub download_bytes: usize,
    /// Least noise budget left over the answer's ciphertexts.
    pub noise_budget_bits: u32,
}

/// The encrypted run.
#[derive(Clone, Debug, Serialize)]
pub struct SecureRun {
    /// BFV parameter set.
    pub parameter_set: String,
    /// Plaintext modulus t.
    pub plaintext_modulus: u64,
    /// Samples encrypted and evaluated.
    pub samples: usize,
    /// Output integers compared (`samples × outputs`).
    pub values_total: usize,
    /// Decrypted integers equal to the quantized model's plaintext integers.
    pub values_equal: usize,
    /// Samples whose every output integer is equal.
    pub samples_equal: usize,
    /// Accuracy of the decrypted outputs' argmax.
    pub encrypted_accuracy: f64,
    /// Owner: secret key and evaluation key.
    pub keygen_seconds: f64,
    /// Node: parsing the evaluation key and preparing the model.
    pub node_setup_seconds: f64,
    /// Bytes of the evaluation (relinearization) key.
    pub evaluation_key_bytes: usize,
    /// All samples over the node's total evaluation time.
    pub node_images_per_second: f64,
    /// Owner: total encryption time.
    pub encrypt_seconds: f64,
    /// Owner: total decryption time.
    pub decrypt_seconds: f64,
    /// Request bytes per sample.
    pub upload_bytes_per_sample: f64,
    /// Answer bytes per sample.
    pub download_bytes_per_sample: f64,
    /// Least noise budget left over every answer.
    pub noise_budget_bits: u32,
    /// Per batch.
    pub batches: Vec<BatchTiming>,
}

/// One layer's worst-case bound (interval arithmetic over the whole input range).
#[derive(Clone, Debug, Serialize)]
pub struct BoundRow {
    /// Layer index.
    pub layer: usize,
    /// `dense`, `conv2d` or `square`.
    pub kind: &'static str,
    /// Smallest possible value.
    pub min: String,
    /// Largest possible value.
    pub max: String,
    /// Bits of the largest magnitude.
    pub bits: u32,
}

/// The quantization.
#[derive(Clone, Debug, Serialize)]
pub struct QuantizationRow {
    /// Method.
    pub method: &'static str,
    /// Bits of every layer's weights (signed).
    pub weight_bits: u32,
    /// Real value of one weight step, per linear layer.
    pub weight_scales: Vec<f64>,
    /// Logits ≈ output integer × this.
    pub output_scale: f64,
    /// Per layer.
    pub bounds: Vec<BoundRow>,
    /// Bits of (t − 1)/2, the largest magnitude that decodes exactly.
    pub limit_bits: u32,
    /// Time to quantize and check.
    pub seconds: f64,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct SecureReport {
    /// `secure`.
    pub experiment: String,
    /// `mlp` or `cnn`.
    pub arch: String,
    /// Data set, split, input quantizer.
    pub dataset: serde_json::Value,
    /// The float model's description.
    pub spec: more_core::nn::ModelSpec,
    /// Hyper-parameters.
    pub training: serde_json::Value,
    /// Float model's test accuracy (on the quantized inputs).
    pub float_accuracy: f64,
    /// Quantized model's test accuracy (plaintext integers).
    pub quantized_accuracy: f64,
    /// Test samples whose quantized argmax equals the float argmax.
    pub quantized_float_argmax_agreement: usize,
    /// Quantization and bounds.
    pub quantization: QuantizationRow,
    /// The encrypted run.
    pub secure: SecureRun,
    /// Machine.
    pub machine: String,
    /// Date (UTC).
    pub date: String,
    /// Wall time of the whole experiment.
    pub wall_seconds: f64,
    /// Files written.
    pub files: Vec<String>,
}

fn layer_name(l: &more_core::nn::LayerSpec) -> String {
    use more_core::nn::LayerSpec::*;
    match l {
        Dense { units } => format!("dense {units}"),
        Conv2d {
            filters,
            kernel,
            stride,
            padding,
        } => format!("conv {filters}@{kernel}x{kernel} stride {stride} padding {padding}"),
        Square => "x²".into(),
        other => other.kind().into(),
    }
}

fn pct(v: f64) -> String {
    format!("{:.2} %", v * 100.0)
}

/// The Markdown summary.
pub fn markdown(r: &SecureReport) -> String {
    let s = &r.secure;
    let q = &r.quantization;
    let mut out = format!(
        "# Secure mode: {} on {}\n\n{} — {}, {}. Train {} samples, test {} samples.\n\n",
        r.arch,
        r.dataset["name"].as_str().unwrap_or("?"),
        r.date,
        r.machine,
        "numbers from a shared machine (noisy)",
        r.dataset["train_samples"],
        r.dataset["test_samples"],
    );
    out += "| measure | value |\n|---|---|\n";
    let layers: Vec<String> = r.spec.layers.iter().map(layer_name).collect();
    let rows: Vec<(String, String)> = vec![
        (
            "float model".into(),
            format!("input {:?}: {}", r.spec.input_shape, layers.join(" → ")),
        ),
        ("float accuracy (test)".into(), pct(r.float_accuracy)),
        (
            "quantized accuracy (plaintext integers)".into(),
            pct(r.quantized_accuracy),
        ),
        (
            "encrypted accuracy (decrypted)".into(),
            pct(s.encrypted_accuracy),
        ),
        (
            "decrypted integers equal to the plaintext integers".into(),
            format!(
                "{} of {} ({} of {} samples)",
                s.values_equal, s.values_total, s.samples_equal, s.samples
            ),
        ),
        (
            "train time (plaintext, our engine)".into(),
            format!("{:.1} s", r.training["seconds"].as_f64().unwrap_or(0.0)),
        ),
        (
            "weights".into(),
            format!("{} bits signed, {}", q.weight_bits, q.method),
        ),
        (
            "bound bits per layer (limit)".into(),
            format!(
                "{} ({})",
                q.bounds
                    .iter()
                    .map(|b| b.bits.to_string())
                    .collect::<Vec<_>>()
                    .join(" / "),
                q.limit_bits
            ),
        ),
        ("parameter set".into(), s.parameter_set.clone()),
        (
            "node throughput, all samples".into(),
            format!("{:.0} images/s", s.node_images_per_second),
        ),
        (
            "node throughput, first (fullest) batch".into(),
            s.batches.first().map_or("-".into(), |b| {
                format!(
                    "{:.0} images/s ({} samples in {:.2} s)",
                    b.node_images_per_second, b.samples, b.evaluate_seconds
                )
            }),
        ),
        (
            "owner: encrypt, all batches".into(),
            format!("{:.2} s", s.encrypt_seconds),
        ),
        (
            "owner: decrypt, all batches".into(),
            format!("{:.3} s", s.decrypt_seconds),
        ),
        (
            "upload per sample, all batches".into(),
            format!("{:.0} B", s.upload_bytes_per_sample),
        ),
        (
            "upload per sample, first (fullest) batch".into(),
            s.batches.first().map_or("-".into(), |b| {
                format!("{:.0} B", b.upload_bytes as f64 / b.samples.max(1) as f64)
            }),
        ),
        (
            "download per sample".into(),
            format!("{:.0} B", s.download_bytes_per_sample),
        ),
        (
            "evaluation key".into(),
            format!("{} B", s.evaluation_key_bytes),
        ),
        (
            "noise budget left (least)".into(),
            format!("{} bits", s.noise_budget_bits),
        ),
        ("wall time".into(), format!("{:.1} s", r.wall_seconds)),
    ];
    for (k, v) in rows {
        out += &format!("| {k} | {v} |\n");
    }
    out += "\n| layer | kind | min | max | bits |\n|---|---|---|---|---|\n";
    for b in &q.bounds {
        out += &format!(
            "| {} | {} | {} | {} | {} |\n",
            b.layer, b.kind, b.min, b.max, b.bits
        );
    }
    out += "\n| batch samples | encrypt s | node s | images/s | decrypt s | upload B | download B | noise budget bits |\n|---|---|---|---|---|---|---|---|\n";
    for b in &s.batches {
        out += &format!(
            "| {} | {:.2} | {:.2} | {:.0} | {:.3} | {} | {} | {} |\n",
            b.samples,
            b.encrypt_seconds,
            b.evaluate_seconds,
            b.node_images_per_second,
            b.decrypt_seconds,
            b.upload_bytes,
            b.download_bytes,
            b.noise_budget_bits
        );
    }
    out
}
