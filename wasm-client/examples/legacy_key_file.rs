//! Writes a passphrase-wrapped key file of key generation 1 (`MOREKEY1`, the keys made before
//! 2026-12-01, whose public basis reveals the data they encrypt), for the browser test that loads
//! such a key (`web/tests/keys.test.mjs`). New keys are never of this generation; this file exists
//! only so that the page's warning for old keys can be tested with a real one.
//!
//! Usage: `legacy_key_file OUT.morekey PASSPHRASE [SEED]`.

use more_secret_key::{wrap, KeyGeneration, SecretKey};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(out), Some(passphrase)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: legacy_key_file OUT.morekey PASSPHRASE [SEED]");
    };
    let seed = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let key = SecretKey::generate_legacy_for_attack_demo(&mut ChaCha20Rng::seed_from_u64(seed));
    anyhow::ensure!(key.generation() == KeyGeneration::V1SignedBasis);
    std::fs::write(&out, wrap::wrap(&key.export_bytes(), &passphrase)?)?;
    println!("{}", key.fingerprint());
    Ok(())
}
