//! Credentials and TLS: which host gets which credentials and client certificate, TLS trust per
//! host, and credential helpers that misbehave.

mod helpers;
mod hosts;
mod tls;
