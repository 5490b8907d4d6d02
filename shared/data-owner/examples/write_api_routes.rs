//! Writes `web/api_routes.js` from the route table (`more_data_owner::rest::routes::ROUTES`):
//! `cargo run -p more-data-owner --example write_api_routes`. A unit test fails when the
//! committed file differs.

fn main() -> std::io::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/api_routes.js");
    std::fs::write(path, more_data_owner::rest::routes::routes_js())?;
    println!("wrote web/api_routes.js");
    Ok(())
}
