//! Registries in the wild, emulated one quirk at a time by the fault proxy in front of the real
//! registry (the README's "Registries in the wild" says who does what): each test makes the
//! quirk happen and checks that `push --all` of a 3-arch list still completes, or fails saying
//! what the registry said and what to do. Neighbours of each quirk are tested too.

use crate::support::faults::{Fault, FaultProxy, Head, Rule};
use crate::support::image::{write_image_layout, ImageSpec};
use crate::support::push::{get_manifest, manifest_status, verify_pushed_index};
use crate::support::registry::{Registry, RegistryConfig};
use crate::support::TestEnv;
use predicates::prelude::*;
use std::time::{Duration, Instant};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A list `l` of three small per-arch images from local layouts.
fn three_arch_list(env: &TestEnv) {
    env.run(&["create", "l"]);
    for (n, platform) in ["linux/amd64", "linux/arm64/v8", "linux/s390x"]
        .iter()
        .enumerate()
    {
        let layout = env.path(&format!("img-{n}"));
        write_image_layout(
            &layout,
            &ImageSpec::new(platform, 2, 4096, 90 + n as u64),
            "latest",
        );
        env.run(&["add", "l", &format!("oci:{}", layout.display())]);
    }
}

struct Quirk {
    env: TestEnv,
    dest: Registry,
    proxy: FaultProxy,
}

fn quirk() -> Quirk {
    quirk_with(RegistryConfig::default())
}

fn quirk_with(config: RegistryConfig<'_>) -> Quirk {
    let env = TestEnv::new();
    three_arch_list(&env);
    let dest = Registry::start(config);
    let proxy = FaultProxy::start(&dest);
    Quirk { env, dest, proxy }
}

impl Quirk {
    fn push(&self, list: &str, tag: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
        let mut args = vec!["push", "--tls-verify=false"];
        if !extra.contains(&"--retry-delay") {
            args.extend_from_slice(&["--retry-delay", "10ms"]);
        }
        args.extend_from_slice(extra);
        let destination = self.proxy.docker_ref(&format!("dst/app:{tag}"));
        args.extend_from_slice(&[list, &destination]);
        self.env.cmd().args(&args).assert()
    }

    fn rule(&self, method: &'static str, path: &str, fault: Fault) {
        self.proxy.add(Rule::new(method, path, fault));
    }

    fn rule_when(
        &self,
        method: &'static str,
        path: &str,
        fault: Fault,
        when: impl Fn(&Head) -> bool + Send + Sync + 'static,
    ) {
        self.proxy.add(Rule::new(method, path, fault).when(when));
    }

    fn seen(&self, method: &str, path: &str) -> usize {
        self.dest
            .access_log()
            .iter()
            .filter(|e| e.method == method && e.uri.contains(path))
            .count()
    }
}

/// Quay and zot refuse an OCI index over Docker v2s2 manifests; buildah then pushes a Docker
/// manifest list, and so does this tool. Registries that accept the OCI index still get it.
#[test]
fn an_oci_index_refused_over_docker_children_is_written_as_a_docker_list() {
    let q = quirk();
    // Docker children: the list pushed once as v2s2, then added back with --all.
    let staging = Registry::plain();
    q.env.run(&[
        "push",
        "--tls-verify=false",
        "--format",
        "v2s2",
        "l",
        &staging.docker_ref("stage/app:v1"),
    ]);
    q.env.run(&["create", "docker"]);
    q.env.run(&[
        "add",
        "--all",
        "--tls-verify=false",
        "docker",
        &staging.docker_ref("stage/app:v1"),
    ]);
    q.rule_when(
        "PUT",
        "/manifests/",
        Fault::error(
            400,
            "MANIFEST_INVALID",
            "manifest invalid",
            "manifest mediaType is not one of ['application/vnd.docker.distribution.manifest.list.v2+json']",
        ),
        |head| head.header("content-type") == Some(OCI_INDEX),
    );
    q.push("docker", "v1", &[])
        .success()
        .stderr(predicate::str::contains(
            "writing it as a Docker manifest list",
        ));
    let (_, content_type, _) = get_manifest(&q.dest, "dst/app", "v1");
    assert_eq!(content_type.as_deref(), Some(DOCKER_LIST));
    verify_pushed_index(&q.dest, "dst/app", "v1");

    // OCI children cannot go into a Docker list: the refusal is shown, registry detail included.
    q.push("l", "v2", &[]).failure().stderr(
        predicate::str::contains("MANIFEST_INVALID")
            .and(predicate::str::contains("mediaType is not one of")),
    );
    assert_eq!(manifest_status(&q.dest, "dst/app", "v2"), 404);

    // Without the quirk the OCI index is what arrives (the bytes buildah pushes).
    let plain = Registry::plain();
    q.env.run(&[
        "push",
        "--tls-verify=false",
        "docker",
        &plain.docker_ref("dst/app:v1"),
    ]);
    let (_, content_type, _) = get_manifest(&plain, "dst/app", "v1");
    assert_eq!(content_type.as_deref(), Some(OCI_INDEX));
}

/// Artifactory answers HEAD of a missing manifest (and, here, blob) with 403.
#[test]
fn a_403_on_an_existence_check_means_absent() {
    let q = quirk();
    q.rule("HEAD", "/manifests/sha256:", Fault::RewriteStatus(403));
    q.rule("HEAD", "/blobs/sha256:", Fault::RewriteStatus(403));
    q.push("l", "v1", &[]).success();
    verify_pushed_index(&q.dest, "dst/app", "v1");
}

/// Some registries do not allow HEAD on manifests (405): GET answers the same question.
#[test]
fn a_405_on_head_falls_back_to_get() {
    let q = quirk();
    q.rule("HEAD", "/manifests/", Fault::status(405));
    q.rule("HEAD", "/blobs/", Fault::status(405));
    q.push("l", "v1", &[]).success();
    verify_pushed_index(&q.dest, "dst/app", "v1");
    assert!(q.seen("GET", "/manifests/sha256:") > 0);
    // A second push finds everything there through the same GETs and copies nothing.
    q.push("l", "v2", &[])
        .success()
        .stderr(predicate::str::contains("0 blobs copied"));
}

/// Nexus and GHCR refuse a manifest PUT for a moment after the blobs it names were stored.
#[test]
fn a_transient_blob_unknown_on_a_manifest_put_is_retried_a_bounded_number_of_times() {
    let q = quirk();
    for (code, times) in [("MANIFEST_BLOB_UNKNOWN", 2), ("BLOB_UNKNOWN", 1)] {
        q.proxy.add(
            Rule::new(
                "PUT",
                "/manifests/",
                Fault::error(400, code, "blob unknown to registry", "sha256:…"),
            )
            .times(times),
        );
    }
    q.push("l", "v1", &[]).success();
    verify_pushed_index(&q.dest, "dst/app", "v1");

    // A blob that stays unknown is not retried forever, and the error says what it was.
    q.rule(
        "PUT",
        "/manifests/v2",
        Fault::error(
            400,
            "MANIFEST_BLOB_UNKNOWN",
            "blob unknown to registry",
            "sha256:abc",
        ),
    );
    q.push("l", "v2", &["--retry", "2"]).failure().stderr(
        predicate::str::contains("MANIFEST_BLOB_UNKNOWN")
            .and(predicate::str::contains("gave up after 3 attempts")),
    );
}

/// GCR quotas: a few seconds of 429s on every request kind are waited out by the retry budget;
/// the request that failed is named as what it was.
#[test]
fn a_burst_of_429s_is_waited_out_and_a_refused_post_is_called_a_post() {
    let q = quirk();
    let until = Instant::now() + Duration::from_millis(1500);
    for method in ["POST", "HEAD", "PUT"] {
        q.proxy
            .add(Rule::new(method, "/v2/dst/", Fault::status(429)).until(until));
    }
    // 0.5 + 1 + 2 s of backoff at the least: longer than the burst.
    q.push("l", "v1", &["--retry-delay", "500ms"]).success();
    verify_pushed_index(&q.dest, "dst/app", "v1");

    q.rule("POST", "/blobs/uploads/", Fault::status(429));
    // A fresh repository needs uploads again; their POST is refused for good this time.
    q.env
        .cmd()
        .args([
            "push",
            "--tls-verify=false",
            "--retry-delay",
            "10ms",
            "--retry",
            "1",
            "l",
            &q.proxy.docker_ref("fresh/app:v1"),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("POST").and(predicate::str::contains("429")));
}

/// Artifactory refuses a monolithic upload (a PUT carrying the blob); uploads here are always
/// POST, PATCH with the body, then an empty PUT. Its neighbours: PATCH answered 201 (ECR) or
/// 204, the final PUT answered 204 or 200, and a relative Location at every step.
#[test]
fn uploads_survive_the_answers_registries_give_them() {
    let q = quirk_with(RegistryConfig {
        relative_urls: true,
        ..Default::default()
    });
    q.rule_when(
        "PUT",
        "/blobs/uploads/",
        Fault::error(
            400,
            "BLOB_UPLOAD_INVALID",
            "blob upload invalid",
            "monolithic upload",
        ),
        |head| head.header("content-length").is_some_and(|l| l != "0"),
    );
    q.rule("PATCH", "/blobs/uploads/", Fault::RewriteStatus(201));
    q.rule("PUT", "/blobs/uploads/", Fault::RewriteStatus(204));
    q.push("l", "v1", &[]).success();
    verify_pushed_index(&q.dest, "dst/app", "v1");

    let q = quirk();
    q.rule("PATCH", "/blobs/uploads/", Fault::RewriteStatus(204));
    q.rule("PUT", "/blobs/uploads/", Fault::RewriteStatus(200));
    q.push("l", "v1", &[]).success();
    verify_pushed_index(&q.dest, "dst/app", "v1");
}

/// An upload session redirected to another port: every later step goes where the session is,
/// relative `Location`s resolved against the server that answered.
#[test]
fn an_upload_redirected_to_another_port_continues_there() {
    let q = quirk_with(RegistryConfig {
        relative_urls: true,
        ..Default::default()
    });
    let second = FaultProxy::start(&q.dest);
    q.rule(
        "POST",
        "/blobs/uploads/",
        Fault::RedirectTo(format!("http://{}", second.addr)),
    );
    q.push("l", "v1", &[]).success();
    verify_pushed_index(&q.dest, "dst/app", "v1");
    let at_second = |method: &str| {
        second
            .seen()
            .iter()
            .filter(|r| r.path.contains("/blobs/uploads/") && r.method == method)
            .count()
    };
    assert!(at_second("PATCH") > 0 && at_second("PUT") > 0);
    let at_first: Vec<_> = q
        .proxy
        .seen()
        .into_iter()
        .filter(|r| r.path.contains("/blobs/uploads/") && r.method != "POST")
        .collect();
    assert!(at_first.is_empty(), "{at_first:?}");
}

/// ECR cuts the connection of an upload to a repository that was not created first.
#[test]
fn a_missing_repository_is_named_with_what_to_do() {
    let q = quirk();
    q.rule("POST", "/blobs/uploads/", Fault::Drop);
    q.push("l", "v1", &[]).failure().stderr(
        predicate::str::contains("the repository does not exist")
            .and(predicate::str::contains("create it first"))
            .and(predicate::str::contains("NAME_UNKNOWN")),
    );
    // The same cut on a repository that does exist stays a network error.
    q.env.run(&[
        "push",
        "--tls-verify=false",
        "l",
        &q.dest.docker_ref("dst/app:v0"),
    ]);
    q.env.run(&["create", "more"]);
    let layout = q.env.path("more");
    write_image_layout(
        &layout,
        &ImageSpec::new("linux/ppc64le", 1, 4096, 99),
        "latest",
    );
    q.env
        .run(&["add", "more", &format!("oci:{}", layout.display())]);
    q.push("more", "v1", &[])
        .failure()
        .stderr(predicate::str::contains("does not exist").not());
}

/// ECR immutable tags refuse any PUT of an existing tag (400 TAG_INVALID), Harbor's
/// immutability rule answers 412: pushing what the tag already holds is success, a different
/// manifest is still refused.
#[test]
fn an_immutable_tag_that_already_holds_the_index_is_done() {
    let q = quirk();
    q.push("l", "v1", &[]).success();
    for (status, code) in [(400, "TAG_INVALID"), (412, "PRECONDITION")] {
        let q2 = &q;
        q2.proxy.add(Rule::new("PUT", "/manifests/v1", Fault::error(
                status,
                code,
                "The image tag 'v1' already exists and cannot be overwritten because the repository is immutable",
                "",
            )).times(1));
        q2.push("l", "v1", &[]).success();
    }
    // Another manifest under the immutable tag: refused, with the registry's words.
    q.env
        .run(&["annotate", "--index", "--annotation", "k=v", "l"]);
    q.rule(
        "PUT",
        "/manifests/v1",
        Fault::error(
            400,
            "TAG_INVALID",
            "cannot be overwritten because the repository is immutable",
            "",
        ),
    );
    q.push("l", "v1", &[])
        .failure()
        .stderr(predicate::str::contains("TAG_INVALID").and(predicate::str::contains("immutable")));
}

/// Harbor's quota (403 DENIED) and Docker Hub's missing push permission (a token without the
/// push scope, 401 insufficient_scope) are refusals, not wrong passwords.
#[test]
fn quota_and_permission_refusals_are_not_called_wrong_passwords() {
    let q = quirk();
    q.rule(
        "POST",
        "/blobs/uploads/",
        Fault::error(
            403,
            "DENIED",
            "Quota exceeded when processing the request",
            "project quota",
        ),
    );
    q.push("l", "v1", &[]).failure().stderr(
        predicate::str::contains("refused the request")
            .and(predicate::str::contains("Quota exceeded"))
            .and(predicate::str::contains("quota is not exhausted"))
            .and(predicate::str::contains("authentication failed").not()),
    );

    let q = quirk();
    let token = crate::support::fake_http::FakeServer::start(|_| {
        crate::support::fake_http::Action::Reply(
            crate::support::fake_http::Reply::new(200).body(r#"{"token":"pull-only"}"#),
        )
    });
    q.rule(
        "POST",
        "/blobs/uploads/",
        Fault::Reply {
            status: 401,
            headers: vec![(
                "WWW-Authenticate".into(),
                format!(
                    r#"Bearer realm="{}/token",service="hub",scope="repository:dst/app:pull,push",error="insufficient_scope""#,
                    token.url()
                ),
            )],
            body: r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                .into(),
        },
    );
    q.push("l", "v1", &["--creds", "alice:s3cret"])
        .failure()
        .stderr(
            predicate::str::contains("insufficient_scope")
                .and(predicate::str::contains("authentication failed").not()),
        );
}

/// GHCR takes seconds to commit a big blob and its front end answers 504 meanwhile; a dropped
/// connection loses the answer the same way. The commit is sent again and finds the session
/// gone (`BLOB_UPLOAD_UNKNOWN`) or the blob unknown (`BLOB_UNKNOWN`): the blob is looked for,
/// and the upload is done when it is there, sent again when it is not.
#[test]
fn a_blob_commit_whose_answer_was_lost_is_looked_for_then_done_or_sent_again() {
    let commit = |q: &Quirk, fault: Fault| {
        q.proxy
            .add(Rule::new("PUT", "digest=sha256", fault).times(1));
    };
    let commits = |q: &Quirk| {
        q.proxy
            .seen()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.contains("digest=sha256"))
            .count()
    };
    // Committed, the answer lost: a 504 from the front, or the connection gone.
    for lost in [Fault::RewriteStatus(504), Fault::LoseAnswer] {
        let q = quirk();
        commit(&q, lost);
        q.push("l", "v1", &["--debug"])
            .success()
            .stderr(predicate::str::contains("its commit went through"));
        verify_pushed_index(&q.dest, "dst/app", "v1");
    }
    // Not committed, and the registry says so either way: the blob goes again.
    for code in ["BLOB_UNKNOWN", "BLOB_UPLOAD_UNKNOWN"] {
        let q = quirk();
        commit(&q, Fault::status(504));
        commit(&q, Fault::error(404, code, "blob unknown to registry", ""));
        q.push("l", "v1", &[]).success();
        verify_pushed_index(&q.dest, "dst/app", "v1");
        let uploads = q.seen("POST", "/blobs/uploads/");
        let blobs = q.seen("PUT", "digest=sha256");
        assert_eq!(
            commits(&q),
            blobs + 2,
            "{code}: two commits were answered by the proxy"
        );
        assert_eq!(uploads, blobs + 1, "{code}: the lost blob went again");
    }
}
