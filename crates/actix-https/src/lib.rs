//! HTTPS and mutual TLS for actix-web over OpenSSL, made from `pki` types or
//! files.
//!
//! [`TlsServerBuilder`] turns identities (a [`pki::Identity`] from memory,
//! or watched files) and a policy ([`TlsProfile`], [`ClientVerification`] with an
//! optional CRL, SNI entries) into the `SslAcceptorBuilder` that
//! `HttpServer::bind_openssl` takes. [`on_connect`] records what the
//! handshake settled on, which handlers read with the [`TlsInfo`] and
//! [`ClientCert`] extractors. [`pages`] is the small site the `actix-https`
//! binary serves, [`files`] the static files it serves with `--static`.
//!
//! ```no_run
//! use actix_https::{TlsServerBuilder, on_connect, pages};
//! use actix_web::{App, HttpServer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let ca = pki::Ca::generate(&pki::CaParams::new())?;
//! let identity = ca.issue(&pki::CertParams::new(["localhost", "127.0.0.1"])?)?;
//! let tls = TlsServerBuilder::new(identity).build()?;
//! HttpServer::new(|| App::new().configure(pages::routes))
//!     .on_connect(on_connect)
//!     // Small writes go out at once (nginx's default too); see docs/server.md.
//!     .tcp_nodelay(true)
//!     .bind_openssl("127.0.0.1:8443", tls.acceptor()?)?
//!     .run()
//!     .await?;
//! # Ok(()) }
//! ```

pub mod client;
pub mod conn;
pub mod error;
pub mod files;
mod identity;
pub mod pages;
pub mod proxy;
mod reload;
pub mod tls;

pub use client::{ClientAuth, ClientVerification, CrlProblem};
pub use conn::{ClientCert, TlsDataError, TlsInfo, on_connect};
pub use error::{Error, Result};
pub use tls::{IdentitySource, ReloadEvent, SniPattern, TlsProfile, TlsServer, TlsServerBuilder};
