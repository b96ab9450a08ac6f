//! A fault-injecting HTTP proxy in front of a real registry: it forwards every request, except
//! those a rule matches, which get an error status, a cut or corrupted body, a redirect, or a
//! registry quirk (a status rewritten, a scripted answer, a dropped connection). Only for
//! faults and quirks the real registry will not produce on demand.

use super::image::{write_image_layout, ImageSpec};
use super::push::push_layout_image;
use super::registry::Registry;
use super::TestEnv;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Instant;

type ProxyBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// What to do to a matching request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (and a `Retry-After` header when given) without forwarding.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Forward, then cut the response body after this many bytes and drop the connection.
    DropAfter(usize),
    /// Forward, flipping one byte of the response body (same length, wrong digest).
    Corrupt,
    /// Answer 307 to the same path on another base URL.
    RedirectTo(String),
    /// Forward, sending the response body `bytes` at a time, one piece every `every`.
    Trickle {
        bytes: usize,
        every: std::time::Duration,
    },
    /// Answer this without forwarding.
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Forward, then give the answer this status instead of the registry's.
    RewriteStatus(u16),
    /// Close the connection without an answer (the request is not forwarded).
    Drop,
    /// Read the request body as a buffering proxy does (nginx's default) and, once more than
    /// this many bytes of it arrived, close the connection without forwarding anything: the
    /// registry never sees the partial request.
    CutRequestAfter(u64),
    /// Forward without this request header (a registry that ignores `Range`, say).
    WithoutHeader(&'static str),
    /// Forward, replacing the response's Content-Type with this one.
    ContentType(String),
    /// Forward, then close the connection instead of answering: the registry did the work,
    /// and the client never hears of it (an answer lost on its way back).
    LoseAnswer,
    /// Forward, adding this header to the answer.
    AddHeader(String, String),
    /// Answer, without forwarding, what this says for the request's path and query.
    ReplyWith(Responder),
    /// Wait until the gate opens, then forward.
    Hold(Gate),
}

/// A scripted answer: status, headers, body.
pub type Scripted = (u16, Vec<(String, String)>, String);

/// What answers a request from its path and query ([`Fault::ReplyWith`]).
#[derive(Clone)]
pub struct Responder(Arc<dyn Fn(&str) -> Scripted + Send + Sync>);

impl Fault {
    /// Answer, without forwarding, what `respond` says for the request's path and query.
    pub fn scripted(respond: impl Fn(&str) -> Scripted + Send + Sync + 'static) -> Fault {
        Fault::ReplyWith(Responder(Arc::new(respond)))
    }
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Responder")
    }
}

/// Holds requests ([`Fault::Hold`]) until it is opened.
#[derive(Debug, Clone)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Gate {
    fn default() -> Gate {
        Gate(Arc::new(tokio::sync::watch::channel(false).0))
    }
}

impl Gate {
    /// Lets every held request (and every later one) through.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    /// Returns once the gate is open.
    async fn opened(&self) {
        let mut open = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = open.wait_for(|open| *open).await;
    }
}

impl Fault {
    /// Answer with `status` (no `Retry-After`) without forwarding.
    pub fn status(status: u16) -> Fault {
        Fault::Status {
            status,
            retry_after: None,
        }
    }

    /// Answer this without forwarding: `status`, `headers` and `body`.
    pub fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Fault {
        Fault::Reply {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.into(),
        }
    }

    /// A registry-style error answer: `{"errors":[{"code","message","detail"}]}`.
    pub fn error(status: u16, code: &str, message: &str, detail: &str) -> Fault {
        Fault::Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::json!({"errors": [{"code": code, "message": message, "detail": detail}]})
                .to_string(),
        }
    }
}

/// What a rule may look at besides the method and path: the request's headers.
#[derive(Debug, Clone)]
pub struct Head {
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An extra condition on a request.
pub type Matcher = std::sync::Arc<dyn Fn(&Head) -> bool + Send + Sync>;

#[derive(Clone)]
pub struct Rule {
    pub method: &'static str,
    /// Matches when the request path contains this text.
    pub path_contains: String,
    pub fault: Fault,
    /// How many matching requests get the fault; later ones are forwarded.
    pub times: usize,
    /// And only when this says so.
    pub when: Option<Matcher>,
    /// And only until then.
    pub until: Option<Instant>,
    /// Whether the fault waits for the whole request body, as a registry behind a buffering
    /// front end answers; otherwise it answers at once, and a client still sending may see the
    /// connection reset instead of the answer.
    pub after_body: bool,
}

impl Rule {
    /// `fault` for every `method` request whose path (and query) holds `path`, forever.
    pub fn new(method: &'static str, path: impl Into<String>, fault: Fault) -> Rule {
        Rule {
            method,
            path_contains: path.into(),
            fault,
            times: usize::MAX,
            when: None,
            until: None,
            after_body: false,
        }
    }

    /// Only the first `times` matching requests get the fault; later ones are forwarded.
    pub fn times(mut self, times: usize) -> Rule {
        self.times = times;
        self
    }

    /// Only requests `when` accepts (it sees their headers).
    pub fn when(mut self, when: impl Fn(&Head) -> bool + Send + Sync + 'static) -> Rule {
        self.when = Some(Arc::new(when));
        self
    }

    /// Only until `until`.
    pub fn until(mut self, until: Instant) -> Rule {
        self.until = Some(until);
        self
    }

    /// The fault answers only after the whole request body arrived.
    pub fn after_body(mut self) -> Rule {
        self.after_body = true;
        self
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub faulted: bool,
    pub at: Instant,
    pub had_authorization: bool,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// The request's headers.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    seen: Vec<Seen>,
    /// Request body bytes received from clients, and forwarded to the registry.
    received: u64,
    forwarded: u64,
}

pub struct FaultProxy {
    pub addr: String,
    state: Arc<Mutex<State>>,
    _runtime: tokio::runtime::Runtime,
}

impl FaultProxy {
    /// Starts a proxy on a free 127.0.0.1 port forwarding to `upstream` (plain HTTP).
    pub fn start(upstream: &Registry) -> FaultProxy {
        Self::start_to(upstream.url())
    }

    /// Starts a proxy forwarding to any base URL.
    pub fn start_to(upstream: String) -> FaultProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State::default()));
        super::use_tls_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let shared = (state.clone(), client, upstream, addr.clone());
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(req, shared).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            addr,
            state,
            _runtime: runtime,
        }
    }

    pub fn add(&self, rule: Rule) {
        self.state.lock().unwrap().rules.push(rule);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Request body bytes received from clients so far, and how many of them were forwarded.
    pub fn body_bytes(&self) -> (u64, u64) {
        let state = self.state.lock().unwrap();
        (state.received, state.forwarded)
    }

    /// `docker://127.0.0.1:PORT/<path>` through the proxy.
    pub fn docker_ref(&self, path: &str) -> String {
        format!("docker://{}/{}", self.addr, path)
    }
}

/// A list `l` of one image (`spec`) that `source` holds as `src/app:v1`, added through a new
/// proxy in front of `source`; returns the proxy, whose rules then apply to what a push reads.
pub fn list_through_proxy(env: &TestEnv, source: &Registry, spec: &ImageSpec) -> FaultProxy {
    let layout = env.path("img");
    write_image_layout(&layout, spec, "latest");
    push_layout_image(&layout, "latest", source, "src/app", "v1");
    let proxy = FaultProxy::start(source);
    env.run(&["create", "l"]);
    env.run(&[
        "add",
        "--tls-verify=false",
        "l",
        &proxy.docker_ref("src/app:v1"),
    ]);
    proxy
}

type Shared = (Arc<Mutex<State>>, reqwest::Client, String, String);

async fn handle(
    mut req: Request<Incoming>,
    (state, client, upstream, own_addr): Shared,
) -> Response<ProxyBody> {
    let method = req.method().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "/".into());
    let head = Head {
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
    };
    let (fault, after_body) = {
        let mut state = state.lock().unwrap();
        let (fault, after_body) = state
            .rules
            .iter_mut()
            .find(|r| {
                r.times > 0
                    && r.method == method
                    && path_and_query.contains(&r.path_contains)
                    && r.until.is_none_or(|t| Instant::now() < t)
                    && r.when.as_ref().is_none_or(|when| when(&head))
            })
            .map(|r| {
                r.times -= 1;
                (Some(r.fault.clone()), r.after_body)
            })
            .unwrap_or_default();
        state.seen.push(Seen {
            method: method.clone(),
            path: path_and_query.clone(),
            faulted: fault.is_some(),
            at: Instant::now(),
            had_authorization: req.headers().contains_key("authorization"),
            authorization: head.header("authorization").map(str::to_string),
            headers: head.headers.clone(),
        });
        (fault, after_body)
    };
    if after_body {
        while let Some(Ok(_)) = req.body_mut().frame().await {}
    }
    match &fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let mut response = Response::builder().status(*status);
            if let Some(seconds) = retry_after {
                response = response.header("Retry-After", seconds.to_string());
            }
            let code = if *status == 429 {
                "TOOMANYREQUESTS"
            } else {
                "UNKNOWN"
            };
            let body =
                format!(r#"{{"errors":[{{"code":"{code}","message":"injected {status}"}}]}}"#);
            return response
                .header("Content-Type", "application/json")
                .body(full(body))
                .unwrap();
        }
        Some(Fault::Reply {
            status,
            headers,
            body,
        }) => {
            let mut response = Response::builder().status(*status);
            for (name, value) in headers {
                response = response.header(name, value);
            }
            return response.body(full(body.clone())).unwrap();
        }
        Some(Fault::Drop) => return dropped(),
        Some(Fault::ReplyWith(respond)) => {
            let (status, headers, body) = (respond.0)(&path_and_query);
            let mut response = Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(name, value);
            }
            return response.body(full(body)).unwrap();
        }
        Some(Fault::Hold(gate)) => gate.opened().await,
        Some(Fault::RedirectTo(base)) => {
            return Response::builder()
                .status(307)
                .header("Location", format!("{base}{path_and_query}"))
                .body(full(String::new()))
                .unwrap();
        }
        _ => {}
    }
    // Forward, keeping the Host the client used so the registry's Location headers point back
    // at the proxy.
    let mut forward = client.request(req.method().clone(), format!("{upstream}{path_and_query}"));
    for (name, value) in req.headers() {
        if name != "host" && name != "content-length" && name != "transfer-encoding" {
            forward = forward.header(name, value);
        }
    }
    forward = forward.header("host", own_addr.as_str());
    if let Some(length) = req.headers().get("content-length") {
        forward = forward.header("content-length", length);
    }
    if let Some(Fault::WithoutHeader(name)) = &fault {
        let kept: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter(|(n, _)| !n.as_str().eq_ignore_ascii_case(name))
            .filter(|(n, _)| !matches!(n.as_str(), "host" | "content-length" | "transfer-encoding"))
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        forward = client.request(req.method().clone(), format!("{upstream}{path_and_query}"));
        for (n, v) in kept {
            forward = forward.header(n, v);
        }
        forward = forward.header("host", own_addr.as_str());
    }
    if let Some(Fault::CutRequestAfter(limit)) = fault {
        let mut body = req.into_body().into_data_stream();
        let mut buffered = Vec::new();
        while let Some(Ok(chunk)) = body.next().await {
            state.lock().unwrap().received += chunk.len() as u64;
            buffered.extend_from_slice(&chunk);
            if buffered.len() as u64 > limit {
                return dropped();
            }
        }
        state.lock().unwrap().forwarded += buffered.len() as u64;
        forward = forward.body(buffered);
    } else {
        let counting = state.clone();
        let body_stream = req.into_body().into_data_stream().map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            let mut state = counting.lock().unwrap();
            state.received += chunk.len() as u64;
            state.forwarded += chunk.len() as u64;
            Ok::<_, std::io::Error>(chunk)
        });
        forward = forward.body(reqwest::Body::wrap_stream(body_stream));
    }
    let upstream_response = match forward.send().await {
        Ok(response) => response,
        Err(e) => {
            return Response::builder()
                .status(502)
                .body(full(format!("proxy: {e}")))
                .unwrap()
        }
    };
    if let Some(Fault::LoseAnswer) = fault {
        let _ = upstream_response.bytes().await;
        return dropped();
    }
    let status = match fault {
        Some(Fault::RewriteStatus(status)) if status != 0 => status,
        _ => upstream_response.status().as_u16(),
    };
    let mut response = Response::builder().status(status);
    if let Some(Fault::AddHeader(name, value)) = &fault {
        response = response.header(name, value);
    }
    let content_type = match &fault {
        Some(Fault::ContentType(content_type)) => Some(content_type.clone()),
        _ => None,
    };
    for (name, value) in upstream_response.headers() {
        if name == "content-type" && content_type.is_some() {
            continue;
        }
        response = response.header(name, value);
    }
    if let Some(content_type) = content_type {
        response = response.header("Content-Type", content_type);
    }
    if let Some(Fault::Trickle { bytes, every }) = fault {
        let body = upstream_response.bytes().await.unwrap_or_default();
        let pieces: Vec<Bytes> = body
            .chunks(bytes.max(1))
            .map(Bytes::copy_from_slice)
            .collect();
        let slow = futures_util::stream::iter(pieces).then(move |piece| async move {
            tokio::time::sleep(every).await;
            Ok::<_, std::io::Error>(Frame::data(piece))
        });
        return response
            .body(BodyExt::boxed(StreamBody::new(slow)))
            .unwrap();
    }
    let mut sent = 0usize;
    let mut flipped = false;
    let limit = match fault {
        Some(Fault::DropAfter(n)) => Some(n),
        _ => None,
    };
    let corrupt = matches!(fault, Some(Fault::Corrupt));
    let stream = upstream_response.bytes_stream().map(move |chunk| {
        let mut chunk = chunk.map_err(std::io::Error::other)?.to_vec();
        if corrupt && !flipped && !chunk.is_empty() {
            chunk[0] ^= 0x01;
            flipped = true;
        }
        if let Some(limit) = limit {
            if sent + chunk.len() > limit {
                // Ending the body with an error makes hyper drop the connection mid-body.
                return Err(std::io::Error::other("injected connection drop"));
            }
        }
        sent += chunk.len();
        Ok(Frame::data(Bytes::from(chunk)))
    });
    response
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap()
}

/// An answer whose body fails at once: hyper then closes the connection mid-answer, and the
/// client sees the connection dropped.
fn dropped() -> Response<ProxyBody> {
    let failing = futures_util::stream::once(async {
        Err::<Frame<Bytes>, _>(std::io::Error::other("injected connection drop"))
    });
    Response::builder()
        .status(200)
        .header("Content-Length", "1")
        .body(BodyExt::boxed(StreamBody::new(failing)))
        .unwrap()
}

fn full(text: String) -> ProxyBody {
    Full::new(Bytes::from(text))
        .map_err(|never: Infallible| match never {})
        .boxed()
}
