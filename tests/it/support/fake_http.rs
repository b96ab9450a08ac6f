//! A scripted HTTP server on 127.0.0.1 for misbehaviour a real registry will not produce on
//! demand: bodies that trickle or never end, answers that never come, challenges from the wrong
//! host, upload locations elsewhere. Every request is recorded with whether it carried
//! `Authorization`.
//!
//! ```ignore
//! let cdn = FakeServer::start(|req| Action::Reply(Reply::new(401).header("WWW-Authenticate", "Bearer realm=\"…\"")));
//! let silent = FakeServer::silent(); // accepts connections, never says a word (not even TLS)
//! let tls = FakeServer::start_tls(FakeTls { .. }, handler); // HTTPS, asking for a client cert
//! ```

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct FakeRequest {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The request's headers, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// When it arrived.
    pub at: std::time::Instant,
    /// Over TLS: whether the client presented a certificate on this connection.
    pub client_certificate: bool,
}

impl FakeRequest {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a reply's body is sent.
#[derive(Debug, Clone)]
pub enum Body {
    Bytes(Vec<u8>),
    /// `chunk` every `every`, `count` times (forever when `None`).
    Trickle {
        chunk: Vec<u8>,
        every: Duration,
        count: Option<usize>,
    },
}

/// An answer: status, headers, body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Reply {
    /// An empty answer with this status.
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Reply {
        self.body = Body::Bytes(bytes.into());
        self
    }

    /// A body of `chunk` repeated every `every`, forever.
    pub fn endless(mut self, chunk: impl Into<Vec<u8>>, every: Duration) -> Reply {
        self.body = Body::Trickle {
            chunk: chunk.into(),
            every,
            count: None,
        };
        self
    }

    /// A body of `count` chunks, one every `every`.
    pub fn trickle(mut self, chunk: impl Into<Vec<u8>>, every: Duration, count: usize) -> Reply {
        self.body = Body::Trickle {
            chunk: chunk.into(),
            every,
            count: Some(count),
        };
        self
    }
}

/// What the server does with a request.
#[derive(Debug, Clone)]
pub enum Action {
    Reply(Reply),
    /// Never answer (and never read the request body).
    Hang,
}

type Handler = dyn Fn(&FakeRequest) -> Action + Send + Sync;

/// HTTPS for a [`FakeServer`]: its certificate and key (PEM files), and the CA certificate (PEM)
/// it names when it asks for a client certificate. A client may send none (the handshake goes
/// on); [`FakeRequest::client_certificate`] says whether it did.
pub struct FakeTls {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    pub client_ca_pem: String,
}

/// A running fake server; stopped when dropped.
pub struct FakeServer {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    seen: Arc<Mutex<Vec<FakeRequest>>>,
    /// Its own runtime, so that sync and async tests alike can use it.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        // Dropping a runtime from inside another would panic; let its threads go.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl FakeServer {
    /// Serves plain HTTP/1.1, answering each request as `handler` says.
    pub fn start(handler: impl Fn(&FakeRequest) -> Action + Send + Sync + 'static) -> FakeServer {
        Self::serve(None, Arc::new(handler))
    }

    /// Serves HTTPS/1.1 as `tls` says, answering each request as `handler` says.
    pub fn start_tls(
        tls: FakeTls,
        handler: impl Fn(&FakeRequest) -> Action + Send + Sync + 'static,
    ) -> FakeServer {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(manifest::transport::tls::crypto_provider());
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(tls.client_ca_pem.as_bytes()) {
            roots.add(ca.unwrap()).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.into(),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()
        .unwrap();
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&tls.key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Self::serve(Some(acceptor), Arc::new(handler))
    }

    /// Accepts connections (TLS first, with `tls`) and serves each on its own task.
    fn serve(tls: Option<tokio_rustls::TlsAcceptor>, handler: Arc<Handler>) -> FakeServer {
        let runtime = runtime();
        let (listener, addr) = bind();
        let seen: Arc<Mutex<Vec<FakeRequest>>> = Arc::default();
        let shared = (seen.clone(), handler, tls);
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let (seen, handler, tls) = shared.clone();
                tokio::spawn(async move {
                    match tls {
                        None => connection(stream, false, seen, handler).await,
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            let presented = stream.get_ref().1.peer_certificates().is_some();
                            connection(stream, presented, seen, handler).await
                        }
                    }
                });
            }
        });
        FakeServer {
            addr,
            seen,
            runtime: Some(runtime),
        }
    }

    /// Accepts connections and never sends a byte (nor reads one): a TLS handshake or a request
    /// sent there waits forever.
    pub fn silent() -> FakeServer {
        let runtime = runtime();
        let (listener, addr) = bind();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        FakeServer {
            addr,
            seen: Arc::default(),
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request seen so far, in order.
    pub fn seen(&self) -> Vec<FakeRequest> {
        self.seen.lock().unwrap().clone()
    }
}

/// A listener on a free loopback port, ready for tokio.
fn bind() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

type FakeBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// Serves one connection (`client_certificate`: whether a certificate came with its TLS).
async fn connection(
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    client_certificate: bool,
    seen: Arc<Mutex<Vec<FakeRequest>>>,
    handler: Arc<Handler>,
) {
    let service = hyper::service::service_fn(move |req| {
        let (seen, handler) = (seen.clone(), handler.clone());
        async move { Ok::<_, Infallible>(answer(req, &seen, &*handler, client_certificate).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    seen: &Mutex<Vec<FakeRequest>>,
    handler: &Handler,
    client_certificate: bool,
) -> hyper::Response<FakeBody> {
    let request = FakeRequest {
        client_certificate,
        method: req.method().to_string(),
        target: req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        authorization: req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        at: std::time::Instant::now(),
    };
    seen.lock().unwrap().push(request.clone());
    let reply = match handler(&request) {
        Action::Reply(reply) => reply,
        Action::Hang => std::future::pending().await,
    };
    // Read the request body before answering, as a registry does.
    let _ = req.into_body().collect().await;
    let mut response = hyper::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    let body: FakeBody = match reply.body {
        Body::Bytes(bytes) => http_body_util::Full::new(Bytes::from(bytes))
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
        Body::Trickle {
            chunk,
            every,
            count,
        } => {
            let chunk = Bytes::from(chunk);
            let frames = futures_util::stream::unfold(0usize, move |sent| {
                let chunk = chunk.clone();
                async move {
                    if count.is_some_and(|n| sent >= n) {
                        return None;
                    }
                    tokio::time::sleep(every).await;
                    Some((Ok::<_, std::io::Error>(Frame::data(chunk)), sent + 1))
                }
            });
            BodyExt::boxed_unsync(StreamBody::new(frames.boxed()))
        }
    };
    response.body(body).unwrap()
}
