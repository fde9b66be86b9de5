//! The one end-to-end test binary of the workspace: everything `pki` writes
//! is judged here by verifiers we did not write (`openssl verify`,
//! `openssl s_server`, `curl`, Python's `ssl`), with a negative twin for
//! each way a certificate must be refused.

// Test code: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "e2e/bad_input.rs"]
mod bad_input;
#[path = "e2e/cli.rs"]
mod cli;
#[path = "e2e/cli_seeds.rs"]
mod cli_seeds;
#[path = "e2e/crash.rs"]
mod crash;
#[path = "e2e/crl.rs"]
mod crl;
#[path = "e2e/explain.rs"]
mod explain;
#[path = "e2e/handshake.rs"]
mod handshake;
#[path = "e2e/interop.rs"]
mod interop;
#[path = "e2e/pkcs12.rs"]
mod pkcs12;
#[path = "e2e/refuse.rs"]
mod refuse;
#[path = "e2e/seeds.rs"]
mod seeds;
#[path = "e2e/server.rs"]
mod server;
#[path = "e2e/server_hardening.rs"]
mod server_hardening;
#[path = "e2e/server_library.rs"]
mod server_library;
#[path = "e2e/server_more.rs"]
mod server_more;
#[path = "e2e/test_ca.rs"]
mod test_ca;
#[path = "e2e/trust.rs"]
mod trust;
#[path = "e2e/verify.rs"]
mod verify;
