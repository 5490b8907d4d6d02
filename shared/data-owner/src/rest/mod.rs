//! The REST client of the compute node, once (`compute-node/API.md`; the node's
//! `/v1/openapi.json` is authoritative):
//!
//! - [`routes`]: every route the clients call (method, path template, body, answer), the one
//!   definition; the page's `web/api.js` builds its calls from `web/api_routes.js`, written from
//!   it ([`routes::routes_js`]);
//! - [`bodies`]: the JSON request bodies as types;
//! - [`answer`]: reading answers and errors, without I/O;
//! - with the feature `native`: [`Node`], the blocking transport (ureq) with one method per
//!   route, and [`flows`], the data owner's steps (upload, create a model, train and follow,
//!   predict, download weights) used by the command line and Python, and [`shards`], the upload
//!   in shards with resume.

pub mod answer;
pub mod bodies;
pub mod routes;

#[cfg(feature = "native")]
mod client;
#[cfg(feature = "native")]
pub mod flows;
#[cfg(feature = "native")]
pub mod shards;

pub use answer::id_of;
pub use bodies::{CreateDataset, CreateJob, CreateModel, PublishSecureModel, SetGrants, Sgd};
#[cfg(feature = "native")]
pub use client::{Node, TOKEN_ENV};
