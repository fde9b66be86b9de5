//! What the TLS handshake established, made available to handlers.
//!
//! actix-web hands each new connection to an `on_connect` hook before any
//! request is read; [`on_connect`] records the TLS facts there as a
//! [`TlsInfo`] in the connection's data, and the [`TlsInfo`] and
//! [`ClientCert`] extractors read them back in handlers:
//!
//! ```no_run
//! use actix_https::ClientCert;
//! use actix_web::{App, HttpServer, get};
//!
//! #[get("/")]
//! async fn hello(client: Option<ClientCert>) -> String {
//!     match client {
//!         Some(c) => format!("hello, {}", c.subject),
//!         None => "hello, stranger".to_owned(),
//!     }
//! }
//!
//! # fn run(acceptor: openssl::ssl::SslAcceptorBuilder) -> std::io::Result<()> {
//! HttpServer::new(|| App::new().service(hello))
//!     .on_connect(actix_https::on_connect)
//!     .bind_openssl("127.0.0.1:8443", acceptor)?;
//! # Ok(()) }
//! ```

use std::any::Any;
use std::future::{Ready, ready};

use actix_tls::accept::openssl::TlsStream;
use actix_web::dev::{Extensions, Payload};
use actix_web::rt::net::TcpStream;
use actix_web::{FromRequest, HttpRequest};
use openssl::hash::MessageDigest;
use openssl::ssl::{NameType, SslRef};
use openssl::x509::X509VerifyResult;
use serde::Serialize;

/// The TLS facts of a connection (all `None` on plain HTTP).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TlsInfo {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: Option<String>,
    /// The cipher suite.
    pub cipher: Option<String>,
    /// The protocol ALPN settled on: `h2` or `http/1.1`.
    pub alpn: Option<String>,
    /// The server name the client asked for (SNI), if any.
    pub sni: Option<String>,
    /// Whether this connection resumed an earlier TLS session.
    pub resumed: bool,
    /// The client certificate, if one was presented and verified.
    pub client_certificate: Option<ClientCert>,
}

impl TlsInfo {
    /// Whether the connection is over TLS.
    pub fn is_tls(&self) -> bool {
        self.version.is_some()
    }

    /// Reads the facts from an established connection.
    pub fn from_ssl(ssl: &SslRef) -> Self {
        let verified = ssl.verify_result() == X509VerifyResult::OK;
        TlsInfo {
            version: Some(ssl.version_str().to_owned()),
            cipher: ssl.current_cipher().map(|c| c.name().to_owned()),
            alpn: ssl
                .selected_alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            sni: ssl.servername(NameType::HOST_NAME).map(str::to_owned),
            resumed: ssl.session_reused(),
            client_certificate: ssl
                .peer_certificate()
                .filter(|_| verified)
                .map(|x509| ClientCert::from_certificate(&pki::Certificate::from_x509(x509))),
        }
    }
}

/// A verified client certificate: who the client is, as text for pages and
/// logs, and typed ([`ClientCert::names`], [`ClientCert::certificate`]) for
/// decisions.
#[derive(Debug, Clone, Serialize)]
pub struct ClientCert {
    /// The certificate itself, for anything the summary leaves out.
    #[serde(skip)]
    pub certificate: pki::Certificate,
    /// The subjectAltNames, typed: match on `SubjectAltName::Email(…)`
    /// rather than on `"email:…"` strings.
    #[serde(skip)]
    pub names: Vec<pki::SubjectAltName>,
    /// The subject, one line (`O=…, CN=alice`).
    pub subject: String,
    /// The issuer, one line.
    pub issuer: String,
    /// The subjectAltNames, as `DNS:…`, `email:…`, `IP:…`, `URI:…`.
    pub subject_alt_names: Vec<String>,
    /// The serial, uppercase hex.
    pub serial: String,
    /// SHA-256 fingerprint, uppercase hex pairs joined by colons.
    pub sha256_fingerprint: String,
    /// Start of validity, UTC.
    pub not_before: String,
    /// End of validity, UTC.
    pub not_after: String,
}

impl ClientCert {
    /// Summarises a certificate.
    pub fn from_certificate(cert: &pki::Certificate) -> Self {
        let summary = pki::inspect::summarize_cert(cert);
        let fingerprint = cert
            .as_x509()
            .digest(MessageDigest::sha256())
            .map(|d| {
                d.iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .unwrap_or_default();
        ClientCert {
            certificate: cert.clone(),
            names: cert.subject_alt_names(),
            subject: summary.subject,
            issuer: summary.issuer,
            subject_alt_names: summary.subject_alt_names,
            serial: summary.serial,
            sha256_fingerprint: fingerprint,
            not_before: summary.not_before,
            not_after: summary.not_after,
        }
    }
}

/// The `on_connect` hook for `HttpServer::on_connect`: records [`TlsInfo`]
/// for every connection (an empty one on plain HTTP).
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    let info = connection
        .downcast_ref::<TlsStream<TcpStream>>()
        .map(|tls| TlsInfo::from_ssl(tls.ssl()))
        .unwrap_or_default();
    data.insert(info);
}

/// Why the [`TlsInfo`] or [`ClientCert`] extractor refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsDataError {
    /// The server records no TLS details: it was built without
    /// `.on_connect(actix_https::on_connect)`. A mistake of the server, not
    /// the client, so it answers 500 and says what to add.
    NotRecorded,
    /// No verified client certificate was shown (401).
    NoClientCert,
}

impl std::fmt::Display for TlsDataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsDataError::NotRecorded => {
                "server misconfigured: it records no TLS details, so it cannot tell who the \
                 client is; add .on_connect(actix_https::on_connect) to the HttpServer"
            }
            TlsDataError::NoClientCert => "a client certificate from a trusted CA is required",
        })
    }
}

impl std::error::Error for TlsDataError {}

impl actix_web::ResponseError for TlsDataError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            TlsDataError::NotRecorded => actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            TlsDataError::NoClientCert => actix_web::http::StatusCode::UNAUTHORIZED,
        }
    }
}

impl FromRequest for TlsInfo {
    type Error = TlsDataError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.conn_data::<TlsInfo>()
                .cloned()
                .ok_or(TlsDataError::NotRecorded),
        )
    }
}

impl FromRequest for ClientCert {
    type Error = TlsDataError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.conn_data::<TlsInfo>() {
            None => Err(TlsDataError::NotRecorded),
            Some(info) => info
                .client_certificate
                .clone()
                .ok_or(TlsDataError::NoClientCert),
        })
    }
}
