//! Browser hygiene for `/v1`: which hosts and origins may talk to the node.
//!
//! - **Host** (DNS rebinding): a node bound to a loopback address answers only requests whose
//!   `Host` is a loopback name (`localhost`, `127.0.0.1`, `[::1]`) or listed with
//!   `--allowed-host`; a page on another site whose name was re-pointed at 127.0.0.1 gets 403.
//!   A node bound to another address checks `Host` only when `--allowed-host` is given.
//! - **Origin** (cross-site requests): a state-changing request (anything but GET, HEAD,
//!   OPTIONS) that a browser marks as coming from another origin (`Origin` not this node's own
//!   `scheme://Host` nor listed with `--cors-origin`, or `Sec-Fetch-Site: cross-site` without
//!   an `Origin`) gets 403. Clients that are not browsers send neither header and are not
//!   affected.
//! - **CORS**: same origin only by default (no CORS headers: browsers keep other origins from
//!   reading the answers); the origins listed with `--cors-origin` get CORS headers
//!   ([`cors`]) and may send state-changing requests.
//!
//! Every refusal is audited ([`crate::audit`]; repeats from one peer aggregated).
//!
//! Content types are checked by the routes (JSON routes take `application/json`, tensor routes
//! `application/octet-stream`; 415 otherwise), so a cross-site form cannot send either.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, ResponseError};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The middleware: answers 403 before the handler when [`check`] refuses the request.
///
/// # Errors
/// The inner service's errors.
pub async fn same_site(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let refused = req.app_data::<web::Data<AppState>>().and_then(|state| {
        let settings = &state.settings;
        check(
            req.request(),
            &settings.bind,
            &settings.allowed_hosts,
            &settings.cors_origins,
        )
        .err()
    });
    match refused {
        Some(e) => {
            tracing::warn!(path = %req.path(), reason = %e.message, "request refused");
            let response = req.into_response(e.error_response());
            // Audited as a refusal of an unidentified caller (aggregated per peer).
            if let Some(state) = response.request().app_data::<web::Data<AppState>>() {
                state.audit.record(None, &response, Some(&e.message)).await;
            }
            Ok(response.map_into_right_body())
        }
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
    }
}

/// Whether the request may reach the API (see the module documentation).
///
/// # Errors
/// 403 `forbidden` naming the refused host or origin.
pub fn check(
    req: &HttpRequest,
    bind: &str,
    allowed_hosts: &[String],
    cors_origins: &[String],
) -> ApiResult<()> {
    let host = authority(req);
    let name = host_name(host);
    let loopback_bind = is_loopback(host_name(bind));
    let listed = allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(name));
    let host_ok = is_loopback(name) || listed || (allowed_hosts.is_empty() && !loopback_bind);
    if !host_ok {
        return Err(ApiError::forbidden(format!(
            "this node does not serve the host {name:?} (see --allowed-host)"
        )));
    }
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if let Some(origin) = header_str(req, header::ORIGIN) {
        let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or("");
        let listed = cors_origins.iter().any(|o| o.eq_ignore_ascii_case(origin));
        if !authority.eq_ignore_ascii_case(host) && !listed {
            return Err(ApiError::forbidden(format!(
                "cross-origin request from {origin:?} refused"
            )));
        }
    } else if header_str(req, "sec-fetch-site") == Some("cross-site") {
        return Err(ApiError::forbidden("cross-site request refused"));
    }
    Ok(())
}

/// The CORS middleware for `origins` (`scheme://host[:port]`): the API's methods, the
/// `Content-Type`, `Authorization` and `X-Request-Id` request headers, `X-Request-Id` exposed,
/// preflights cached 10 minutes. With no origins it sends no CORS headers (same origin only).
pub fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "DELETE"])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static(crate::request_id::HEADER),
        ])
        .expose_headers([header::HeaderName::from_static(crate::request_id::HEADER)])
        .max_age(600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// The `Host` header, or in HTTP/2 (no `Host` header) the request's `:authority`. Never
/// `Forwarded`/`X-Forwarded-Host`: a rebinding page could set those itself.
fn authority(req: &HttpRequest) -> &str {
    header_str(req, header::HOST)
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default()
}

fn header_str(req: &HttpRequest, name: impl header::AsHeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The name in `host[:port]` or `[v6][:port]`, parsed strictly: `""` (no name: neither loopback
/// nor listed) when the port is not digits, the host holds a `:`, or anything but `:port`
/// follows a bracketed IPv6 address (`[::1]evil`, `[localhost]`).
fn host_name(authority: &str) -> &str {
    let (name, port) = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, after)) if v6.parse::<std::net::Ipv6Addr>().is_ok() => {
                match after.strip_prefix(':') {
                    Some(port) => (v6, port),
                    None if after.is_empty() => (v6, ""),
                    None => return "",
                }
            }
            _ => return "",
        },
        None => authority.split_once(':').unwrap_or((authority, "")),
    };
    if port.bytes().all(|b| b.is_ascii_digit()) {
        name
    } else {
        ""
    }
}

fn is_loopback(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// 415 unless the request's content type is `expected` (parameters such as `charset` allowed).
///
/// # Errors
/// 415 `unsupported_media_type`.
pub fn require_content_type(req: &HttpRequest, expected: &str) -> ApiResult<()> {
    let actual = header_str(req, header::CONTENT_TYPE).unwrap_or("");
    let essence = actual.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(format!(
            "this route takes Content-Type: {expected}, got {:?}",
            if actual.is_empty() { "none" } else { actual }
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn req(method: Method, host: &str, origin: Option<&str>) -> HttpRequest {
        let mut r = TestRequest::default()
            .method(method)
            .insert_header((header::HOST, host));
        if let Some(o) = origin {
            r = r.insert_header((header::ORIGIN, o));
        }
        r.to_http_request()
    }

    #[test]
    fn hosts() {
        let loopback = "127.0.0.1:8080";
        assert!(check(
            &req(Method::GET, "127.0.0.1:8080", None),
            loopback,
            &[],
            &[]
        )
        .is_ok());
        assert!(check(&req(Method::GET, "localhost:9", None), loopback, &[], &[]).is_ok());
        assert!(check(&req(Method::GET, "[::1]:8080", None), loopback, &[], &[]).is_ok());
        // Strictly `[v6]` and an optional `:port`: nothing after the bracket counts as loopback.
        for odd in [
            "[::1]evil",
            "[::1]evil:80",
            "[::1]:80evil",
            "[localhost]",
            "127.0.0.1:x",
            "127.0.0.1:80:80",
            "[::1",
        ] {
            assert!(
                check(&req(Method::GET, odd, None), loopback, &[], &[]).is_err(),
                "{odd}"
            );
        }
        assert!(check(&req(Method::GET, "[::1]", None), loopback, &[], &[]).is_ok());
        // DNS rebinding: a foreign name pointed at 127.0.0.1.
        assert!(check(
            &req(Method::GET, "evil.example:8080", None),
            loopback,
            &[],
            &[]
        )
        .is_err());
        let listed = ["node.hospital.example".to_string()];
        assert!(check(
            &req(Method::GET, "node.hospital.example", None),
            loopback,
            &listed,
            &[]
        )
        .is_ok());
        assert!(check(
            &req(Method::GET, "other.example", None),
            "0.0.0.0:80",
            &listed,
            &[]
        )
        .is_err());
        assert!(check(
            &req(Method::GET, "any.example", None),
            "0.0.0.0:80",
            &[],
            &[]
        )
        .is_ok());
    }

    #[test]
    fn http2_authority_when_there_is_no_host_header() {
        let loopback = "127.0.0.1:8080";
        let h2 = |uri: &str| TestRequest::get().uri(uri).to_http_request();
        assert!(check(&h2("https://127.0.0.1:8080/v1/health"), loopback, &[], &[]).is_ok());
        assert!(check(
            &h2("https://evil.example:8080/v1/health"),
            loopback,
            &[],
            &[]
        )
        .is_err());
    }

    #[test]
    fn origins() {
        let bind = "127.0.0.1:8080";
        let same = req(
            Method::POST,
            "127.0.0.1:8080",
            Some("http://127.0.0.1:8080"),
        );
        assert!(check(&same, bind, &[], &[]).is_ok());
        let other_port = req(
            Method::POST,
            "127.0.0.1:8080",
            Some("http://127.0.0.1:9999"),
        );
        assert!(check(&other_port, bind, &[], &[]).is_err());
        let null = req(Method::DELETE, "127.0.0.1:8080", Some("null"));
        assert!(check(&null, bind, &[], &[]).is_err());
        // Reads are not state-changing; browsers keep their answers from other origins.
        let read = req(Method::GET, "127.0.0.1:8080", Some("http://evil.example"));
        assert!(check(&read, bind, &[], &[]).is_ok());
        let fetch_meta = TestRequest::post()
            .insert_header((header::HOST, "127.0.0.1:8080"))
            .insert_header(("sec-fetch-site", "cross-site"))
            .to_http_request();
        assert!(check(&fetch_meta, bind, &[], &[]).is_err());
        // An origin listed with --cors-origin may change state; others still may not.
        let listed = ["https://portal.hospital.example".to_string()];
        let portal = req(
            Method::POST,
            "127.0.0.1:8080",
            Some("https://portal.hospital.example"),
        );
        assert!(check(&portal, bind, &[], &listed).is_ok());
        assert!(check(&other_port, bind, &[], &listed).is_err());
    }

    #[test]
    fn content_types() {
        let json = TestRequest::post()
            .insert_header((header::CONTENT_TYPE, "application/json; charset=utf-8"))
            .to_http_request();
        assert!(require_content_type(&json, "application/json").is_ok());
        let text = TestRequest::post()
            .insert_header((header::CONTENT_TYPE, "text/plain"))
            .to_http_request();
        let e = require_content_type(&text, "application/octet-stream").unwrap_err();
        assert_eq!(e.status.as_u16(), 415);
        assert!(
            require_content_type(&TestRequest::post().to_http_request(), "application/json")
                .is_err()
        );
    }
}
