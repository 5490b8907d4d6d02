//! The REST service. Never imports the secret key type.
