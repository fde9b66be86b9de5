//! ACME errors as RFC 8555 §6.7 gives them: a `problem+json` document
//! (RFC 7807) whose type is one of `urn:ietf:params:acme:error:*`, with the
//! HTTP status the RFC and Let's Encrypt pair with it. Clients print the
//! detail, so it says what was wrong and what to do.

use actix_web::http::StatusCode;
use serde_json::{Value, json};

/// The namespace of ACME error types.
pub const NAMESPACE: &str = "urn:ietf:params:acme:error:";

/// One ACME error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The error type, without [`NAMESPACE`] (`badNonce`, `malformed`, …).
    pub kind: &'static str,
    /// What went wrong, for a person.
    pub detail: String,
    /// The HTTP status.
    pub status: StatusCode,
    /// Extra members (`algorithms` for `badSignatureAlgorithm`,
    /// `identifier` for a subproblem).
    pub extra: Option<(&'static str, Value)>,
    /// A `Location` header for the answer (the account that already has a
    /// key, for a key change's 409).
    pub location: Option<String>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}: {}", NAMESPACE, self.kind, self.detail)
    }
}

impl std::error::Error for Problem {}

macro_rules! kinds {
    ($($fn:ident => $kind:literal, $status:ident;)*) => {
        impl Problem {
            $(
                #[doc = concat!("A `", $kind, "` problem.")]
                pub fn $fn(detail: impl Into<String>) -> Self {
                    Problem::new($kind, StatusCode::$status, detail)
                }
            )*
        }
    };
}

kinds! {
    malformed => "malformed", BAD_REQUEST;
    bad_nonce => "badNonce", BAD_REQUEST;
    bad_public_key => "badPublicKey", BAD_REQUEST;
    bad_csr => "badCSR", BAD_REQUEST;
    bad_revocation_reason => "badRevocationReason", BAD_REQUEST;
    unauthorized => "unauthorized", FORBIDDEN;
    already_replaced => "alreadyReplaced", CONFLICT;
    rate_limited => "rateLimited", TOO_MANY_REQUESTS;
    unsupported_contact => "unsupportedContact", BAD_REQUEST;
    account_does_not_exist => "accountDoesNotExist", BAD_REQUEST;
    rejected_identifier => "rejectedIdentifier", BAD_REQUEST;
    unsupported_identifier => "unsupportedIdentifier", BAD_REQUEST;
    order_not_ready => "orderNotReady", FORBIDDEN;
    already_revoked => "alreadyRevoked", BAD_REQUEST;
    external_account_required => "externalAccountRequired", UNAUTHORIZED;
    user_action_required => "userActionRequired", FORBIDDEN;
    incorrect_response => "incorrectResponse", FORBIDDEN;
    connection => "connection", BAD_REQUEST;
    dns => "dns", BAD_REQUEST;
    tls => "tls", BAD_REQUEST;
    internal => "serverInternal", INTERNAL_SERVER_ERROR;
}

impl Problem {
    fn new(kind: &'static str, status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            kind,
            detail: detail.into(),
            status,
            extra: None,
            location: None,
        }
    }

    /// A `badSignatureAlgorithm` problem listing the accepted algorithms.
    pub fn bad_signature_algorithm(detail: impl Into<String>) -> Self {
        Problem {
            extra: Some(("algorithms", json!(crate::jws::ALGORITHMS))),
            ..Problem::new("badSignatureAlgorithm", StatusCode::BAD_REQUEST, detail)
        }
    }

    /// A 404 for a URL that names nothing (still `malformed`, as Boulder answers).
    pub fn not_found(what: &str) -> Self {
        Problem::new(
            "malformed",
            StatusCode::NOT_FOUND,
            format!("no such {what}"),
        )
    }

    /// A 409 for a key change to a key another account has.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Problem::new("malformed", StatusCode::CONFLICT, detail)
    }

    /// The same problem with a `Location` header.
    pub fn with_location(mut self, url: String) -> Self {
        self.location = Some(url);
        self
    }

    /// The same problem with another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The problem document.
    pub fn to_json(&self) -> Value {
        let mut doc = json!({
            "type": format!("{NAMESPACE}{}", self.kind),
            "detail": self.detail,
            "status": self.status.as_u16(),
        });
        if let (Some((name, value)), Some(map)) = (&self.extra, doc.as_object_mut()) {
            map.insert((*name).to_owned(), value.clone());
        }
        doc
    }
}

impl From<rusqlite::Error> for Problem {
    fn from(e: rusqlite::Error) -> Self {
        Problem::internal(format!("the ACME database failed: {e}"))
    }
}
