//! Our half of the secure-mode side by side with TenSEAL
//! (`shared/benchmarks/tenseal_secure_side_by_side.py`, which runs this): one batch of
//! quantized samples through both sides of secure mode in one process, each step timed.
//!
//! The caller's side is `more_secret_key::secure::BfvSecretKey` (key, evaluation key, encryption,
//! decryption), the node's is `more_secure::Evaluator` on the parsed batch (what
//! `POST /v1/secure/models/{id}/predict` runs, without HTTP). The integers come from a file so
//! that TenSEAL encrypts exactly the same ones.
//!
//! Usage: `cargo run --release -p more-data-owner --example secure_side_by_side -- --model M.json
//! --inputs Q.i64 --samples S --outputs OUT.i64` (Q: little-endian i64, `S × input_len`; OUT gets
//! the decrypted `S × output_len` integers). Prints `RESULT {json}`: keygen_s,
//! evaluation_key_bytes, encrypt_s, upload_bytes, parse_s (the node reading the batch), eval_s,
//! download_bytes, decrypt_s, noise_budget_bits, plaintext_modulus, parameters, threads.

use std::time::Instant;

use more_secret_key::secure::BfvSecretKey;
use more_secure::{plaintext_modulus, wire, Evaluator, QuantizedModel, PARAMETER_SET};

fn arg(args: &[String], name: &str) -> Result<String, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .ok_or_else(|| format!("missing {name}"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let model: QuantizedModel =
        serde_json::from_str(&std::fs::read_to_string(arg(&args, "--model")?)?)?;
    let samples: usize = arg(&args, "--samples")?.parse()?;
    let raw = std::fs::read(arg(&args, "--inputs")?)?;
    let q: Vec<i64> = raw
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect();
    let mut rng = rand::rng();

    let t = Instant::now();
    let key = BfvSecretKey::generate(&mut rng);
    let eval_key = key.evaluation_key(&mut rng)?;
    let keygen_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let batch = key.encrypt_batch(&model, &q, samples, &mut rng)?;
    let encrypt_s = t.elapsed().as_secs_f64();

    // The node: parse the key and the batch, evaluate.
    let evaluator = Evaluator::new(&model)?;
    let t = Instant::now();
    let relin = wire::parse_evaluation_key(&eval_key)?;
    let (_, inputs) = wire::read_batch_for_evaluation(&batch)?;
    let parse_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let outputs = evaluator.evaluate(&relin, inputs)?;
    let eval_s = t.elapsed().as_secs_f64();
    let answer = wire::write_batch(samples, &outputs);

    let t = Instant::now();
    let d = key.decrypt_outputs(&model, &answer)?;
    let decrypt_s = t.elapsed().as_secs_f64();
    let bytes: Vec<u8> = d.values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(arg(&args, "--outputs")?, bytes)?;

    let result = serde_json::json!({
        "system": "ours (fhe.rs BFV, more-secure)",
        "parameters": format!("{PARAMETER_SET}, t={}", plaintext_modulus()),
        "plaintext_modulus": plaintext_modulus(),
        "threads": rayon_threads(),
        "keygen_s": keygen_s,
        "evaluation_key_bytes": eval_key.len(),
        "encrypt_s": encrypt_s,
        "upload_bytes": batch.len(),
        "parse_s": parse_s,
        "eval_s": eval_s,
        "download_bytes": answer.len(),
        "decrypt_s": decrypt_s,
        "noise_budget_bits": d.noise_budget_bits,
    });
    println!("RESULT {result}");
    Ok(())
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
