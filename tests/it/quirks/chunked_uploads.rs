//! Resumable uploads: a connection that drops part-way through a big blob costs at most one
//! chunk again, not the blob. The proxy in front of the real registry buffers request bodies
//! (as nginx does by default) and drops the connection of chosen chunks after some bytes; the
//! registry never sees the partial chunk, and the upload continues where it says it stopped.

use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::image::{sha256_digest, write_image_layout, ImageSpec};
use crate::support::push::{get_blob, verify_pushed_index};
use crate::support::registry::Registry;
use crate::support::TestEnv;
use predicates::prelude::*;

const MIB: u64 = 1 << 20;
const CHUNK_MIB: u64 = 4;
const LAYER: u64 = 22 * MIB;

/// A list `l` with one image whose one layer is [`LAYER`] bytes; returns the layer's digest.
fn big_list(env: &TestEnv) -> String {
    let layout = env.path("big");
    let built = write_image_layout(
        &layout,
        &ImageSpec::new("linux/amd64", 1, LAYER as usize, 5),
        "latest",
    );
    env.run(&["create", "l"]);
    env.run(&["add", "l", &format!("oci:{}", layout.display())]);
    built.layer_digests[0].clone()
}

/// [`big_list`] in a test env of its own, and a registry behind a fresh proxy to push it to;
/// returns the env, the layer's digest, the registry and the proxy.
fn big_push() -> (TestEnv, String, Registry, FaultProxy) {
    let env = TestEnv::new();
    let layer = big_list(&env);
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    (env, layer, registry, proxy)
}

/// Cuts the PATCH whose chunk starts at `start` once, after `after` bytes of it.
fn cut_chunk(proxy: &FaultProxy, start: u64, after: u64) {
    let prefix = format!("{start}-");
    proxy.add(
        Rule::new("PATCH", "/blobs/uploads/", Fault::CutRequestAfter(after))
            .times(1)
            .when(move |head| {
                head.header("content-range")
                    .is_some_and(|r| r.starts_with(&prefix))
            }),
    );
}

fn push(env: &TestEnv, proxy: &FaultProxy, extra: &[&str]) -> assert_cmd::assert::Assert {
    let chunk = CHUNK_MIB.to_string();
    let mut args = vec![
        "push",
        "--tls-verify=false",
        "--retry-delay",
        "10ms",
        "--retry",
        "5",
        "--upload-chunk-size",
        &chunk,
        "--debug",
    ];
    args.extend_from_slice(extra);
    let destination = proxy.docker_ref("dst/app:v1");
    args.extend_from_slice(&["l", &destination]);
    env.cmd().args(&args).assert()
}

#[test]
fn drops_in_the_middle_of_a_big_blob_cost_at_most_a_chunk_each() {
    let (env, layer, registry, proxy) = big_push();
    // Three drops: early, in the middle, and in the last full chunk.
    for (start_mib, after) in [(0, MIB), (8, 3 * MIB), (16, 2 * MIB)] {
        cut_chunk(&proxy, start_mib * MIB, after);
    }
    push(&env, &proxy, &[])
        .success()
        .stderr(predicate::str::contains("resuming there").count(3));
    verify_pushed_index(&registry, "dst/app", "v1");
    assert_eq!(
        sha256_digest(&get_blob(&registry, "dst/app", &layer)),
        layer
    );
    let (received, _) = proxy.body_bytes();
    let small_blobs = 64 * 1024;
    assert!(
        received <= LAYER + 3 * CHUNK_MIB * MIB + small_blobs,
        "{received} bytes sent for a {LAYER}-byte layer and three drops"
    );
    assert!(received > LAYER, "the cut chunks were sent again");
}

#[test]
fn a_registry_that_lost_the_session_gets_a_fresh_upload() {
    let (env, layer, registry, proxy) = big_push();
    cut_chunk(&proxy, 12 * MIB, MIB);
    // The status request of the session finds nothing (distribution cancels a session whose
    // PATCH broke part-way when nothing buffered it).
    proxy.add(Rule::new(
        "GET",
        "/blobs/uploads/",
        Fault::error(
            404,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
            "",
        ),
    ));
    push(&env, &proxy, &[])
        .success()
        .stderr(predicate::str::contains("starting again"));
    verify_pushed_index(&registry, "dst/app", "v1");
    assert_eq!(
        sha256_digest(&get_blob(&registry, "dst/app", &layer)),
        layer
    );
}

/// The blob comes from a registry that ignores `Range`: the source is read again from the
/// start and the bytes before the offset dropped; the result is the same.
#[test]
fn a_source_that_ignores_range_is_read_from_the_start() {
    let env = TestEnv::new();
    let layer = big_list(&env);
    let source = Registry::plain();
    env.run(&[
        "push",
        "--tls-verify=false",
        "l",
        &source.docker_ref("src/app:v1"),
    ]);
    let source_proxy = FaultProxy::start(&source);
    source_proxy.add(Rule::new(
        "GET",
        "/blobs/sha256:",
        Fault::WithoutHeader("range"),
    ));
    env.run(&["create", "remote"]);
    env.run(&[
        "add",
        "--tls-verify=false",
        "remote",
        &source_proxy.docker_ref("src/app:v1"),
    ]);
    let dest = Registry::plain();
    let proxy = FaultProxy::start(&dest);
    cut_chunk(&proxy, 8 * MIB, 2 * MIB);
    let chunk = CHUNK_MIB.to_string();
    env.cmd()
        .args([
            "push",
            "--tls-verify=false",
            "--retry-delay",
            "10ms",
            "--upload-chunk-size",
            &chunk,
            "--debug",
            "remote",
            &proxy.docker_ref("dst/app:v1"),
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("resuming there"));
    verify_pushed_index(&dest, "dst/app", "v1");
    assert_eq!(sha256_digest(&get_blob(&dest, "dst/app", &layer)), layer);
    // The source was asked for the rest with a Range it did not honour.
    let ranged = source_proxy
        .seen()
        .iter()
        .filter(|r| r.faulted && r.path.contains(&layer))
        .count();
    assert!(ranged >= 2, "{ranged}");
}

/// A registry that refuses chunks (GHCR refuses PATCHes over 4 MiB) gets the blob in one
/// streamed PATCH instead, and every later blob too.
#[test]
fn a_registry_that_refuses_chunks_gets_one_streamed_patch() {
    let (env, layer, registry, proxy) = big_push();
    proxy.add(
        Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::error(
                416,
                "BLOB_UPLOAD_INVALID",
                "request body is too large",
                "4.00MiB",
            ),
        )
        .when(|head| head.header("content-range").is_some()),
    );
    push(&env, &proxy, &[])
        .success()
        .stderr(predicate::str::contains("refuses chunks"));
    assert_eq!(
        sha256_digest(&get_blob(&registry, "dst/app", &layer)),
        layer
    );
}

/// A list `l` with one image of two [`LAYER`]-byte layers.
fn two_big_layers(env: &TestEnv) {
    let layout = env.path("two");
    write_image_layout(
        &layout,
        &ImageSpec::new("linux/amd64", 2, LAYER as usize, 6),
        "latest",
    );
    env.run(&["create", "l"]);
    env.run(&["add", "l", &format!("oci:{}", layout.display())]);
}

/// Answers the PATCH whose chunk starts at `start` with `fault`, every time, once the chunk
/// arrived (as ECR and Artifact Registry answer behind their front ends).
fn refuse_chunk_at(proxy: &FaultProxy, start: u64, fault: Fault) {
    let prefix = format!("{start}-");
    let rule = Rule::new("PATCH", "/blobs/uploads/", fault).when(move |head| {
        head.header("content-range")
            .is_some_and(|r| r.starts_with(&prefix))
    });
    proxy.add(rule.after_body());
}

/// The PATCHes the proxy saw with a `Content-Range` (chunks), in order.
fn chunks_seen(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .seen()
        .iter()
        .filter(|r| r.method == "PATCH")
        .filter_map(|r| r.header("content-range").map(str::to_string))
        .collect()
}

/// A chunk refused after others were taken (ECR refuses parts under 5 MiB but the last; Google
/// Artifact Registry takes no chunked upload; here at the second and at the last chunk): the
/// session is cancelled, the blob goes in one streamed PATCH, and so does the next blob.
#[test]
fn a_chunk_refused_at_any_offset_sends_the_blob_and_the_next_in_one_patch() {
    let ecr = Fault::error(
        400,
        "BLOB_UPLOAD_INVALID",
        "Part size too small",
        "InvalidLayerPartException: the part is below the 5 MiB minimum",
    );
    let gar = Fault::error(400, "UNSUPPORTED", "chunked uploads are not supported", "");
    for (refused_at, fault, taken) in [(4 * MIB, ecr, 1), (20 * MIB, gar, 5)] {
        let env = TestEnv::new();
        two_big_layers(&env);
        let registry = Registry::plain();
        let proxy = FaultProxy::start(&registry);
        refuse_chunk_at(&proxy, refused_at, fault);
        push(&env, &proxy, &["--jobs", "1"])
            .success()
            .stderr(predicate::str::contains("refuses chunks"));
        verify_pushed_index(&registry, "dst/app", "v1");
        // The refused chunk goes once, and no chunk after it.
        let chunks = chunks_seen(&proxy);
        let refused = &chunks[taken.min(chunks.len())..];
        assert!(
            refused.len() == 1 && refused[0].starts_with(&format!("{refused_at}-")),
            "{refused_at}: {chunks:?}"
        );
        let cancelled = proxy
            .seen()
            .iter()
            .filter(|r| r.method == "DELETE" && r.path.contains("/blobs/uploads/"))
            .count();
        assert_eq!(cancelled, 1, "the refused session is cancelled");
    }
}

/// What the registry says it holds after a broken chunk is checked against what was sent:
/// 0 (the first chunk never arrived) and exactly what was sent (the chunk arrived, its answer
/// was lost) are resumed from; more than was sent, negative or malformed abandon the session
/// for one streamed upload.
#[test]
fn the_registrys_range_after_a_break_is_believed_only_when_it_can_be_true() {
    // 0: the proxy cut the first chunk before the registry saw any of it.
    let (env, layer, registry, proxy) = big_push();
    cut_chunk(&proxy, 0, MIB);
    push(&env, &proxy, &[])
        .success()
        .stderr(predicate::str::contains("holds 0 bytes, resuming there"));
    assert_eq!(
        sha256_digest(&get_blob(&registry, "dst/app", &layer)),
        layer
    );

    // Exactly what was sent (the third chunk, cut before the registry saw it): believed, since
    // it can be true. It is not (the proxy says so, not the registry): distribution appends the
    // next chunks where its session stands, refuses the digest at the commit, and the blob goes
    // in one PATCH.
    let (pushed, registry, layer) = break_and_answer_range(&format!("0-{}", 12 * MIB - 1), 1);
    pushed.success().stderr(
        predicate::str::contains(format!("holds {} bytes, resuming there", 12 * MIB))
            .and(predicate::str::contains("refused the resumed upload"))
            .and(predicate::str::contains("sending it in one streamed PATCH")),
    );
    assert_eq!(
        sha256_digest(&get_blob(&registry, "dst/app", &layer)),
        layer
    );

    // Beyond what was sent, and numbers that are no numbers.
    for range in ["0-20000000", "0--5", "-5", "junk", "0-18446744073709551615"] {
        let (pushed, registry, layer) = break_and_answer_range(range, usize::MAX);
        pushed.success().stderr(
            predicate::str::contains("says it holds")
                .and(predicate::str::contains("sending it in one streamed PATCH"))
                .and(predicate::str::contains("resuming there").not()),
        );
        assert_eq!(
            sha256_digest(&get_blob(&registry, "dst/app", &layer)),
            layer,
            "{range}"
        );
    }
}

/// A push of the big layer whose third chunk breaks, the registry's answers about the session
/// then saying it holds `range` (the first `times` times): the push, the registry, the layer.
fn break_and_answer_range(
    range: &str,
    times: usize,
) -> (assert_cmd::assert::Assert, Registry, String) {
    let (env, layer, registry, proxy) = big_push();
    cut_chunk(&proxy, 8 * MIB, MIB);
    proxy.add(
        Rule::new(
            "GET",
            "/blobs/uploads/",
            Fault::Reply {
                status: 204,
                headers: vec![("Range".into(), range.into())],
                body: String::new(),
            },
        )
        .times(times),
    );
    (push(&env, &proxy, &[]), registry, layer)
}

/// `OCI-Chunk-Min-Length` is a number from the registry like any other: larger than our chunk
/// it sets the chunk; as large as the blob (up to 2^64-1, where adding it to an offset would
/// wrap) or not a number, the blob goes in one streamed PATCH.
#[test]
fn the_registrys_smallest_chunk_is_honoured_or_the_blob_is_streamed() {
    let with_minimum = |minimum: &str| {
        let (env, layer, registry, proxy) = big_push();
        proxy.add(Rule::new(
            "POST",
            "/blobs/uploads/",
            Fault::AddHeader("OCI-Chunk-Min-Length".into(), minimum.into()),
        ));
        let stderr = push(&env, &proxy, &[])
            .success()
            .get_output()
            .stderr
            .clone();
        assert_eq!(
            sha256_digest(&get_blob(&registry, "dst/app", &layer)),
            layer
        );
        (
            String::from_utf8_lossy(&stderr).into_owned(),
            chunks_seen(&proxy),
        )
    };
    let six = (6 * MIB).to_string();
    let (_, chunks) = with_minimum(&six);
    let first = format!("0-{}", 6 * MIB - 1);
    assert_eq!(
        chunks.first().map(String::as_str),
        Some(first.as_str()),
        "{chunks:?}"
    );
    assert_eq!(chunks.len(), 4, "{chunks:?}");

    for (minimum, said) in [
        ("18446744073709551615", "is not smaller than the blob"),
        ("1099511627776", "is not smaller than the blob"),
        ("lots", "is not a number of bytes"),
        ("-1", "is not a number of bytes"),
    ] {
        let (stderr, chunks) = with_minimum(minimum);
        assert!(stderr.contains(said), "{minimum}: {stderr}");
        assert!(chunks.is_empty(), "{minimum}: {chunks:?}");
    }
}
