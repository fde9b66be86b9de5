//! The ACME resources (RFC 8555 §7) as actix-web routes under one scope:
//! the directory, nonces, accounts, orders, authorizations, challenges,
//! finalize, certificate download, revocation, key change and ARI renewal
//! information (RFC 9773). Every request is authenticated here, in one
//! place (`Server::authenticate`): the media type, the JWS, its URL, its
//! key, its signature and its nonce, so a handler only sees requests a
//! known key signed once.

//!
//! `accounts`, `orders` (with authorizations and challenges) and `certs`
//! hold the handlers by resource; `reply` what every answer carries.

mod accounts;
mod certs;
mod orders;
mod reply;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use pki::Ca;
use serde_json::Value;

use crate::jws::{AccountKey, Unverified};
use crate::policy::Policy;
use crate::problem::Problem;
use crate::store::{Account, Store};
use crate::validate::{Pool, Validator};
use reply::{Body, Reply, Urls};

/// How long a challenge response waits for its validation before answering
/// `processing`.
const VALIDATION_WAIT: Duration = Duration::from_secs(2);

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
}

/// Whether a payload sets `status` to `deactivated`, the one change a
/// client may make to an account's or authorization's status; `what`
/// names the object for the refusal.
fn asks_deactivation(payload: &Value, what: &str) -> Result<bool, Problem> {
    match payload.get("status").map(|s| s.as_str()) {
        None => Ok(false),
        Some(Some("deactivated")) => Ok(true),
        Some(other) => Err(Problem::malformed(format!(
            "{what}'s status can only be set to \"deactivated\", not {}",
            other.map_or_else(|| "a non-string".to_owned(), |s| format!("{s:?}"))
        ))),
    }
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
