//! The attack suite: executed attacks on real-number MORE (see SECURITY.md).
