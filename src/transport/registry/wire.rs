//! The requests this module sends itself (not through oci-client): one place that sends them,
//! times them and, with `--debug`, logs `METHOD URL -> STATUS (ms)` to stderr; and the response
//! headers oci-client would have dropped (`Retry-After`).
//!
//! The log never shows credentials: request headers are not printed at all, and of a URL's
//! query only parameters known to carry no secret are shown (an upload's `_state` and a CDN's
//! signed query are replaced by `…`).

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, Url};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Query parameters that are safe to print.
const SHOWN_PARAMS: &[&str] = &["scope", "service", "mount", "from", "digest", "n", "last"];

/// A reqwest client for one registry host, with the host's trust settings, that logs.
#[derive(Debug, Clone)]
pub(super) struct Wire {
    http: reqwest::Client,
    debug: bool,
}

impl Wire {
    pub(super) fn new(http: reqwest::Client, debug: bool) -> Self {
        Self { http, debug }
    }

    pub(super) fn debug(&self) -> bool {
        self.debug
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends a request built on [`Wire::http`]; with debug on, logs it once it answered.
    pub(super) async fn send(&self, request: RequestBuilder) -> Result<Response, reqwest::Error> {
        let request = request.build()?;
        if !self.debug {
            return self.http.execute(request).await;
        }
        let method = request.method().to_string();
        let url = request.url().clone();
        let started = Instant::now();
        let result = self.http.execute(request).await;
        let outcome = match &result {
            Ok(response) => {
                let mut text = response.status().as_u16().to_string();
                if response.url() != &url {
                    text.push_str(&format!(" from {}", shown_url(response.url())));
                }
                text
            }
            Err(e) => format!("error: {}", super::error_chain(e)),
        };
        log_line(&method, &url, &outcome, started.elapsed());
        result
    }

    /// Logs requests oci-client made on our behalf (a blob upload's POST and PUT), whose
    /// statuses we do not see one by one; `note` says so.
    pub(super) fn log_foreign(
        &self,
        method: &str,
        url: &Url,
        outcome: &str,
        elapsed: Duration,
        note: &str,
    ) {
        if self.debug {
            eprintln!(
                "{method} {} -> {outcome} ({} ms) [{note}]",
                shown_url(url),
                elapsed.as_millis()
            );
        }
    }
}

fn log_line(method: &str, url: &Url, outcome: &str, elapsed: Duration) {
    eprintln!(
        "{method} {} -> {outcome} ({} ms)",
        shown_url(url),
        elapsed.as_millis()
    );
}

/// A URL for the log: no user info, and only harmless query parameters.
pub(super) fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_fragment(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let value = if SHOWN_PARAMS.contains(&k.as_ref()) {
                    v.into_owned()
                } else {
                    "…".to_string()
                };
                (k.into_owned(), value)
            })
            .collect();
        shown.set_query(None);
        if !pairs.is_empty() {
            shown.query_pairs_mut().extend_pairs(pairs);
        }
    }
    // The query encoder escapes `…`; show it as written.
    shown.to_string().replace("%E2%80%A6", "…")
}

/// The `Retry-After` of a response: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date in
/// the past means "now"; an unreadable value is ignored.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the HTTP-date
/// form every current server sends.
fn parse_http_date(text: &str) -> Option<u64> {
    let (_weekday, rest) = text.split_once(", ")?;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':');
    let hour: u64 = clock.next()?.parse().ok()?;
    let minute: u64 = clock.next()?.parse().ok()?;
    let second: u64 = clock.next()?.parse().ok()?;
    if parts.next()? != "GMT" || parts.next().is_some() || clock.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day as i64);
    let seconds = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64;
    u64::try_from(seconds).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn reads_retry_after() {
        assert_eq!(retry_after(&headers("1")), Some(Duration::from_secs(1)));
        assert_eq!(
            retry_after(&headers(" 120 ")),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:49:37 GMT")),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);

        let in_a_minute = SystemTime::now() + Duration::from_secs(61);
        let secs = in_a_minute.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let date = format_http_date(secs);
        let waited = retry_after(&headers(&date)).unwrap();
        assert!(
            waited >= Duration::from_secs(59) && waited <= Duration::from_secs(61),
            "{date}: {waited:?}"
        );
    }

    #[test]
    fn parses_http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(1_835_481_599)
        );
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 CET"), None);
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
    }

    /// The inverse, for the test above only.
    fn format_http_date(secs: u64) -> String {
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // civil_from_days
        let z = days + 719_468;
        let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = if m <= 2 { y + 1 } else { y };
        let months = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "Mon, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
            months[(m - 1) as usize],
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }

    #[test]
    fn log_urls_hide_secrets() {
        let url = Url::parse(
            "http://u:p@reg.io/v2/app/blobs/uploads/abc?_state=SECRET&digest=sha256%3A00",
        )
        .unwrap();
        let shown = shown_url(&url);
        assert!(
            !shown.contains("SECRET") && !shown.contains("u:p"),
            "{shown}"
        );
        assert!(shown.contains("_state=…"), "{shown}");
        assert!(shown.contains("digest=sha256%3A00"), "{shown}");
        let url =
            Url::parse("https://auth.io/token?service=reg&scope=repository%3Aapp%3Apull").unwrap();
        assert_eq!(shown_url(&url), url.to_string());
        let url = Url::parse("https://reg.io/v2/").unwrap();
        assert_eq!(shown_url(&url), "https://reg.io/v2/");
    }
}
