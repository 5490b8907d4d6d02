//! Security headers on every answer, the web page's and the API's (errors included):
//!
//! - `Content-Security-Policy`: scripts, styles, workers and fetches from this origin only
//!   (plus the OIDC token endpoint's origin, which the page's sign-in posts to), WebAssembly
//!   compiled from fetched bytes (`'wasm-unsafe-eval'`, which the page's worker needs; no
//!   `eval`), no inline script or style, no plugins, not framed, forms to this origin only;
//! - `X-Content-Type-Options: nosniff`: a blob or an upload is never taken for a script or a
//!   page;
//! - `X-Frame-Options: DENY` (with `frame-ancestors 'none'`): no clickjacking;
//! - `Referrer-Policy: no-referrer`: the page's address is not sent to other sites.
//!
//! A handler that sets one of these headers itself keeps its own.

use actix_web::middleware::DefaultHeaders;

/// The policy without an identity provider (see the module documentation).
const BASE_POLICY: [&str; 10] = [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
];

/// The `Content-Security-Policy` value; `token_endpoint` (the OIDC token endpoint the page
/// posts the sign-in code to) adds its origin to `connect-src`, when it is a valid `https` or
/// `http` URL.
pub fn content_security_policy(token_endpoint: Option<&str>) -> String {
    let extra = token_endpoint
        .and_then(|url| reqwest::Url::parse(url).ok())
        .filter(|url| matches!(url.scheme(), "https" | "http"))
        .map(|url| url.origin().ascii_serialization());
    BASE_POLICY
        .iter()
        .map(
            |directive| match (&extra, directive.starts_with("connect-src")) {
                (Some(origin), true) => format!("{directive} {origin}"),
                _ => directive.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("; ")
}

/// The middleware adding the headers, with [`content_security_policy`] of `token_endpoint`.
pub fn default_headers(token_endpoint: Option<&str>) -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            "content-security-policy",
            content_security_policy(token_endpoint),
        ))
        .add(("x-content-type-options", "nosniff"))
        .add(("x-frame-options", "DENY"))
        .add(("referrer-policy", "no-referrer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_token_endpoint_origin_only() {
        let plain = content_security_policy(None);
        assert!(plain.contains("connect-src 'self';"), "{plain}");
        assert!(plain.contains("frame-ancestors 'none'"), "{plain}");
        assert!(!plain.contains("unsafe-inline") && !plain.contains("'unsafe-eval'"));
        let oidc = content_security_policy(Some("https://idp.example:8443/realms/h/token?x=1"));
        assert!(
            oidc.contains("connect-src 'self' https://idp.example:8443;"),
            "{oidc}"
        );
        // A discovery document cannot add directives.
        let odd = content_security_policy(Some("https://idp.example/t; script-src *"));
        assert!(!odd.contains("script-src *"), "{odd}");
        assert_eq!(content_security_policy(Some("javascript:alert(1)")), plain);
    }
}
