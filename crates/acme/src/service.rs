//! The ACME resources (RFC 8555 §7) as actix-web routes under one scope:
//! the directory, nonces, accounts, orders, authorizations, challenges,
//! finalize, certificate download, revocation, key change and ARI renewal
//! information (RFC 9773). Every request is authenticated here, in one
//! place (`Server::authenticate`): the media type, the JWS, its URL, its
//! key, its signature and its nonce, so a handler only sees requests a
//! known key signed once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use pki::crl::RevocationReason;
use pki::{Ca, CertParams, Certificate, Csr, SubjectAltName};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::jws::{self, AccountKey, Unverified, unb64};
use crate::policy::Policy;
use crate::problem::Problem;
use crate::store::{
    Account, Authz, CertRecord, Challenge, Identifier, NewOrder, Order, Store, random_id,
};
use crate::time::{now, rfc3339, unix};
use crate::validate::{Attempt, Pool, Validator};

/// How long an order and its authorizations stay open.
const ORDER_LIFETIME_SECS: i64 = 7 * 24 * 3600;
/// Seconds a client is asked to wait before polling again.
const RETRY_AFTER_SECS: u64 = 1;
/// Seconds an ARI client is asked to wait before asking again (RFC 9773 suggests hours).
const ARI_RETRY_AFTER_SECS: u64 = 6 * 3600;
/// How long a challenge response waits for its validation before answering
/// `processing`.
const VALIDATION_WAIT: Duration = Duration::from_secs(2);
/// A validation still running this long after it started was cut off by a
/// restart: a running one ends within 10 s, and one waiting in the pool
/// waits at most 256 ÷ 8 × 10 s.
const STALE_VALIDATION_SECS: i64 = 600;
/// Most identifiers in one order (Let's Encrypt's figure).
const MAX_IDENTIFIERS: usize = 100;

/// What the server needs, shared by every worker.
pub(crate) struct Server {
    pub(crate) ca: Arc<Ca>,
    pub(crate) ca_dir: PathBuf,
    pub(crate) store: Arc<Store>,
    pub(crate) days: u32,
    pub(crate) validator: Validator,
    pub(crate) pool: Arc<Pool>,
    pub(crate) policy: Policy,
    pub(crate) eab: Vec<(String, Vec<u8>)>,
    pub(crate) prefix: String,
    /// Account keys as OpenSSL keys, by their stored JWK: building one
    /// (and OpenSSL 3 exporting it to its provider on first use) cost more
    /// than the signature check itself.
    pub(crate) keys: KeyCache,
}

/// A request that passed authentication.
struct Signed {
    key: Arc<AccountKey>,
    account: Option<Account>,
    jws: Unverified,
}

impl Signed {
    fn account(&self) -> Result<&Account, Problem> {
        self.account
            .as_ref()
            .ok_or_else(|| Problem::account_does_not_exist("no account has this key"))
    }

    fn payload(&self) -> Result<Value, Problem> {
        if self.jws.payload.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.jws.payload)
            .map_err(|e| Problem::malformed(format!("the payload is not JSON: {e}")))
    }

    /// Refuses a payload on a resource that only takes POST-as-GET.
    fn expect_post_as_get(&self) -> Result<(), Problem> {
        if self.jws.payload.is_empty() {
            Ok(())
        } else {
            Err(Problem::malformed(
                "this resource takes POST-as-GET: send an empty payload",
            ))
        }
    }
}

/// A successful answer before the common headers go on.
struct Reply {
    status: StatusCode,
    body: Body,
    location: Option<String>,
    links: Vec<(String, &'static str)>,
    retry_after: Option<u64>,
}

enum Body {
    Json(Value),
    PemChain(String),
    Empty,
}

impl Reply {
    fn json(status: StatusCode, value: Value) -> Self {
        Reply {
            status,
            body: Body::Json(value),
            location: None,
            links: Vec::new(),
            retry_after: None,
        }
    }

    fn location(mut self, url: String) -> Self {
        self.location = Some(url);
        self
    }

    fn link(mut self, url: String, rel: &'static str) -> Self {
        self.links.push((url, rel));
        self
    }

    fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// URLs of this server, as the client reached it.
struct Urls {
    origin: String,
    base: String,
}

impl Urls {
    fn from_request(req: &HttpRequest, prefix: &str) -> Self {
        let scheme = if req.app_config().secure() {
            "https"
        } else {
            "http"
        };
        // The Host the client sent (or HTTP/2's :authority), never a
        // forwarding header: URLs in answers must be where this server is.
        let host = req
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| {
                req.headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "localhost".to_owned());
        let origin = format!("{scheme}://{host}");
        Urls {
            base: format!("{origin}{prefix}"),
            origin,
        }
    }

    fn of(&self, kind: &str, id: &str) -> String {
        format!("{}/{kind}/{id}", self.base)
    }
}

/// Account keys by stored JWK, shared by every worker's [`Server`].
pub(crate) type KeyCache =
    Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<AccountKey>>>>;

/// Account keys kept at most; the cache starts over beyond it.
const MAX_CACHED_KEYS: usize = 10_000;

impl Server {
    /// The key of a stored account JWK, from the cache when it is there.
    fn account_key(&self, jwk: &Value) -> Result<Arc<AccountKey>, Problem> {
        let text = jwk.to_string();
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(key) = keys.get(&text) {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(AccountKey::from_jwk(jwk)?);
        if keys.len() >= MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.insert(text, Arc::clone(&key));
        Ok(key)
    }

    fn finish(&self, req: &HttpRequest, result: Result<Reply, Problem>) -> HttpResponse {
        let urls = Urls::from_request(req, &self.prefix);
        let mut response = match result {
            Ok(reply) => {
                let mut builder = HttpResponse::build(reply.status);
                if let Some(location) = reply.location {
                    builder.insert_header((header::LOCATION, location));
                }
                for (url, rel) in reply.links {
                    builder.append_header((header::LINK, format!("<{url}>;rel=\"{rel}\"")));
                }
                if let Some(secs) = reply.retry_after {
                    builder.insert_header((header::RETRY_AFTER, secs.to_string()));
                }
                match reply.body {
                    Body::Json(value) => builder
                        .content_type("application/json")
                        .body(value.to_string()),
                    Body::PemChain(pem) => builder
                        .content_type("application/pem-certificate-chain")
                        .body(pem),
                    Body::Empty => builder.finish(),
                }
            }
            Err(problem) => {
                let mut builder = HttpResponse::build(problem.status);
                if let Some(location) = &problem.location {
                    builder.insert_header((header::LOCATION, location.as_str()));
                }
                builder
                    .content_type("application/problem+json")
                    .body(problem.to_json().to_string())
            }
        };
        let headers = response.headers_mut();
        if let Ok(nonce) = self.store.new_nonce()
            && let Ok(value) = header::HeaderValue::from_str(&nonce)
        {
            headers.insert(header::HeaderName::from_static("replay-nonce"), value);
        }
        if let Ok(value) =
            header::HeaderValue::from_str(&format!("<{}/directory>;rel=\"index\"", urls.base))
        {
            headers.append(header::LINK, value);
        }
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        response
    }

    /// Checks what every POST must be (RFC 8555 §6.2–6.5): JOSE media type,
    /// a flattened JWS for this very URL, a known key (`jwk` only where
    /// `jwk_allowed`), a valid signature and an unused nonce.
    fn authenticate(
        &self,
        req: &HttpRequest,
        body: &[u8],
        jwk_allowed: bool,
    ) -> Result<Signed, Problem> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if content_type.split(';').next().map(str::trim) != Some("application/jose+json") {
            return Err(Problem::malformed(format!(
                "the Content-Type is {content_type:?}; ACME requests are application/jose+json"
            ))
            .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let jws = Unverified::parse(body)?;
        let urls = Urls::from_request(req, &self.prefix);
        let url = format!("{}{}", urls.origin, req.uri().path());
        if jws.header.url.as_deref() != Some(url.as_str()) {
            return Err(Problem::unauthorized(format!(
                "the JWS header's url is {:?}, but the request went to {url:?}",
                jws.header.url.as_deref().unwrap_or("")
            )));
        }
        let (key, account) = if let Some(jwk) = &jws.header.jwk {
            if !jwk_allowed {
                return Err(Problem::malformed(
                    "this request must name its account with kid, not carry a jwk",
                ));
            }
            let key = Arc::new(AccountKey::from_jwk(jwk)?);
            let account = self.store.account_by_thumbprint(&key.thumbprint)?;
            (key, account)
        } else {
            let kid = jws.header.kid.as_deref().unwrap_or("");
            let id = kid
                .strip_prefix(&format!("{}/account/", urls.base))
                .filter(|id| !id.is_empty() && !id.contains('/'))
                .ok_or_else(|| {
                    Problem::account_does_not_exist(format!(
                        "the kid {kid:?} is not an account URL of this server"
                    ))
                })?;
            let account = self.store.account(id)?.ok_or_else(|| {
                Problem::account_does_not_exist(format!("the account {kid} does not exist"))
            })?;
            if account.status != "valid" {
                return Err(Problem::unauthorized(format!(
                    "the account {kid} is {}",
                    account.status
                ))
                .with_status(StatusCode::UNAUTHORIZED));
            }
            (self.account_key(&account.jwk)?, Some(account))
        };
        jws.verify(&key)?;
        let nonce = jws.header.nonce.as_deref().unwrap_or("");
        if nonce.is_empty() || !self.store.use_nonce(nonce)? {
            return Err(Problem::bad_nonce(
                "the nonce is unknown, used already or over an hour old; get a new one from newNonce",
            ));
        }
        Ok(Signed { key, account, jws })
    }

    fn directory(&self, req: &HttpRequest) -> Value {
        let urls = Urls::from_request(req, &self.prefix);
        let u = |path: &str| format!("{}/{path}", urls.base);
        json!({
            "newNonce": u("new-nonce"),
            "newAccount": u("new-account"),
            "newOrder": u("new-order"),
            "revokeCert": u("revoke-cert"),
            "keyChange": u("key-change"),
            "renewalInfo": u("renewal-info"),
            "meta": {
                "website": u(""),
                "externalAccountRequired": !self.eab.is_empty(),
                "profiles": {},
            },
        })
    }

    fn account_json(&self, urls: &Urls, account: &Account) -> Value {
        json!({
            "status": account.status,
            "contact": account.contact,
            "orders": format!("{}/orders", urls.of("account", &account.id)),
        })
    }

    fn new_account(&self, req: &HttpRequest, body: &[u8]) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, true)?;
        let urls = Urls::from_request(req, &self.prefix);
        if signed.jws.header.jwk.is_none() {
            return Err(Problem::malformed(
                "newAccount requests carry the account key as jwk, not a kid",
            ));
        }
        let payload = signed.payload()?;
        if let Some(account) = &signed.account {
            if account.status != "valid" {
                return Err(Problem::unauthorized(format!(
                    "the account with this key is {}",
                    account.status
                ))
                .with_status(StatusCode::UNAUTHORIZED)
                .with_location(urls.of("account", &account.id)));
            }
            return Ok(
                Reply::json(StatusCode::OK, self.account_json(&urls, account))
                    .location(urls.of("account", &account.id)),
            );
        }
        if payload["onlyReturnExisting"].as_bool() == Some(true) {
            return Err(Problem::account_does_not_exist(
                "no account has this key (onlyReturnExisting)",
            ));
        }
        let contact = contacts(&payload)?;
        let eab_kid = match (&payload["externalAccountBinding"], self.eab.is_empty()) {
            (Value::Null, true) => None,
            (Value::Null, false) => {
                return Err(Problem::external_account_required(
                    "this server issues only to accounts bound to a team key: pass the key ID \
                     and HMAC key you were given (certbot --eab-kid/--eab-hmac-key, lego \
                     --eab --kid/--hmac)",
                ));
            }
            (binding, _) => {
                let kid = jws::binding_key_id(binding)?;
                let mac = self
                    .eab
                    .iter()
                    .find(|(k, _)| *k == kid)
                    .map(|(_, mac)| mac)
                    .ok_or_else(|| {
                        Problem::unauthorized(format!(
                            "externalAccountBinding: the key ID {kid:?} is not known here"
                        ))
                    })?;
                let url = format!("{}{}", urls.origin, req.uri().path());
                jws::verify_binding(binding, mac, &signed.key, &url)?;
                Some(kid)
            }
        };
        let (account, created) = self.store.insert_account(
            &signed.key.thumbprint,
            &signed.key.jwk,
            &contact,
            eab_kid.as_deref(),
        )?;
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(Reply::json(status, self.account_json(&urls, &account))
            .location(urls.of("account", &account.id)))
    }

    fn update_account(&self, req: &HttpRequest, body: &[u8], id: &str) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        let urls = Urls::from_request(req, &self.prefix);
        let account = signed.account()?;
        if account.id != id {
            return Err(Problem::unauthorized(
                "the request is signed by another account than the one it names",
            ));
        }
        let payload = signed.payload()?;
        if payload.get("contact").is_some() {
            self.store.set_contact(id, &contacts(&payload)?)?;
        }
        match payload.get("status").and_then(Value::as_str) {
            None => {}
            Some("deactivated") => self.store.deactivate_account(id)?,
            Some(other) => {
                return Err(Problem::malformed(format!(
                    "an account's status can only be set to \"deactivated\", not {other:?}"
                )));
            }
        }
        let account = self
            .store
            .account(id)?
            .ok_or_else(|| Problem::not_found("account"))?;
        Ok(Reply::json(
            StatusCode::OK,
            self.account_json(&urls, &account),
        ))
    }

    fn account_orders(&self, req: &HttpRequest, body: &[u8], id: &str) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        signed.expect_post_as_get()?;
        if signed.account()?.id != id {
            return Err(Problem::unauthorized("these are another account's orders"));
        }
        let urls = Urls::from_request(req, &self.prefix);
        let orders: Vec<String> = self
            .store
            .orders_of(id)?
            .iter()
            .map(|o| urls.of("order", o))
            .collect();
        Ok(Reply::json(StatusCode::OK, json!({ "orders": orders })))
    }

    fn key_change(&self, req: &HttpRequest, body: &[u8]) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        let urls = Urls::from_request(req, &self.prefix);
        let account = signed.account()?;
        let inner = Unverified::from_value(&signed.payload()?)?;
        let new_jwk = inner.header.jwk.as_ref().ok_or_else(|| {
            Problem::malformed("the inner JWS of a key change must carry the new key as jwk")
        })?;
        let new_key = AccountKey::from_jwk(new_jwk)?;
        inner.verify(&new_key)?;
        if inner.header.url != signed.jws.header.url {
            return Err(Problem::malformed(
                "the inner JWS's url must be the outer one's (the keyChange URL)",
            ));
        }
        if inner.header.nonce.is_some() {
            return Err(Problem::malformed(
                "the inner JWS of a key change has no nonce",
            ));
        }
        let change: Value = serde_json::from_slice(&inner.payload)
            .map_err(|_| Problem::malformed("the inner payload is not JSON"))?;
        let account_url = urls.of("account", &account.id);
        if change["account"].as_str() != Some(account_url.as_str()) {
            return Err(Problem::malformed(format!(
                "the inner payload's account must be {account_url}"
            )));
        }
        let old = AccountKey::from_jwk(&change["oldKey"])
            .map_err(|_| Problem::malformed("the inner payload's oldKey is not a JWK"))?;
        if old.thumbprint != signed.key.thumbprint {
            return Err(Problem::unauthorized(
                "oldKey is not the account's current key",
            ));
        }
        match self
            .store
            .change_key(&account.id, &new_key.thumbprint, &new_key.jwk)?
        {
            Ok(()) => {
                let account = self
                    .store
                    .account(&account.id)?
                    .ok_or_else(|| Problem::not_found("account"))?;
                Ok(Reply::json(
                    StatusCode::OK,
                    self.account_json(&urls, &account),
                ))
            }
            Err(other) => Err(Problem::conflict(format!(
                "the new key belongs to another account ({})",
                urls.of("account", &other)
            ))
            .with_location(urls.of("account", &other))),
        }
    }

    fn new_order(&self, req: &HttpRequest, body: &[u8]) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        let urls = Urls::from_request(req, &self.prefix);
        let account = signed.account()?;
        let payload = signed.payload()?;
        if payload.get("notBefore").is_some() || payload.get("notAfter").is_some() {
            return Err(Problem::malformed(format!(
                "notBefore and notAfter are not taken: certificates last {} days from issuance",
                self.days
            )));
        }
        let identifiers: Vec<Identifier> = serde_json::from_value(payload["identifiers"].clone())
            .map_err(|_| {
            Problem::malformed("identifiers must be a list of {\"type\", \"value\"} objects")
        })?;
        if identifiers.is_empty() || identifiers.len() > MAX_IDENTIFIERS {
            return Err(Problem::malformed(format!(
                "an order names 1 to {MAX_IDENTIFIERS} identifiers"
            )));
        }
        let mut names: Vec<Identifier> = Vec::new();
        let mut problems = Vec::new();
        for id in &identifiers {
            match self.policy.check(&self.ca, id) {
                Ok(name) => {
                    let normal = Identifier {
                        kind: id.kind.clone(),
                        value: name.to_string(),
                    };
                    if !names.contains(&normal) {
                        names.push(normal);
                    }
                }
                Err(p) => problems.push((id.clone(), p)),
            }
        }
        if let Some((_, first)) = problems.first() {
            let mut top = first.clone();
            if problems.len() > 1 {
                top.detail = format!(
                    "{} identifiers are refused; the first: {}",
                    problems.len(),
                    top.detail
                );
            }
            let subproblems: Vec<Value> = problems
                .iter()
                .map(|(id, p)| {
                    let mut doc = p.to_json();
                    doc["identifier"] = json!(id);
                    doc
                })
                .collect();
            top.extra = Some(("subproblems", Value::Array(subproblems)));
            return Err(top);
        }
        let replaces = match payload.get("replaces").and_then(Value::as_str) {
            None => None,
            Some(cert_id) => {
                let cert = self.cert_by_ari_id(cert_id)?;
                if cert.account != account.id {
                    return Err(Problem::unauthorized(
                        "replaces names a certificate of another account",
                    ));
                }
                let old_names = Certificate::from_pem(cert.pem.as_bytes())
                    .map(|c| c.subject_alt_names())
                    .unwrap_or_default();
                let shares = names
                    .iter()
                    .any(|id| old_names.iter().any(|n| n.to_string() == id.value));
                if !shares {
                    return Err(Problem::malformed(
                        "replaces names a certificate that has none of this order's identifiers",
                    ));
                }
                Some(cert_id.to_owned())
            }
        };
        let order_id = random_id()?;
        let expires = now() + ORDER_LIFETIME_SECS;
        let mut authzs = Vec::new();
        for id in &names {
            let wildcard = id.value.starts_with("*.");
            let authz = Authz {
                id: random_id()?,
                order_id: order_id.clone(),
                account: account.id.clone(),
                identifier: Identifier {
                    kind: id.kind.clone(),
                    value: id.value.trim_start_matches("*.").to_owned(),
                },
                wildcard,
                status: "pending".into(),
                expires,
            };
            // Wildcards only by DNS (RFC 8555 §7.1.3); IPs have no DNS challenge (RFC 8738).
            let kinds: &[&str] = match (wildcard, id.kind.as_str()) {
                (true, _) => &["dns-01"],
                (false, "ip") => &["http-01", "tls-alpn-01"],
                _ => &["http-01", "dns-01", "tls-alpn-01"],
            };
            let mut challenges = Vec::new();
            for kind in kinds {
                challenges.push(Challenge {
                    id: random_id()?,
                    authz: authz.id.clone(),
                    kind: (*kind).to_owned(),
                    token: random_id()?,
                    status: "pending".into(),
                    validated: None,
                    error: None,
                });
            }
            authzs.push((authz, challenges));
        }
        let order = Order {
            id: order_id.clone(),
            account: account.id.clone(),
            status: "pending".into(),
            expires,
            identifiers: names,
            error: None,
            certificate: None,
            replaces,
        };
        self.store.insert_order(&NewOrder { order, authzs })?;
        let order = self
            .store
            .order(&order_id)?
            .ok_or_else(|| Problem::internal("the order just recorded is missing"))?;
        Ok(
            Reply::json(StatusCode::CREATED, self.order_json(&urls, &order)?)
                .location(urls.of("order", &order_id)),
        )
    }

    /// The order, owned by the signer, with its expiry applied.
    fn owned_order(&self, signed: &Signed, id: &str) -> Result<Order, Problem> {
        let order = self
            .store
            .order(id)?
            .ok_or_else(|| Problem::not_found("order"))?;
        if order.account != signed.account()?.id {
            return Err(Problem::unauthorized(
                "this order belongs to another account",
            ));
        }
        if matches!(order.status.as_str(), "pending" | "ready") && order.expires <= now() {
            self.store.expire_order(id)?;
            return self
                .store
                .order(id)?
                .ok_or_else(|| Problem::not_found("order"));
        }
        Ok(order)
    }

    fn order_json(&self, urls: &Urls, order: &Order) -> Result<Value, Problem> {
        let authorizations: Vec<String> = self
            .store
            .authzs_of(&order.id)?
            .iter()
            .map(|a| urls.of("authz", &a.id))
            .collect();
        let mut doc = json!({
            "status": order.status,
            "expires": rfc3339(order.expires),
            "identifiers": order.identifiers,
            "authorizations": authorizations,
            "finalize": format!("{}/finalize", urls.of("order", &order.id)),
        });
        if let Some(cert) = &order.certificate {
            doc["certificate"] = json!(urls.of("cert", cert));
        }
        if let Some(error) = &order.error {
            doc["error"] = error.clone();
        }
        if let Some(replaces) = &order.replaces {
            doc["replaces"] = json!(replaces);
        }
        Ok(doc)
    }

    fn get_order(&self, req: &HttpRequest, body: &[u8], id: &str) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        signed.expect_post_as_get()?;
        let urls = Urls::from_request(req, &self.prefix);
        let order = self.owned_order(&signed, id)?;
        let reply = Reply::json(StatusCode::OK, self.order_json(&urls, &order)?);
        Ok(if order.status == "processing" {
            reply.retry_after(RETRY_AFTER_SECS)
        } else {
            reply
        })
    }

    fn finalize(&self, req: &HttpRequest, body: &[u8], id: &str) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        let urls = Urls::from_request(req, &self.prefix);
        let order = self.owned_order(&signed, id)?;
        if order.status != "ready" {
            return Err(Problem::order_not_ready(format!(
                "the order is {}, not ready: {}",
                order.status,
                match order.status.as_str() {
                    "pending" => "complete its authorizations first",
                    "valid" => "it has its certificate already",
                    _ => "place a new order",
                }
            )));
        }
        let payload = signed.payload()?;
        let der = unb64(payload["csr"].as_str().unwrap_or(""), "csr")?;
        let csr = Csr::from_der(&der).map_err(|e| Problem::bad_csr(e.to_string()))?;
        let names = csr_names(&csr)?;
        let mut wanted: Vec<String> = order.identifiers.iter().map(|i| i.value.clone()).collect();
        wanted.sort();
        if names != wanted {
            return Err(Problem::bad_csr(format!(
                "the CSR names {} but the order is for {}; request exactly the order's names",
                names.join(", "),
                wanted.join(", ")
            )));
        }
        if csr
            .as_x509_req()
            .public_key()
            .ok()
            .and_then(|k| k.public_key_to_der().ok())
            == signed.key.public_der()
        {
            return Err(Problem::bad_csr(
                "the CSR's key is the account key; use a key of its own for the certificate",
            ));
        }
        let account = signed.account()?.id.clone();
        let finalized = self.store.finalize(id, || {
            let cert = self.issue(&csr, &order)?;
            Ok(CertRecord {
                id: random_id()?,
                account,
                order_id: order.id.clone(),
                serial: cert.0.serial_hex(),
                pem: cert.1,
                not_before: unix(cert.0.not_before()),
                not_after: unix(cert.0.not_after()),
                revoked: None,
            })
        })?;
        if !finalized {
            return Err(Problem::order_not_ready(
                "the order was finalized by another request",
            ));
        }
        let order = self.owned_order(&signed, id)?;
        Ok(Reply::json(StatusCode::OK, self.order_json(&urls, &order)?)
            .location(urls.of("order", id)))
    }

    /// Signs the CSR for the order's names; the certificate and its PEM
    /// chain (leaf, then the issuing CA and any intermediates above it).
    fn issue(&self, csr: &Csr, order: &Order) -> Result<(Certificate, String), Problem> {
        let names = order
            .identifiers
            .iter()
            .map(|i| SubjectAltName::parse(&i.value))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Problem::internal(e.to_string()))?;
        let ca_end = self.ca.certificate().not_after();
        let end =
            (SystemTime::now() + Duration::from_secs(u64::from(self.days) * 86_400)).min(ca_end);
        let params = CertParams::from_names(names)
            .map_err(|e| Problem::internal(e.to_string()))?
            .not_after(end);
        // The CSR's own faults are badCSR; anything else is the server's.
        csr.verify_signature()
            .and_then(|()| csr.check_key())
            .map_err(|e| Problem::bad_csr(e.to_string()))?;
        let cert = self.ca.sign_csr(csr, &params).map_err(|e| match e {
            pki::Error::CsrRequestsCa { .. } => Problem::bad_csr(e.to_string()),
            other => Problem::internal(format!("signing the certificate: {other}")),
        })?;
        let mut pem = String::from_utf8_lossy(
            &cert
                .to_pem()
                .map_err(|e| Problem::internal(e.to_string()))?,
        )
        .into_owned();
        // The issuing CA always (certbot needs a chain of at least two),
        // and the intermediates above it; the root only when it issued.
        for (i, issuer) in self.ca.issuer_chain().iter().enumerate() {
            if i > 0 && issuer.is_self_issued() {
                continue;
            }
            pem.push_str(&String::from_utf8_lossy(
                &issuer
                    .to_pem()
                    .map_err(|e| Problem::internal(e.to_string()))?,
            ));
        }
        Ok((cert, pem))
    }

    fn authz_json(&self, urls: &Urls, authz: &Authz) -> Result<Value, Problem> {
        let challenges: Vec<Value> = self
            .store
            .challenges_of(&authz.id)?
            .iter()
            .map(|c| challenge_json(urls, c))
            .collect();
        let status = if authz.status == "pending" && authz.expires <= now() {
            "expired"
        } else {
            authz.status.as_str()
        };
        let mut doc = json!({
            "identifier": authz.identifier,
            "status": status,
            "expires": rfc3339(authz.expires),
            "challenges": challenges,
        });
        if authz.wildcard {
            doc["wildcard"] = json!(true);
        }
        Ok(doc)
    }

    fn owned_authz(&self, signed: &Signed, id: &str) -> Result<Authz, Problem> {
        let authz = self
            .store
            .authz(id)?
            .ok_or_else(|| Problem::not_found("authorization"))?;
        if authz.account != signed.account()?.id {
            return Err(Problem::unauthorized(
                "this authorization belongs to another account",
            ));
        }
        Ok(authz)
    }

    fn authz(&self, req: &HttpRequest, body: &[u8], id: &str) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        let urls = Urls::from_request(req, &self.prefix);
        let authz = self.owned_authz(&signed, id)?;
        self.store
            .fail_stale_validations(&authz.id, now() - STALE_VALIDATION_SECS)?;
        let payload = signed.payload()?;
        match payload.get("status").and_then(Value::as_str) {
            None if !signed.jws.payload.is_empty() && payload != json!({}) => {
                return Err(Problem::malformed(
                    "an authorization takes POST-as-GET or {\"status\": \"deactivated\"}",
                ));
            }
            None => {}
            Some("deactivated") => self.store.deactivate_authz(id)?,
            Some(other) => {
                return Err(Problem::malformed(format!(
                    "an authorization's status can only be set to \"deactivated\", not {other:?}"
                )));
            }
        }
        let authz = self
            .store
            .authz(&authz.id)?
            .ok_or_else(|| Problem::not_found("authorization"))?;
        let reply = Reply::json(StatusCode::OK, self.authz_json(&urls, &authz)?);
        Ok(if authz.status == "pending" {
            reply.retry_after(RETRY_AFTER_SECS)
        } else {
            reply
        })
    }

    /// A POST to a challenge: `{}` starts its validation (a receiver that
    /// hears when it ends), an empty payload only reads it. The
    /// authorization's id for [`Server::challenge_reply`].
    fn respond_to_challenge(
        &self,
        req: &HttpRequest,
        body: &[u8],
        id: &str,
    ) -> Result<(String, Option<oneshot::Receiver<()>>), Problem> {
        let signed = self.authenticate(req, body, false)?;
        let challenge = self
            .store
            .challenge(id)?
            .ok_or_else(|| Problem::not_found("challenge"))?;
        let authz = self.owned_authz(&signed, &challenge.authz)?;
        self.store
            .fail_stale_validations(&authz.id, now() - STALE_VALIDATION_SECS)?;
        if signed.jws.payload.is_empty() {
            return Ok((authz.id, None));
        }
        // `{}` per RFC 8555 §7.5.1; older clients add members, which are ignored.
        if !signed.payload()?.is_object() {
            return Err(Problem::malformed(
                "respond to a challenge with the payload {}",
            ));
        }
        if authz.expires <= now() {
            return Err(Problem::malformed("the authorization has expired"));
        }
        if !self.pool.has_room() {
            return Err(Problem::rate_limited(format!(
                "{} validations are waiting already; respond to the challenge again in a minute",
                crate::validate::MAX_WAITING
            )));
        }
        let done = if self.store.start_validation(&challenge.id)? {
            Some(self.spawn_validation(&signed.key, &authz, &challenge))
        } else {
            None
        };
        Ok((authz.id, done))
    }

    /// The challenge as it stands, linked to its authorization.
    fn challenge_reply(&self, req: &HttpRequest, id: &str, authz: &str) -> Result<Reply, Problem> {
        let urls = Urls::from_request(req, &self.prefix);
        let challenge = self
            .store
            .challenge(id)?
            .ok_or_else(|| Problem::not_found("challenge"))?;
        let mut reply = Reply::json(StatusCode::OK, challenge_json(&urls, &challenge))
            .link(urls.of("authz", authz), "up");
        if challenge.status == "processing" {
            reply = reply.retry_after(RETRY_AFTER_SECS);
        }
        Ok(reply)
    }

    /// Queues the validation; the receiver hears when its outcome is recorded.
    fn spawn_validation(
        &self,
        key: &AccountKey,
        authz: &Authz,
        challenge: &Challenge,
    ) -> oneshot::Receiver<()> {
        let (done, finished) = oneshot::channel();
        let validator = self.validator.clone();
        let store = Arc::clone(&self.store);
        let key_authorization = key.key_authorization(&challenge.token);
        let identifier = authz.identifier.clone();
        let moved = challenge.clone();
        let queued = self.pool.run(move || {
            // Its wait in the queue does not count towards looking stale.
            let _ = store.restamp_validation(&moved.id);
            let outcome = validator
                .validate(&Attempt {
                    identifier: &identifier,
                    kind: &moved.kind,
                    token: &moved.token,
                    key_authorization: &key_authorization,
                })
                .map_err(|p| {
                    let mut doc = p.to_json();
                    doc["identifier"] = json!(identifier);
                    doc
                });
            // A database failure here leaves the challenge processing until
            // `fail_stale_validations` gives up on it.
            let _ = store.finish_validation(&moved, outcome);
            let _ = done.send(());
        });
        if !queued {
            let _ = self.store.finish_validation(
                challenge,
                Err(Problem::rate_limited(
                    "too many validations are waiting; respond to the challenge again in a minute",
                )
                .to_json()),
            );
        }
        finished
    }

    fn certificate(&self, req: &HttpRequest, body: &[u8], id: &str) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, false)?;
        signed.expect_post_as_get()?;
        let cert = self
            .store
            .certificate(id)?
            .ok_or_else(|| Problem::not_found("certificate"))?;
        if cert.account != signed.account()?.id {
            return Err(Problem::unauthorized(
                "this certificate belongs to another account",
            ));
        }
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/pem-certificate-chain");
        if !accept.contains("pem-certificate-chain") && !accept.contains("*/*") {
            return Err(Problem::malformed(format!(
                "certificates are served as application/pem-certificate-chain, not {accept}"
            ))
            .with_status(StatusCode::NOT_ACCEPTABLE));
        }
        Ok(Reply {
            status: StatusCode::OK,
            body: Body::PemChain(cert.pem),
            location: None,
            links: Vec::new(),
            retry_after: None,
        })
    }

    fn revoke(&self, req: &HttpRequest, body: &[u8]) -> Result<Reply, Problem> {
        let signed = self.authenticate(req, body, true)?;
        let payload = signed.payload()?;
        let der = unb64(payload["certificate"].as_str().unwrap_or(""), "certificate")?;
        let cert = Certificate::from_der(&der)
            .map_err(|e| Problem::malformed(format!("certificate: {e}")))?;
        let record = self
            .store
            .certificate_by_serial(&cert.serial_hex())?
            .filter(|r| {
                Certificate::from_pem(r.pem.as_bytes())
                    .and_then(|c| c.to_der())
                    .is_ok_and(|stored| stored == der)
            })
            .ok_or_else(|| {
                Problem::malformed("this server did not issue that certificate")
                    .with_status(StatusCode::NOT_FOUND)
            })?;
        let reason = match payload.get("reason").map(Value::as_u64) {
            None => RevocationReason::Unspecified,
            Some(Some(code)) => reason_from_code(code)?,
            Some(None) => return Err(Problem::bad_revocation_reason("reason must be a number")),
        };
        let allowed = match &signed.jws.header.jwk {
            // Signed with the certificate's own key.
            Some(_) => {
                let cert_key = cert
                    .as_x509()
                    .public_key()
                    .ok()
                    .and_then(|k| k.public_key_to_der().ok());
                cert_key.is_some() && cert_key == signed.key.public_der()
            }
            None => {
                let account = signed.account()?;
                let identifiers: Vec<Identifier> = cert
                    .subject_alt_names()
                    .iter()
                    .map(|n| Identifier {
                        kind: if matches!(n, SubjectAltName::Ip(_)) {
                            "ip"
                        } else {
                            "dns"
                        }
                        .into(),
                        value: n.to_string(),
                    })
                    .collect();
                account.id == record.account
                    || self.store.holds_authorizations(&account.id, &identifiers)?
            }
        };
        if !allowed {
            return Err(Problem::unauthorized(
                "only the account that ordered the certificate, an account authorized for all \
                 its names, or the certificate's own key may revoke it",
            ));
        }
        if record.revoked.is_some() {
            return Err(Problem::already_revoked(
                "the certificate is already revoked",
            ));
        }
        // The CA directory first: `pki crl` reads it, and a crash between the
        // two is caught up at the next start (`Store::mark_serials_revoked`).
        pki::crl::revoke(&self.ca_dir, &record.serial, reason, SystemTime::now())
            .map_err(|e| Problem::internal(format!("recording the revocation: {e}")))?;
        if !self.store.mark_revoked(&record.id)? {
            return Err(Problem::already_revoked(
                "the certificate is already revoked",
            ));
        }
        Ok(Reply {
            status: StatusCode::OK,
            body: Body::Empty,
            location: None,
            links: Vec::new(),
            retry_after: None,
        })
    }

    /// The certificate an ARI id (`base64url(AKI).base64url(serial)`) names.
    fn cert_by_ari_id(&self, ari_id: &str) -> Result<CertRecord, Problem> {
        let (aki, serial) = ari_id.split_once('.').ok_or_else(|| {
            Problem::malformed(format!(
                "{ari_id:?} is not an ARI certificate id (AKI.serial)"
            ))
        })?;
        // The issuer's key identifier, as the certificates carry it.
        let issuer = self
            .ca
            .certificate()
            .as_x509()
            .subject_key_id()
            .map(|id| jws::b64(id.as_slice()));
        if issuer.as_deref() != Some(aki) {
            return Err(Problem::not_found("certificate issued by this CA"));
        }
        let serial = unb64(serial, "the serial of the ARI id")?;
        let hex = openssl::bn::BigNum::from_slice(&serial)
            .and_then(|bn| bn.to_hex_str().map(|s| s.to_string()))
            .map_err(|_| Problem::malformed("the serial of the ARI id is not a number"))?;
        self.store
            .certificate_by_serial(&hex)?
            .ok_or_else(|| Problem::not_found("certificate"))
    }

    fn renewal_info(&self, ari_id: &str) -> Result<Reply, Problem> {
        let cert = self.cert_by_ari_id(ari_id)?;
        let (start, end) = if cert.revoked.is_some() {
            // Renew now: the window is already open (RFC 9773 §4.2).
            let now = now();
            (now - 3600, now - 60)
        } else {
            let lifetime = cert.not_after - cert.not_before;
            let start = cert.not_before + lifetime * 2 / 3;
            (start, start + lifetime / 6)
        };
        Ok(Reply::json(
            StatusCode::OK,
            json!({ "suggestedWindow": { "start": rfc3339(start), "end": rfc3339(end) } }),
        )
        .retry_after(ARI_RETRY_AFTER_SECS))
    }
}

fn challenge_json(urls: &Urls, c: &Challenge) -> Value {
    let mut doc = json!({
        "type": c.kind,
        "url": urls.of("challenge", &c.id),
        "token": c.token,
        "status": c.status,
    });
    if let Some(at) = c.validated {
        doc["validated"] = json!(rfc3339(at));
    }
    if let Some(error) = &c.error {
        doc["error"] = error.clone();
    }
    doc
}

/// `mailto:` contacts from an account payload.
fn contacts(payload: &Value) -> Result<Vec<String>, Problem> {
    let list = match payload.get("contact") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(Problem::malformed("contact must be a list of mailto: URLs")),
    };
    list.iter()
        .map(|c| {
            let text = c.as_str().unwrap_or("");
            match text.strip_prefix("mailto:") {
                Some(addr) if addr.contains('@') && !addr.contains(',') => Ok(text.to_owned()),
                _ => Err(Problem::new_unsupported_contact(text)),
            }
        })
        .collect()
}

impl Problem {
    fn new_unsupported_contact(contact: &str) -> Self {
        Problem {
            kind: "unsupportedContact",
            detail: format!("{contact:?} is not a mailto: URL with one address"),
            status: StatusCode::BAD_REQUEST,
            extra: None,
            location: None,
        }
    }
}

/// The names a CSR asks for (subjectAltNames and a common name), sorted.
fn csr_names(csr: &Csr) -> Result<Vec<String>, Problem> {
    let requested = csr
        .requested_extensions()
        .map_err(|e| Problem::bad_csr(e.to_string()))?;
    let mut names: Vec<String> = requested
        .subject_alt_names
        .iter()
        .map(ToString::to_string)
        .collect();
    if let Some(cn) = csr.common_name() {
        let cn = SubjectAltName::parse(&cn)
            .map(|n| n.to_string())
            .map_err(|e| Problem::bad_csr(format!("the common name: {e}")))?;
        if !names.contains(&cn) {
            names.push(cn);
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// RFC 5280 reason codes ACME clients send.
fn reason_from_code(code: u64) -> Result<RevocationReason, Problem> {
    Ok(match code {
        0 => RevocationReason::Unspecified,
        1 => RevocationReason::KeyCompromise,
        2 => RevocationReason::CaCompromise,
        3 => RevocationReason::AffiliationChanged,
        4 => RevocationReason::Superseded,
        5 => RevocationReason::CessationOfOperation,
        6 => RevocationReason::CertificateHold,
        9 => RevocationReason::PrivilegeWithdrawn,
        other => {
            return Err(Problem::bad_revocation_reason(format!(
                "reason {other} is not one this CA records (0-6 or 9)"
            )));
        }
    })
}

/// Mounts the routes.
pub(crate) fn configure(server: Arc<Server>, cfg: &mut web::ServiceConfig) {
    let data = web::Data::from(server);
    macro_rules! post {
        ($method:ident) => {
            |server: web::Data<Server>, req: HttpRequest, body: web::Bytes| async move {
                let result = server.$method(&req, &body);
                server.finish(&req, result)
            }
        };
        ($method:ident, id) => {
            |server: web::Data<Server>,
             req: HttpRequest,
             body: web::Bytes,
             id: web::Path<String>| async move {
                let result = server.$method(&req, &body, &id);
                server.finish(&req, result)
            }
        };
    }
    cfg.app_data(data)
        .route("", web::get().to(setup_page))
        .route("/", web::get().to(setup_page))
        .route(
            "/root.pem",
            web::get().to(|server: web::Data<Server>| async move {
                crate::setup::root(server.ca.root(), false)
            }),
        )
        .route(
            "/root.der",
            web::get().to(|server: web::Data<Server>| async move {
                crate::setup::root(server.ca.root(), true)
            }),
        )
        .service(api(
            "/directory",
            web::get().to(|server: web::Data<Server>, req: HttpRequest| async move {
                let doc = server.directory(&req);
                server.finish(&req, Ok(Reply::json(StatusCode::OK, doc)))
            }),
        ))
        .service(api(
            "/new-nonce",
            web::route()
                .guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
                .to(|server: web::Data<Server>, req: HttpRequest| async move {
                    let status = if req.method() == actix_web::http::Method::HEAD {
                        StatusCode::OK
                    } else {
                        StatusCode::NO_CONTENT
                    };
                    server.finish(
                        &req,
                        Ok(Reply {
                            status,
                            body: Body::Empty,
                            location: None,
                            links: Vec::new(),
                            retry_after: None,
                        }),
                    )
                }),
        ))
        .service(api("/new-account", web::post().to(post!(new_account))))
        .service(api("/new-order", web::post().to(post!(new_order))))
        .service(api("/revoke-cert", web::post().to(post!(revoke))))
        .service(api("/key-change", web::post().to(post!(key_change))))
        .service(api(
            "/account/{id}",
            web::post().to(post!(update_account, id)),
        ))
        .service(api(
            "/account/{id}/orders",
            web::post().to(post!(account_orders, id)),
        ))
        .service(api("/order/{id}", web::post().to(post!(get_order, id))))
        .service(api(
            "/order/{id}/finalize",
            web::post().to(post!(finalize, id)),
        ))
        .service(api("/authz/{id}", web::post().to(post!(authz, id))))
        .service(api(
            "/challenge/{id}",
            web::post().to(
                |server: web::Data<Server>,
                 req: HttpRequest,
                 body: web::Bytes,
                 id: web::Path<String>| async move {
                    let started = server.respond_to_challenge(&req, &body, &id);
                    // A validation on loopback takes milliseconds: answering
                    // with its outcome spares the client a Retry-After wait.
                    // The worker is free meanwhile; a slow one is left running.
                    let result = match started {
                        Ok((authz, done)) => {
                            if let Some(done) = done {
                                let _ = actix_web::rt::time::timeout(VALIDATION_WAIT, done).await;
                            }
                            server.challenge_reply(&req, &id, &authz)
                        }
                        Err(problem) => Err(problem),
                    };
                    server.finish(&req, result)
                },
            ),
        ))
        .service(api("/cert/{id}", web::post().to(post!(certificate, id))))
        .service(api(
            "/renewal-info/{id}",
            web::get().to(
                |server: web::Data<Server>, req: HttpRequest, id: web::Path<String>| async move {
                    let result = server.renewal_info(&id);
                    server.finish(&req, result)
                },
            ),
        ));
}

/// An ACME resource: `route` where it applies, and for any other method
/// the 405 with a `malformed` problem that RFC 8555 §6.3 asks for.
fn api(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(method_not_allowed))
}

async fn method_not_allowed(server: web::Data<Server>, req: HttpRequest) -> HttpResponse {
    let problem = Problem::malformed(format!(
        "{} is not allowed on {}: the directory and newNonce take GET, every other ACME \
         resource POST (POST-as-GET to read it)",
        req.method(),
        req.path()
    ))
    .with_status(StatusCode::METHOD_NOT_ALLOWED);
    server.finish(&req, Err(problem))
}

async fn setup_page(server: web::Data<Server>, req: HttpRequest) -> HttpResponse {
    let urls = Urls::from_request(&req, &server.prefix);
    crate::setup::page(&urls.base, server.ca.root(), server.validator.http_port)
}
