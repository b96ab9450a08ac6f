//! Unit tests of `wire`.

use super::*;

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

#[test]
fn a_redirect_changes_the_method_as_http_says() {
    let url = Url::parse("https://reg.io/v2/app/blobs/uploads/").unwrap();
    let to = Url::parse("https://other.io/upload").unwrap();
    let post = || {
        Request::new(Method::POST, &url)
            .header(CONTENT_LENGTH, HeaderValue::from(0))
            .bytes(Bytes::from_static(b"x"))
    };
    let kept = post().redirected(307, to.clone()).unwrap();
    assert_eq!(
        (kept.method.clone(), kept.url.clone()),
        (Method::POST, to.clone())
    );
    assert!(matches!(kept.body, Body::Bytes(_)));
    for status in [301, 302, 303] {
        let changed = post().redirected(status, to.clone()).unwrap();
        assert_eq!(changed.method, Method::GET, "{status}");
        assert!(matches!(changed.body, Body::Empty), "{status}");
        assert!(changed.headers.get(CONTENT_LENGTH).is_none(), "{status}");
    }
    let head = Request::new(Method::HEAD, &url)
        .redirected(303, to.clone())
        .unwrap();
    assert_eq!(head.method, Method::HEAD);

    // A stream goes once: a redirect that keeps the body cannot be followed after it.
    let mut streamed =
        Request::new(Method::PATCH, &url).stream(Box::pin(futures_util::stream::empty()));
    assert!(!streamed.can_repeat());
    assert!(streamed.attempt().is_some());
    assert!(streamed.attempt().is_none());
    assert!(streamed.redirected(307, to).is_none());
}
