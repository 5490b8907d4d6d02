//! Synthetic X-ray coronary angiograms and real-format loaders. Plaintext science code: it never sees ciphertexts.
#![deny(missing_docs)]
