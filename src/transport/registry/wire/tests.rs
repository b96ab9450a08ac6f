//! Unit tests of `wire`.

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
    let date = httpdate::fmt_http_date(in_a_minute);
    let waited = retry_after(&headers(&date)).unwrap();
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

fn trickle(chunks: Vec<(u64, &'static [u8])>) -> HttpStream {
    Box::pin(futures_util::stream::unfold(
        chunks.into_iter(),
        |mut rest| async move {
            let (delay_ms, data) = rest.next()?;
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            Some((Ok(Bytes::from_static(data)), rest))
        },
    ))
}

#[tokio::test(start_paused = true)]
async fn a_trickling_body_is_abandoned_after_one_window() {
    // One byte a second, window 10 s: less than the floor arrives in the window.
    let slow = trickle(vec![(1000, b"a"); 100]);
    let mut guarded = Box::pin(guard_stream(slow, Duration::from_secs(10)));
    let mut got = 0;
    let failure = loop {
        match guarded.next().await {
            Some(Ok(chunk)) => got += chunk.len(),
            Some(Err(e)) => break e,
            None => panic!("the stream ended without stalling"),
        }
    };
    assert!(matches!(failure, BodyError::Stalled(_)), "{failure}");
    assert!(got <= 11, "{got}");
    assert!(guarded.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_abandoned_and_a_slow_consumer_is_not() {
    let silent: HttpStream = Box::pin(futures_util::stream::pending());
    let mut guarded = Box::pin(guard_stream(silent, Duration::from_secs(5)));
    assert!(matches!(
        guarded.next().await,
        Some(Err(BodyError::Stalled(_)))
    ));

    // The peer answers at once, the consumer waits a minute between reads: not a stall.
    let fast = trickle(vec![(0, &[0u8; 4096]); 5]);
    let mut guarded = Box::pin(guard_stream(fast, Duration::from_secs(5)));
    let mut chunks = 0;
    while let Some(item) = guarded.next().await {
        item.unwrap();
        chunks += 1;
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    assert_eq!(chunks, 5);
}

#[tokio::test(start_paused = true)]
async fn an_upload_that_stalls_or_gets_no_answer_is_stopped() {
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        response: Duration::from_secs(7),
        stall: Duration::from_secs(5),
    };
    let meter = Meter::default();
    assert!(matches!(
        watch_upload(&meter, timeouts).await,
        WireError::Stalled(_)
    ));
    let meter = Meter::default();
    meter.bytes.store(1 << 20, Ordering::Relaxed);
    meter.finished.store(true, Ordering::Relaxed);
    let started = tokio::time::Instant::now();
    assert!(matches!(
        watch_upload(&meter, timeouts).await,
        WireError::NoAnswer(_)
    ));
    assert!(started.elapsed() >= Duration::from_secs(7));
}
