//! The encrypted neural-network engine.
