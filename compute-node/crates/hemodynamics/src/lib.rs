//! Whole-body circulation (WBC) hemodynamic model. Plaintext science code: it never sees ciphertexts.
#![deny(missing_docs)]
