//! MORE (Matrix Operation for Randomization or Encryption) over the reals.
#![deny(missing_docs)]
