//! One canonical form for registry hosts, used wherever a host is parsed or matched: image
//! references, registries.conf prefixes and locations, auth file keys, certs.d directory names.
//!
//! The form is the one the URL standard gives a `https://HOST[:PORT]/` origin (the registry
//! client's origins are URLs, so both agree): names in lower case, IPv4 addresses in
//! dotted-decimal (`127.0.0.01`, `0x7f.1` and `2130706433` are all `127.0.0.1`), IPv6 addresses
//! compressed in brackets (`[0:0::1]` is `[::1]`), ports without leading zeros, and the HTTPS
//! port 443 dropped (`reg.io:443` is `reg.io`). A trailing dot on a name is dropped too
//! (`reg.io.` is `reg.io`), so that every spelling of one registry matches the same
//! configuration.

use reqwest::Url;

/// `host[:port]` in canonical form, or `None` when it is not a registry host (a DNS name, an
/// IPv4 address or a bracketed IPv6 address, with an optional port up to 65535).
pub(crate) fn canonical(host: &str) -> Option<String> {
    if host.is_empty() || host.contains(['/', '@', '?', '#', '\\', '%', ' ']) {
        return None;
    }
    let (name, port) = split_port(host)?;
    let name = match name.strip_suffix('.') {
        // One trailing dot is the same name; `reg.io..` is not a name.
        Some(stripped) if !name.starts_with('[') && !stripped.ends_with('.') => stripped,
        Some(_) if !name.starts_with('[') => return None,
        _ => name,
    };
    if name.starts_with('[') {
        name.strip_prefix('[')?
            .strip_suffix(']')?
            .parse::<std::net::Ipv6Addr>()
            .ok()?;
    } else if !super::is_domain_name(name) {
        return None;
    }
    let url = Url::parse(&format!("https://{name}{port}/")).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// Splits `host[:port]` into the host and `:port` (or `""`); `None` when the port part is not
/// digits.
fn split_port(text: &str) -> Option<(&str, &str)> {
    let split_at = match text.rfind(']') {
        Some(end) => end + 1,
        None => text.find(':').unwrap_or(text.len()),
    };
    let (name, port) = text.split_at(split_at);
    match port.strip_prefix(':') {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some((name, port))
        }
        None if port.is_empty() => Some((name, port)),
        _ => None,
    }
}

/// `host[:port][/path]` with its host part in canonical form and the rest as it is (a
/// registries.conf prefix or location, an auth file key); unchanged when the part before the
/// first `/` is not a host. A wildcard `*.example.com` has its domain in canonical form.
pub(crate) fn canonical_name(name: &str) -> String {
    if let Some(domain) = name.strip_prefix("*.") {
        return match canonical(domain) {
            Some(domain) => format!("*.{domain}"),
            None => name.to_string(),
        };
    }
    let (host, rest) = name.split_at(name.find('/').unwrap_or(name.len()));
    match canonical(host) {
        Some(host) => format!("{host}{rest}"),
        None => name.to_string(),
    }
}

/// Whether two `host[:port]` spellings name the same registry.
#[cfg(test)]
pub(crate) fn same_host(a: &str, b: &str) -> bool {
    match (canonical(a), canonical(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_host_has_one_canonical_form() {
        for (spellings, canonical_form) in [
            (
                &[
                    "localhost:5408",
                    "LOCALHOST:5408",
                    "Localhost:5408",
                    "localhost.:5408",
                    "localhost:05408",
                ][..],
                "localhost:5408",
            ),
            (
                &[
                    "127.0.0.1:5408",
                    "127.0.0.1:05408",
                    "127.000.000.001:5408",
                    "0x7f.1:5408",
                    "2130706433:5408",
                    "127.1:5408",
                ][..],
                "127.0.0.1:5408",
            ),
            (
                &[
                    "[::1]:5408",
                    "[0:0::1]:5408",
                    "[0000:0000:0000:0000:0000:0000:0000:0001]:5408",
                    "[::0001]:05408",
                ][..],
                "[::1]:5408",
            ),
            (
                &[
                    "Reg.Example.COM",
                    "reg.example.com.",
                    "reg.example.com:443",
                    "reg.example.com:0443",
                ][..],
                "reg.example.com",
            ),
            (&["reg.io:80"][..], "reg.io:80"),
        ] {
            for spelling in spellings {
                assert_eq!(
                    canonical(spelling).as_deref(),
                    Some(canonical_form),
                    "{spelling}"
                );
            }
        }
        assert!(same_host("LOCALHOST:5000", "localhost:05000"));
        assert!(!same_host("localhost:5000", "localhost:5001"));
    }

    #[test]
    fn what_is_not_a_host_has_no_canonical_form() {
        for bad in [
            "",
            "reg.io:",
            "reg.io:x",
            "reg.io:99999",
            "[::1",
            "[zz::1]",
            "a b",
            "reg..io",
            "reg.io..",
            "-reg.io",
            "user@reg.io",
            "reg.io/x",
            "[::1]:",
            "%",
        ] {
            assert_eq!(canonical(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn names_keep_their_path_and_wildcards_their_star() {
        assert_eq!(
            canonical_name("LOCALHOST:05000/Team/App"),
            "localhost:5000/Team/App"
        );
        assert_eq!(canonical_name("*.Example.COM."), "*.example.com");
        assert_eq!(canonical_name("[0::1]:5000"), "[::1]:5000");
        assert_eq!(canonical_name("not a host/x"), "not a host/x");
    }
}
