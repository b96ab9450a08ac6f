//! `push --referrers` against registries that answer the referrers API in their own ways
//! (emulated by the proxy in front of the real registry, which itself has no such API): each
//! answer that says "no API" sends the tool to the fallback tag, a destination that answers
//! badly never fails the push, pages are followed and merged, and every count from the source
//! has a limit named in the error.

use crate::support::fake_http::{Action, FakeServer, Reply};
use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::image::{sha256_digest, OCI_INDEX, OCI_MANIFEST};
use crate::support::push::{
    get_manifest, manifest_status, push_signature, put_manifest, seed_images,
};
use crate::support::registry::Registry;
use crate::support::{five_platforms, TestEnv};
use predicates::prelude::*;
use serde_json::{json, Value};

struct Setup {
    env: TestEnv,
    source: Registry,
    dest: Registry,
    /// The image's tag and digest at the source, and its manifest's size.
    tag: String,
    child: String,
    size: u64,
}

/// One image in a source registry; nothing else yet.
fn setup() -> Setup {
    let env = TestEnv::new();
    let source = Registry::plain();
    let dest = Registry::plain();
    let seeded = seed_images(env.tmp.path(), &source, "src/app", &five_platforms()[..1]);
    let tag = seeded[0].0.rsplit(':').next().unwrap().to_string();
    let child = seeded[0].1.clone();
    let (bytes, _, _) = get_manifest(&source, "src/app", &child);
    Setup {
        env,
        source,
        dest,
        tag,
        child,
        size: bytes.len() as u64,
    }
}

impl Setup {
    /// A signature of the image at the source (listed under its fallback tag).
    fn sign(&self, n: usize) -> String {
        push_signature(
            &self.source,
            "src/app",
            (&self.child, self.size, OCI_MANIFEST),
            format!("signature {n}").as_bytes(),
        )
    }

    /// A list `name` holding the image, read through `proxy`.
    fn list_through(&self, name: &str, proxy: &FaultProxy) {
        self.env.run(&["create", name]);
        self.env.run(&[
            "add",
            "--tls-verify=false",
            name,
            &proxy.docker_ref(&format!("src/app:{}", self.tag)),
        ]);
    }

    fn push(&self, list: &str, destination: &str) -> assert_cmd::assert::Assert {
        self.env
            .cmd()
            .args(["push", "--referrers", "--tls-verify=false", "--debug"])
            .args(["--retry-delay", "10ms", list, destination])
            .assert()
    }

    /// The referrers the destination's fallback tag lists for the image in `repo`.
    fn listed_at_dest(&self, repo: &str) -> Vec<String> {
        let tag = format!("sha256-{}", self.child.trim_start_matches("sha256:"));
        if manifest_status(&self.dest, repo, &tag) != 200 {
            return Vec::new();
        }
        let (bytes, _, _) = get_manifest(&self.dest, repo, &tag);
        let index: Value = serde_json::from_slice(&bytes).unwrap();
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["digest"].as_str().unwrap().to_string())
            .collect()
    }
}

fn on_referrers(proxy: &FaultProxy, fault: Fault) {
    proxy.add(Rule::new("GET", "/referrers/", fault));
}

/// An index listing `digests`, as a referrers answer.
fn index_of(digests: &[String]) -> String {
    let manifests: Vec<Value> = digests
        .iter()
        .map(|d| json!({"mediaType": OCI_MANIFEST, "digest": d, "size": 400, "artifactType": "application/example"}))
        .collect();
    json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).to_string()
}

/// GHCR's 303 to a rate-limited page, Artifact Registry's 302 to a sign-in page, Harbor's 401
/// without a challenge (and a 403 like it), a web page and JSON that is no index: each is "no
/// referrers API", with a `--debug` note; the fallback tag is read, the signature arrives, and
/// no redirect is followed.
#[test]
fn answers_that_are_no_referrers_api_send_the_push_to_the_fallback_tag() {
    let s = setup();
    let signature = s.sign(0);
    let web = FakeServer::start(|_| Action::Reply(Reply::new(200).body("<html>sign in</html>")));
    let page = format!("{}/login", web.url());
    let cases = [
        Fault::reply(303, &[("Location", &page)], ""),
        Fault::reply(302, &[("Location", &page)], ""),
        Fault::reply(401, &[], r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#),
        Fault::reply(403, &[], ""),
        Fault::reply(200, &[("Content-Type", "text/html")], "<html>hello</html>"),
        Fault::reply(
            200,
            &[("Content-Type", "application/json")],
            r#"{"hello":"world"}"#,
        ),
    ];
    for (n, case) in cases.into_iter().enumerate() {
        let proxy = FaultProxy::start(&s.source);
        let list = format!("l{n}");
        s.list_through(&list, &proxy);
        on_referrers(&proxy, case);
        let repo = format!("dst/c{n}");
        s.push(&list, &s.dest.docker_ref(&format!("{repo}:v1")))
            .success()
            .stderr(predicate::str::contains("taken as no referrers API"));
        assert_eq!(
            s.listed_at_dest(&repo),
            std::slice::from_ref(&signature),
            "case {n}"
        );
        assert_eq!(manifest_status(&s.dest, &repo, &signature), 200, "case {n}");
    }
    assert!(
        web.seen().is_empty(),
        "a redirect was followed: {:?}",
        web.seen()
    );
}

/// Whatever the destination answers about its referrers API, the push goes on: the fallback
/// tag is written there.
#[test]
fn the_destinations_referrers_api_check_never_fails_the_push() {
    let s = setup();
    let signature = s.sign(0);
    let cases = [
        Fault::reply(500, &[], "broken"),
        Fault::reply(303, &[("Location", "http://127.0.0.1:9/x")], ""),
        Fault::reply(401, &[], ""),
        Fault::reply(200, &[("Content-Type", "text/html")], "<html>"),
    ];
    for (n, case) in cases.into_iter().enumerate() {
        let front = FaultProxy::start(&s.dest);
        on_referrers(&front, case);
        let list = format!("l{n}");
        s.env.run(&["create", &list]);
        s.env.run(&[
            "add",
            "--tls-verify=false",
            &list,
            &s.source.docker_ref(&format!("src/app:{}", s.tag)),
        ]);
        let repo = format!("dst/c{n}");
        s.push(&list, &front.docker_ref(&format!("{repo}:v1")))
            .success();
        assert_eq!(
            s.listed_at_dest(&repo),
            std::slice::from_ref(&signature),
            "case {n}"
        );
    }
}

/// GitLab resolves the tag `sha256-<hex>` to the image itself: no referrers there, and the
/// push goes on (`--debug` says why).
#[test]
fn a_fallback_tag_that_is_the_image_itself_lists_no_referrers() {
    let s = setup();
    let (bytes, _, _) = get_manifest(&s.source, "src/app", &s.child);
    let tag = format!("sha256-{}", s.child.trim_start_matches("sha256:"));
    put_manifest(&s.source, "src/app", &tag, OCI_MANIFEST, &bytes);
    s.env.run(&["create", "l"]);
    s.env.run(&[
        "add",
        "--tls-verify=false",
        "l",
        &s.source.docker_ref(&format!("src/app:{}", s.tag)),
    ]);
    s.push("l", &s.dest.docker_ref("dst/app:v1"))
        .success()
        .stderr(predicate::str::contains(format!(
            "the image {} itself",
            s.child
        )));
    assert!(s.listed_at_dest("dst/app").is_empty());
}

/// A referrers answer in pages (`Link: <…>; rel="next"`) is read to its last page and merged
/// (an entry on two pages counts once): 1, 2 and 50 pages, every signature arrives.
#[test]
fn referrers_pages_are_followed_and_merged() {
    let s = setup();
    let signatures: Vec<String> = (0..50).map(|n| s.sign(n)).collect();
    for pages in [1usize, 2, 50] {
        let proxy = FaultProxy::start(&s.source);
        let listed: Vec<String> = signatures[..pages].to_vec();
        let first = format!("/v2/src/app/referrers/{}", s.child);
        let base = first.clone();
        on_referrers(
            &proxy,
            Fault::scripted(move |path| {
                let mut headers = vec![("Content-Type".to_string(), OCI_INDEX.to_string())];
                // The signatures have no referrers of their own.
                if !path.starts_with(&base) {
                    return (200, headers, index_of(&[]));
                }
                let page: usize = path
                    .split("page=")
                    .nth(1)
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(1);
                // Page 2 repeats page 1's entry: merged, it counts once.
                let mut entries = vec![listed[page - 1].clone()];
                if page == 2 {
                    entries.push(listed[0].clone());
                }
                if page < listed.len() {
                    let next = format!("<{base}?page={}>; rel=\"next\"", page + 1);
                    headers.push(("Link".into(), next));
                }
                (200, headers, index_of(&entries))
            }),
        );
        let list = format!("p{pages}");
        s.list_through(&list, &proxy);
        let repo = format!("dst/p{pages}");
        s.push(&list, &s.dest.docker_ref(&format!("{repo}:v1")))
            .success();
        let mut arrived = s.listed_at_dest(&repo);
        arrived.sort();
        let mut expected = signatures[..pages].to_vec();
        expected.sort();
        assert_eq!(arrived, expected, "{pages} pages");
        let read = proxy
            .seen()
            .iter()
            .filter(|r| r.path.starts_with(&first))
            .count();
        assert_eq!(read, pages, "each page read once");
    }
}

/// `count` made-up referrer digests for `seed`.
fn made_up(seed: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|n| sha256_digest(format!("{seed}/{n}").as_bytes()))
        .collect()
}

/// Every count from the source has a limit named in the error: referrers per image, pages per
/// image, referrers per push (a source that lists 40 new referrers for every digest stops at
/// the limit, after a few dozen listings, not 64,000), and pages elsewhere are not read.
#[test]
fn referrer_counts_from_the_source_stop_at_named_limits() {
    let s = setup();
    let index_answer = |digests: Vec<String>, next: Option<String>| {
        let mut headers = vec![("Content-Type".to_string(), OCI_INDEX.to_string())];
        if let Some(next) = next {
            headers.push(("Link".into(), format!("<{next}>; rel=\"next\"")));
        }
        (200, headers, index_of(&digests))
    };
    let cases: Vec<(Fault, &str)> = vec![
        (
            Fault::scripted(move |path| index_answer(made_up(path, 300), None)),
            "more than 256 referrers (the limit per image)",
        ),
        (
            Fault::scripted(move |path| index_answer(made_up(path, 1), Some(format!("{path}x")))),
            "more than 64 pages (the limit of pages per image)",
        ),
        (
            Fault::scripted(move |path| index_answer(made_up(path, 40), None)),
            "more than 1024 referrers in one push (the limit per push)",
        ),
        (
            Fault::scripted(move |path| {
                index_answer(made_up(path, 1), Some("http://127.0.0.1:9/next".into()))
            }),
            "the next page is on another host",
        ),
    ];
    for (n, (fault, said)) in cases.into_iter().enumerate() {
        let proxy = FaultProxy::start(&s.source);
        let list = format!("l{n}");
        s.list_through(&list, &proxy);
        on_referrers(&proxy, fault);
        let destination = s.dest.docker_ref(&format!("dst/c{n}:v1"));
        s.push(&list, &destination)
            .failure()
            .stderr(predicate::str::contains(said));
        let listings = proxy
            .seen()
            .iter()
            .filter(|r| r.path.contains("/referrers/"))
            .count();
        assert!(listings <= 70, "case {n}: {listings} listings");
        assert_eq!(manifest_status(&s.dest, &format!("dst/c{n}"), "v1"), 404);
    }
}
