//! Secure mode (issue #30) on PostgreSQL (a throwaway server of the test; skipped without its
//! binaries unless `MORE_REQUIRE_SERVICES=1`): the migration, the visibility rule, grants, the
//! evaluation keys' cap and expiry, an exact encrypted prediction and the sample quota under
//! concurrent predicts (the model row's lock), as on SQLite.

use crate::secure_common::*;
use crate::services::Postgres;
use serde_json::json;

#[test]
fn secure_mode_runs_on_postgresql() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let t = tenants_on(Some(&pg.url()), short_lived_keys);
    let model_json = small_model(21);
    let model = parsed(&model_json);
    let published = publish(&t.a, &model_json, &["b"]);
    let id = published["id"].as_str().unwrap();
    assert_eq!(published["grants"], json!(["b"]));
    let (s, v) = t.c.get_json(&format!("/v1/secure/models/{id}"));
    assert_eq!(s, 404, "{v}");
    let (s, listed) = t.b.get_json("/v1/secure/models");
    assert_eq!((s, listed[0]["id"].as_str()), (200, Some(id)), "{listed}");

    let (sk, ek) = client_key(22);
    let key = upload_key(&t.b, &ek);
    let inputs = samples(23, 3);
    let (s, answer) = predict(&t.b, id, &key, &encrypt(&sk, &model, &inputs, 24));
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&answer));
    let decrypted = sk.decrypt_outputs(&model, &answer).unwrap();
    assert_eq!(
        decrypted.values,
        model.forward_plaintext(&inputs, 3).unwrap()
    );

    let (s, v) = t.a.delete(&format!("/v1/secure/models/{id}"));
    assert_eq!(s, 204, "{v}");
    assert_eq!(t.b.get(&format!("/v1/secure/models/{id}")).0, 404);
    concurrent_batches_share_one_quota(&t);
    racing_reservations_admit_exactly_the_quota(&t, &pg.url());
    keys_are_capped_and_expire(&t);
}
