//! Credentials and TLS: passwords and bearer tokens, which host gets which credentials and
//! client certificate, TLS trust per host, and credential helpers that misbehave.

mod helpers;
mod hosts;
mod passwords;
mod tls;
mod tokens;
