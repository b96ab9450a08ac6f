//! Unit tests of `error`.

use super::*;

pub(crate) fn errors() -> Errors {
    Errors {
        registry: "reg.io".into(),
        location: "reg.io/app".into(),
        searched: "--creds, /a.json".into(),
        cert_dir_given: false,
        has_credential: true,
        stall: Duration::from_secs(30),
    }
}

const READ: Op<'static> = Op {
    method: "GET",
    what: "manifest v1",
    read: true,
};
const WRITE: Op<'static> = Op {
    method: "PUT",
    what: "manifest v1",
    read: false,
};

fn body(code: &str, detail: &str) -> Vec<u8> {
    format!(r#"{{"errors":[{{"code":"{code}","message":"msg","detail":{detail}}}]}}"#).into_bytes()
}

#[test]
fn statuses_and_codes_become_typed_errors() {
    let e = errors();
    let url = "https://reg.io/v2/app/manifests/v1";
    assert!(matches!(
        e.status(404, url, &body("MANIFEST_UNKNOWN", "null"), READ, None),
        TransportError::NotFound { .. }
    ));
    match e.status(
        400,
        url,
        &body("MANIFEST_BLOB_UNKNOWN", r#""sha256:ab""#),
        WRITE,
        None,
    ) {
        TransportError::Status {
            status,
            codes,
            detail,
            ..
        } => {
            assert_eq!(status, 400);
            assert_eq!(&*codes, ["MANIFEST_BLOB_UNKNOWN"]);
            assert_eq!(detail, "MANIFEST_BLOB_UNKNOWN: msg (sha256:ab)");
        }
        other => panic!("{other:?}"),
    }
    match e.status(401, url, &body("UNAUTHORIZED", "null"), WRITE, None) {
        TransportError::Unauthorized {
            searched, detail, ..
        } => {
            assert_eq!(searched, "--creds, /a.json");
            assert!(
                detail.contains("401") && detail.contains("UNAUTHORIZED"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
    let denied = e.status(
        403,
        url,
        &body("DENIED", r#"{"quota":"exceeded"}"#),
        WRITE,
        None,
    );
    assert!(
        matches!(denied, TransportError::Denied { .. }),
        "{denied:?}"
    );
    assert!(denied.to_string().contains("quota"), "{denied}");
    let busy = e.status(429, url, b"Too Many Requests (HAP429)", READ, None);
    assert!(busy.is_retryable(), "{busy:?}");
    assert!(busy.to_string().contains("HAP429"), "{busy}");
    let html = e.status(502, url, b"<html>bad gateway</html>", READ, None);
    assert!(html.is_retryable());
    assert!(html.to_string().contains("502"), "{html}");
}

#[test]
fn a_mixed_case_code_is_matched_as_the_spec_spells_it() {
    let err = errors().status(400, "u", &body("blob_unknown", "null"), WRITE, None);
    assert!(err.has_code("BLOB_UNKNOWN"), "{err:?}");
}

use reqwest::header::HeaderValue;

fn retry_after_header(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
    h
}

#[test]
fn reads_retry_after() {
    assert_eq!(
        retry_after(&retry_after_header("1")),
        Some(Duration::from_secs(1))
    );
    assert_eq!(
        retry_after(&retry_after_header(" 120 ")),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        retry_after(&retry_after_header("Sun, 06 Nov 1994 08:49:37 GMT")),
        Some(Duration::ZERO),
        "a date in the past means now"
    );
    assert_eq!(retry_after(&retry_after_header("soon")), None);
    assert_eq!(retry_after(&HeaderMap::new()), None);
    let in_a_minute = SystemTime::now() + Duration::from_secs(61);
    let date = httpdate::fmt_http_date(in_a_minute);
    let waited = retry_after(&retry_after_header(&date)).unwrap();
    assert!(
        waited >= Duration::from_secs(59) && waited <= Duration::from_secs(61),
        "{date}: {waited:?}"
    );
}

#[test]
fn log_urls_hide_secrets() {
    let url =
        Url::parse("http://u:p@reg.io/v2/app/blobs/uploads/abc?_state=SECRET&digest=sha256%3A00")
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
