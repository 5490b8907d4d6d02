//! One shard of an upload in shards (`more_data_owner::rest::shards`): the page's Worker encrypts
//! a shard's features and targets ([`crate::SecretKey::encrypt`]) and joins them here into the
//! request body of `POST /v1/datasets/{id}/shards?index=K`, a wire bundle of `features` and
//! `targets` (`shared/WIRE_FORMAT.md`).

use more_core::wire::{self, Bundle, DecodeLimits};
use wasm_bindgen::prelude::*;

/// The bundle of the encrypted `features` (`(samples, ...)`) and `targets` (`(samples,
/// outputs)`) wire tensors of one shard.
///
/// # Errors
/// A JS exception when either is not a well-formed wire tensor.
#[wasm_bindgen(js_name = shardBundle)]
pub fn shard_bundle(features: &[u8], targets: &[u8]) -> Result<Vec<u8>, JsError> {
    let limits = DecodeLimits::default();
    let bundle = Bundle {
        metadata: serde_json::Value::Object(Default::default()),
        tensors: vec![
            ("features".into(), wire::decode(features, &limits)?),
            ("targets".into(), wire::decode(targets, &limits)?),
        ],
    };
    Ok(wire::encode_bundle(&bundle))
}
