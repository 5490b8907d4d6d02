//! Passphrase strength for new passphrases (key export, a key remembered in the browser), by the
//! `zxcvbn` estimator (Dropbox's model of how people choose passwords: dictionaries, keyboard
//! walks, repeats, dates, l33t), not by length: twelve spaces are long and guessed at once.
//!
//! A wrapped key file (Argon2id + XChaCha20-Poly1305, `more_secret_key::wrap`) can be tried
//! offline at leisure once stolen, so a new passphrase must reach [`MIN_SCORE`]: zxcvbn's score
//! 3, at least 10⁸ estimated guesses ("safely unguessable" against an offline attack on a slow
//! hash). Unlocking an existing key file takes any passphrase it was made with: the rule applies
//! to new passphrases only (the page's `web/passphrase.js`).

use wasm_bindgen::prelude::*;

/// The lowest zxcvbn score (0..=4) a new passphrase may have: 3, at least 10⁸ estimated guesses.
pub const MIN_SCORE: u8 = 3;

/// How strong a passphrase is, in words a person can act on.
#[wasm_bindgen(getter_with_clone)]
#[derive(Debug, Clone, PartialEq)]
pub struct PassphraseStrength {
    /// zxcvbn's score, 0 (guessed at once) to 4 (very hard to guess).
    pub score: u8,
    /// log₁₀ of the estimated number of guesses.
    pub guesses_log10: f64,
    /// Whether the passphrase may protect a new key file (`score >= MIN_SCORE`).
    pub acceptable: bool,
    /// About how long an offline attack on a stolen key file would take (at 10⁴ guesses per
    /// second, the estimator's slow-hash scenario), e.g. "3 hours", "centuries".
    pub offline_time: String,
    /// What is wrong with it, if zxcvbn says (e.g. "Repeats like \"aaa\" are easy to guess");
    /// empty when nothing is.
    pub warning: String,
    /// What to do instead (zxcvbn's suggestions), possibly empty.
    pub suggestions: Vec<String>,
}

/// The strength of `passphrase`. `user_inputs` are words the page knows and an attacker could
/// guess (the key's fingerprint, the key's name): a passphrase made of them scores lower.
pub fn assess(passphrase: &str, user_inputs: &[&str]) -> PassphraseStrength {
    let entropy = zxcvbn::zxcvbn(passphrase, user_inputs);
    let score = u8::from(entropy.score());
    let feedback = entropy.feedback();
    PassphraseStrength {
        score,
        guesses_log10: entropy.guesses_log10(),
        acceptable: score >= MIN_SCORE,
        offline_time: entropy
            .crack_times()
            .offline_slow_hashing_1e4_per_second()
            .to_string(),
        warning: feedback
            .and_then(|f| f.warning())
            .map(|w| w.to_string())
            .unwrap_or_default(),
        suggestions: feedback
            .map(|f| f.suggestions().iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
    }
}

/// The strength of `passphrase` as `assess` judges it (zxcvbn), for the page: `user_inputs` as a
/// JS array of strings (words the page knows: the key's fingerprint and name).
#[wasm_bindgen(js_name = passphraseStrength)]
pub fn passphrase_strength(passphrase: &str, user_inputs: Vec<String>) -> PassphraseStrength {
    let inputs: Vec<&str> = user_inputs.iter().map(String::as_str).collect();
    assess(passphrase, &inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_but_guessable_passphrases_are_refused() {
        for weak in [
            "            ",
            "aaaaaaaaaaaa",
            "password1234",
            "123456789012",
            "qwertyuiopas",
        ] {
            let s = assess(weak, &[]);
            assert!(!s.acceptable, "{weak:?} accepted: {s:?}");
            assert!(s.score < MIN_SCORE);
        }
    }

    #[test]
    fn random_words_are_accepted_and_feedback_is_given_for_weak_ones() {
        let s = assess("maple quartz orbit lantern", &[]);
        assert!(s.acceptable, "{s:?}");
        assert!(s.guesses_log10 >= 8.0);
        let weak = assess("            ", &[]);
        assert!(!weak.warning.is_empty() || !weak.suggestions.is_empty());
        assert!(!weak.offline_time.is_empty());
    }

    #[test]
    fn words_the_page_knows_count_against_the_passphrase() {
        let name = "cardiology-ward-7";
        assert!(assess(name, &[]).score > assess(name, &[name]).score);
    }
}
