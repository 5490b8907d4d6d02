//! The client's address for the audit log: the TCP peer, or, when the peer is one of the
//! operator's proxies (`--trusted-proxy`), the address those proxies put in `X-Forwarded-For`.
//! A client that is not a trusted proxy cannot choose its recorded address.

use std::net::IpAddr;

use ipnet::IpNet;

/// Parses a `--trusted-proxy` value: a CIDR block (`10.0.0.0/8`, `fd00::/8`) or one address.
///
/// # Errors
/// A message naming the value when it is neither.
pub fn parse_trusted(value: &str) -> Result<IpNet, String> {
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{value:?} is not an IP address or CIDR block"))
}

/// The client's address: `direct` unless it is in `trusted`; then the right-most address of
/// `forwarded_for` (`X-Forwarded-For: client, proxy1, proxy2`) that is not itself a trusted
/// proxy (each proxy appends the address it got the request from, so the addresses left of the
/// first untrusted one could have been written by the client). A malformed entry ends the walk
/// at the last trusted hop.
pub fn client(
    direct: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let direct = direct?;
    if !is_trusted(&direct) {
        return Some(direct);
    }
    let mut client = direct;
    for entry in forwarded_for.unwrap_or("").rsplit(',') {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let trusted = [
            parse_trusted("10.0.0.0/8").unwrap(),
            parse_trusted("::1").unwrap(),
        ];
        let xff = Some("198.51.100.7, 203.0.113.9, 10.1.1.1");
        // Not a proxy: its own header is ignored.
        assert_eq!(client(ip("192.0.2.1"), xff, &trusted), ip("192.0.2.1"));
        // A proxy: the right-most untrusted hop (the left one could be the client's own text).
        assert_eq!(client(ip("10.0.0.2"), xff, &trusted), ip("203.0.113.9"));
        assert_eq!(
            client(ip("::1"), Some("2001:db8::5"), &trusted),
            ip("2001:db8::5")
        );
        // No header, or garbage: the proxy (or the last good hop) itself.
        assert_eq!(client(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
        assert_eq!(
            client(ip("10.0.0.2"), Some("evil, 10.0.0.3"), &trusted),
            ip("10.0.0.3")
        );
        assert_eq!(client(None, xff, &trusted), None);
        assert!(parse_trusted("10.0.0.0/33").is_err());
        assert!(parse_trusted("proxy.local").is_err());
    }
}
