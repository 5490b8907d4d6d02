//! Wire format v1 for ciphertext and plaintext tensors (see `shared/WIRE_FORMAT.md`).
