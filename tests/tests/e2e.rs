//! The one end-to-end test binary of the workspace: everything `pki` writes
//! is judged here by verifiers we did not write (`openssl verify`,
//! `openssl s_server`, `curl`, Python's `ssl`), with a negative twin for
//! each way a certificate must be refused.

// Test code: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// lego, certbot and dehydrated against `actix-https --acme` and Pebble alike.
#[path = "e2e/acme_clients.rs"]
mod acme_clients;
/// `actix-https --acme` refusing, recovering and sharing, driven request by request.
#[path = "e2e/acme_protocol.rs"]
mod acme_protocol;
/// Broken PEM, files in the wrong place, unwritable paths: clear errors, nothing half-written.
#[path = "e2e/bad_input.rs"]
mod bad_input;
/// The `pki` command as a user runs it: files, modes, messages, exit codes.
#[path = "e2e/cli.rs"]
mod cli;
/// The seed articles' openssl recipes redone with `pki`, and their clients.
#[path = "e2e/cli_seeds.rs"]
mod cli_seeds;
/// `pki` killed at named steps of a change: the CA directory recovers.
#[path = "e2e/crash.rs"]
mod crash;
/// Revocation end to end: `pki revoke` and `pki crl`, judged by openssl and a server.
#[path = "e2e/crl.rs"]
mod crl;
/// `pki verify` and `pki::verify` say why each bad chain is refused.
#[path = "e2e/explain.rs"]
mod explain;
/// `openssl s_server` serving the fixtures to curl and Python.
#[path = "e2e/handshake.rs"]
mod handshake;
/// Files across the border: what openssl writes, pki reads, and back.
#[path = "e2e/interop.rs"]
mod interop;
/// PKCS#12 files opened by openssl, curl, Java's keytool and Python.
#[path = "e2e/pkcs12.rs"]
mod pkcs12;
/// Input the `pki` command must refuse, each with a message to act on.
#[path = "e2e/refuse.rs"]
mod refuse;
/// The seed recipes run as written against `pki` library certificates.
#[path = "e2e/seeds.rs"]
mod seeds;
/// The `actix-https` basics: zero config, ALPN, versions, resumption, files.
#[path = "e2e/server.rs"]
mod server;
/// Headless Chromium trusting the local CA through its own NSS store.
#[path = "e2e/server_browser.rs"]
mod server_browser;
/// `actix-https` against hostile or careless clients and stale policy.
#[path = "e2e/server_hardening.rs"]
mod server_hardening;
/// `actix-https` over plain HTTP, HSTS, the redirect, HEAD, the log, signals.
#[path = "e2e/server_http.rs"]
mod server_http;
/// `actix-https` with encrypted keys: pass phrase file, environment, terminal.
#[path = "e2e/server_keys.rs"]
mod server_keys;
/// `actix-https` as a library: `customize` and a missing `on_connect`.
#[path = "e2e/server_library.rs"]
mod server_library;
/// `actix-https` with client certificates: required, optional, revoked, CRLs.
#[path = "e2e/server_mtls.rs"]
mod server_mtls;
/// `actix-https --proxy` before Flask and Starlette: headers, streaming, WebSockets, 502, mTLS.
#[path = "e2e/server_proxy.rs"]
mod server_proxy;
/// `actix-https` SNI entries and hot reload of watched files.
#[path = "e2e/server_sni.rs"]
mod server_sni;
/// How `actix-https` refuses to start, and `--adhoc`.
#[path = "e2e/server_startup.rs"]
mod server_startup;
/// `actix-https --static`: files, listings, caching, ranges, precompression, refusals.
#[path = "e2e/server_static.rs"]
mod server_static;
/// `pki::testing::TestCa` as other crates' tests use it.
#[path = "e2e/test_ca.rs"]
mod test_ca;
/// `pki trust` against each store's own tool, in isolated stores.
#[path = "e2e/trust.rs"]
mod trust;
/// `openssl verify -x509_strict` judges every fixture.
#[path = "e2e/verify.rs"]
mod verify;
