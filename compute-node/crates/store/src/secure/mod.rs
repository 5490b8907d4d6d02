//! The secure mode's rows (issue #30): secure models with their grants, tenants' evaluation keys
//! ([`store`]), and the sample quota of secure predicts ([`quota`]). The node's routes for them
//! are in `more-server`.

pub mod quota;
pub mod store;
