//! Bearer tokens the real registry accepts (distribution's `auth.token`): a signing key with its
//! self-signed certificate (the registry's `rootcertbundle`), and JWTs granting scopes.

use base64::Engine as _;
use rcgen::{CertificateParams, DnType, KeyPair, SigningKey as _};
use std::sync::atomic::{AtomicU64, Ordering};

/// The issuer and audience the harness registry is configured with.
pub const ISSUER: &str = "test-issuer";
pub const SERVICE: &str = "test-registry";

/// Signs tokens for the harness registry.
pub struct TokenSigner {
    key: KeyPair,
    cert_pem: String,
    x5c: String,
}

impl Default for TokenSigner {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenSigner {
    pub fn new() -> TokenSigner {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "token signer");
        let cert = params.self_signed(&key).unwrap();
        TokenSigner {
            x5c: base64::engine::general_purpose::STANDARD.encode(cert.der()),
            cert_pem: cert.pem(),
            key,
        }
    }

    /// The certificate the registry checks tokens against.
    pub fn root_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A token for `subject` granting every `type:name:actions` scope in `scopes`.
    pub fn token(&self, subject: &str, scopes: &[String]) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let access: Vec<_> = scopes
            .iter()
            .filter_map(|s| {
                let mut parts = s.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({
                    "type": kind, "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                }))
            })
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]});
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
            "iat": now - 10, "jti": format!("{now}-{}", NEXT.fetch_add(1, Ordering::SeqCst)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let signature = der_to_jws(&self.key.sign(signing_input.as_bytes()).unwrap());
        format!("{signing_input}.{}", b64url(&signature))
    }
}

/// The `scope` parameters of a token request's target (`/token?service=…&scope=…`), each split
/// on spaces as the token spec allows.
pub fn requested_scopes(target: &str) -> Vec<String> {
    let url = reqwest::Url::parse(&format!("http://token{target}")).unwrap();
    url.query_pairs()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .collect()
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// ring signs ECDSA as DER `SEQUENCE { r, s }`; JWS wants the fixed 64-byte `r || s`.
fn der_to_jws(der: &[u8]) -> Vec<u8> {
    fn int(bytes: &[u8]) -> (&[u8], &[u8]) {
        assert_eq!(bytes[0], 0x02);
        let len = bytes[1] as usize;
        (&bytes[2..2 + len], &bytes[2 + len..])
    }
    let body = &der[2..];
    let (r, rest) = int(body);
    let (s, _) = int(rest);
    let mut out = Vec::new();
    for n in [r, s] {
        let n = &n[n.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0u8, 32 - n.len()));
        out.extend_from_slice(n);
    }
    out
}

/// A token server for the harness registry (on a [`super::fake_http::FakeServer`]): it grants
/// every scope asked for to `user` with `password`, grants nothing to anonymous requests,
/// refuses a wrong password with 401, and answers its first `failures` requests with 503.
pub struct TokenServer {
    server: super::fake_http::FakeServer,
    signer: std::sync::Arc<TokenSigner>,
    /// The realm to configure the registry with.
    pub realm: String,
}

impl TokenServer {
    pub fn start(user: &'static str, password: &'static str, failures: usize) -> TokenServer {
        use super::fake_http::{Action, Reply};
        let signer = std::sync::Arc::new(TokenSigner::new());
        let issuing = signer.clone();
        let answered = std::sync::atomic::AtomicUsize::new(0);
        let server = super::fake_http::FakeServer::start(move |req| {
            let json = |status: u16, body: String| {
                Action::Reply(
                    Reply::new(status)
                        .header("Content-Type", "application/json")
                        .body(body),
                )
            };
            if answered.fetch_add(1, Ordering::SeqCst) < failures {
                return json(503, r#"{"details":"injected token failure"}"#.into());
            }
            let scopes = requested_scopes(&req.target);
            match basic_credentials(req.authorization.as_deref()) {
                Some(given) if given != format!("{user}:{password}") => {
                    json(401, r#"{"details":"invalid username or password"}"#.into())
                }
                Some(_) => json(
                    200,
                    serde_json::json!({ "token": issuing.token(user, &scopes) }).to_string(),
                ),
                None => json(
                    200,
                    serde_json::json!({ "token": issuing.token("", &[]) }).to_string(),
                ),
            }
        });
        let realm = format!("{}/token", server.url());
        TokenServer {
            server,
            signer,
            realm,
        }
    }

    /// The certificate the registry checks tokens against.
    pub fn root_pem(&self) -> &str {
        self.signer.root_pem()
    }

    /// Token requests answered so far.
    pub fn requests(&self) -> usize {
        self.server.seen().len()
    }

    /// The token requests answered so far, as the server saw them.
    pub fn seen(&self) -> Vec<super::fake_http::FakeRequest> {
        self.server.seen()
    }
}

/// The `user:password` of a `Basic` authorization header.
fn basic_credentials(authorization: Option<&str>) -> Option<String> {
    let encoded = authorization?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(decoded).ok()
}

/// A token server's answer granting `token`.
pub fn token_answer(token: &str) -> super::fake_http::Reply {
    super::fake_http::Reply::new(200)
        .header("Content-Type", "application/json")
        .body(serde_json::json!({ "token": token }).to_string())
}
