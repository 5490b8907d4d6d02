//! Both sides of a secure prediction in one process: the data owner's BFV key
//! (`more_secret_key::secure`) encrypts full batches of quantized samples, the node's
//! [`Evaluator`] (`more_secure`, which holds no secret) evaluates them with the evaluation key
//! only, the owner decrypts. Every decrypted integer is compared with
//! [`QuantizedModel::forward_plaintext`].

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use more_secret_key::secure::BfvSecretKey;
use more_secure::{slots, wire, Evaluator, QuantizedModel};

use super::progress;
use super::secure_report::{BatchTiming, SecureRun};
use super::secure_train::argmax;

/// Encrypts, evaluates and decrypts `quantized` (`samples × input_len`) in batches of at most
/// [`slots`] samples; `expected` is the plaintext reference (`samples × output_len`).
///
/// # Errors
/// Key generation, encryption, evaluation or decryption errors.
pub fn play(
    model: &QuantizedModel,
    quantized: &[i64],
    expected: &[i64],
    samples: usize,
    labels: &[usize],
    quiet: bool,
) -> anyhow::Result<SecureRun> {
    // The key holder's randomness: the OS's, never the experiment's seed.
    let mut rng = ChaCha20Rng::from_os_rng();
    let t = Instant::now();
    let key = BfvSecretKey::generate(&mut rng);
    let evaluation_key = key.evaluation_key(&mut rng)?;
    let keygen_seconds = t.elapsed().as_secs_f64();
    // The node's side: it parses the evaluation key and prepares the published model.
    let t = Instant::now();
    let relin = wire::parse_evaluation_key(&evaluation_key)?;
    let evaluator = Evaluator::new(model)?;
    let node_setup_seconds = t.elapsed().as_secs_f64();
    let (n_in, n_out) = (model.input_len(), model.output_len());
    let batch = slots();
    let bar = progress::bar(samples.div_ceil(batch) as u64 * 3, "secure batches", quiet);
    let (mut batches, mut decrypted) = (Vec::new(), Vec::with_capacity(samples * n_out));
    let mut noise_budget_bits = u32::MAX;
    for start in (0..samples).step_by(batch) {
        let count = (samples - start).min(batch);
        let t = Instant::now();
        let upload = key.encrypt_batch(
            model,
            &quantized[start * n_in..(start + count) * n_in],
            count,
            &mut rng,
        )?;
        let encrypt_seconds = t.elapsed().as_secs_f64();
        bar.inc(1);
        let t = Instant::now();
        let (got, inputs) = wire::read_batch_for_evaluation(&upload)?;
        anyhow::ensure!(got == count, "the batch holds {got} samples, {count} sent");
        let outputs = evaluator.evaluate(&relin, inputs)?;
        let download = wire::write_batch(count, &outputs);
        let evaluate_seconds = t.elapsed().as_secs_f64();
        bar.inc(1);
        let t = Instant::now();
        let answer = key.decrypt_outputs(model, &download)?;
        let decrypt_seconds = t.elapsed().as_secs_f64();
        bar.inc(1);
        anyhow::ensure!(
            answer.samples == count && answer.outputs == n_out,
            "the answer has {}x{} values, {count}x{n_out} expected",
            answer.samples,
            answer.outputs
        );
        noise_budget_bits = noise_budget_bits.min(answer.noise_budget_bits);
        decrypted.extend_from_slice(&answer.values);
        batches.push(BatchTiming {
            samples: count,
            encrypt_seconds,
            evaluate_seconds,
            node_images_per_second: count as f64 / evaluate_seconds,
            decrypt_seconds,
            upload_bytes: upload.len(),
            download_bytes: download.len(),
            noise_budget_bits: answer.noise_budget_bits,
        });
    }
    bar.finish_and_clear();
    let values_equal = decrypted
        .iter()
        .zip(expected)
        .filter(|(a, b)| a == b)
        .count();
    let samples_equal = decrypted
        .chunks(n_out)
        .zip(expected.chunks(n_out))
        .filter(|(a, b)| a == b)
        .count();
    let correct = decrypted
        .chunks(n_out)
        .zip(labels)
        .filter(|(row, &l)| argmax(row) == l)
        .count();
    let node_seconds: f64 = batches.iter().map(|b| b.evaluate_seconds).sum();
    let upload: usize = batches.iter().map(|b| b.upload_bytes).sum();
    let download: usize = batches.iter().map(|b| b.download_bytes).sum();
    Ok(SecureRun {
        parameter_set: more_secure::PARAMETER_SET.to_string(),
        plaintext_modulus: more_secure::plaintext_modulus(),
        samples,
        values_total: expected.len(),
        values_equal,
        samples_equal,
        encrypted_accuracy: correct as f64 / samples.max(1) as f64,
        keygen_seconds,
        node_setup_seconds,
        evaluation_key_bytes: evaluation_key.len(),
        node_images_per_second: samples as f64 / node_seconds,
        encrypt_seconds: batches.iter().map(|b| b.encrypt_seconds).sum(),
        decrypt_seconds: batches.iter().map(|b| b.decrypt_seconds).sum(),
        upload_bytes_per_sample: upload as f64 / samples.max(1) as f64,
        download_bytes_per_sample: download as f64 / samples.max(1) as f64,
        noise_budget_bits,
        batches,
    })
}
