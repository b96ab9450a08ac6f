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
use std::sync::Arc;

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

/// Cuts the PATCH whose chunk starts at `start` once, after `after` bytes of it.
fn cut_chunk(proxy: &FaultProxy, start: u64, after: u64) {
    let prefix = format!("{start}-");
    proxy.add(Rule {
        method: "PATCH",
        path_contains: "/blobs/uploads/".into(),
        fault: Fault::CutRequestAfter(after),
        times: 1,
        when: Some(Arc::new(move |head| {
            head.header("content-range")
                .is_some_and(|r| r.starts_with(&prefix))
        })),
        ..Rule::default()
    });
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
    let env = TestEnv::new();
    let layer = big_list(&env);
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
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
    let env = TestEnv::new();
    let layer = big_list(&env);
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    cut_chunk(&proxy, 12 * MIB, MIB);
    // The status request of the session finds nothing (distribution cancels a session whose
    // PATCH broke part-way when nothing buffered it).
    proxy.add(Rule {
        method: "GET",
        path_contains: "/blobs/uploads/".into(),
        fault: Fault::error(
            404,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
            "",
        ),
        ..Rule::default()
    });
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
    source_proxy.add(Rule {
        method: "GET",
        path_contains: "/blobs/sha256:".into(),
        fault: Fault::WithoutHeader("range"),
        ..Rule::default()
    });
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
    let env = TestEnv::new();
    let layer = big_list(&env);
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    proxy.add(Rule {
        method: "PATCH",
        path_contains: "/blobs/uploads/".into(),
        fault: Fault::error(
            416,
            "BLOB_UPLOAD_INVALID",
            "request body is too large",
            "4.00MiB",
        ),
        when: Some(Arc::new(|head| head.header("content-range").is_some())),
        ..Rule::default()
    });
    push(&env, &proxy, &[])
        .success()
        .stderr(predicate::str::contains("refuses chunks"));
    assert_eq!(
        sha256_digest(&get_blob(&registry, "dst/app", &layer)),
        layer
    );
}
