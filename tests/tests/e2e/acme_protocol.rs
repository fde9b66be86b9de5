//! `actix-https --acme` driven by a client that can break any part of a
//! request: every account key algorithm, each refusal with its RFC 8555
//! error type, other accounts kept out, key change, deactivation, ARI,
//! external account binding, a restart, a kill during finalize, twenty
//! orders at once and two servers on one CA directory.

use std::path::Path;

use e2e::{
    AccountAlg, AcmeServer, AcmeTestClient, Dns, Peer, TestCommand, b64u, csr_der, jws, openssl,
    path_str, require_tools, tempdir,
};
use serde_json::{Value, json};

fn tools() -> bool {
    require_tools(&["pebble-challtestsrv", "openssl", "curl"])
}

fn client(acme: &AcmeServer, alg: AccountAlg) -> AcmeTestClient {
    AcmeTestClient::new(&acme.directory(), &acme.endpoint_ca(), alg)
}

/// Proves every authorization of an order by dns-01; returns the order document.
fn authorize(client: &AcmeTestClient, dns: &Dns, order: &Value) {
    for authz_url in order["authorizations"].as_array().unwrap() {
        let authz_url = authz_url.as_str().unwrap();
        let authz = client.post(authz_url, None).json();
        let challenge = authz["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "dns-01")
            .unwrap()
            .clone();
        let name = authz["identifier"]["value"].as_str().unwrap();
        dns.set_txt(
            &format!("_acme-challenge.{name}"),
            &client.dns_digest(challenge["token"].as_str().unwrap()),
        );
        let reply = client.post(challenge["url"].as_str().unwrap(), Some(&json!({})));
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(
            reply
                .header("link")
                .is_some_and(|l| l.contains("rel=\"up\"")),
            "{reply:?}"
        );
        let done = client.poll(authz_url);
        assert_eq!(done["status"], "valid", "{done}");
    }
}

/// Finalizes with a CSR for `names`; the certificate chain PEM.
fn finalize(client: &AcmeTestClient, order_url: &str, order: &Value, names: &[&str]) -> String {
    finalize_with_key(client, order_url, order, names).0
}

/// [`finalize`], also giving the certificate's key.
fn finalize_with_key(
    client: &AcmeTestClient,
    order_url: &str,
    order: &Value,
    names: &[&str],
) -> (String, pki::PrivateKey) {
    let (csr, key) = csr_der(names);
    let reply = client.post(
        order["finalize"].as_str().unwrap(),
        Some(&json!({ "csr": b64u(csr) })),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let done = client.poll(order_url);
    assert_eq!(done["status"], "valid", "{done}");
    let cert = client.post(done["certificate"].as_str().unwrap(), None);
    assert_eq!(
        cert.header("content-type"),
        Some("application/pem-certificate-chain")
    );
    (cert.body, key)
}

/// Orders, authorizes and finalizes `names`; the chain PEM.
fn issue(client: &AcmeTestClient, dns: &Dns, names: &[&str]) -> String {
    let (url, order) = client.order(names);
    authorize(client, dns, &order);
    finalize(client, &url, &order, names)
}

fn verify_chain(dir: &Path, acme: &AcmeServer, chain: &str) {
    let file = dir.join(format!("chain-{}.pem", e2e::free_port()));
    e2e::write_file(&file, chain);
    openssl(["verify", "-x509_strict", "-CAfile"])
        .arg(acme.endpoint_ca())
        .arg(&file)
        .assert_success()
        .assert_stdout_contains(": OK");
}

#[test]
fn every_account_key_algorithm_gets_a_certificate() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(Peer::Ours, dir.path(), &dns);
    // The banner gives the directory and a certbot command that works as printed.
    let banner = acme.server().log();
    for needle in [
        format!("ACME directory: {}", acme.directory()),
        format!(
            "REQUESTS_CA_BUNDLE={} certbot",
            path_str(&acme.endpoint_ca())
        ),
        format!("acme_ca_root {}", path_str(&acme.endpoint_ca())),
    ] {
        assert!(
            banner.contains(&needle),
            "the banner lacks {needle:?}:\n{banner}"
        );
    }
    for alg in AccountAlg::ALL {
        let mut c = client(&acme, alg);
        let first = c.register();
        assert_eq!(first.status, 201, "{alg:?}: {first:?}");
        assert!(first.header("replay-nonce").is_some(), "{first:?}");
        assert!(
            first
                .header("link")
                .is_some_and(|l| l.contains("rel=\"index\"")),
            "{first:?}"
        );
        let again = c.register();
        assert_eq!(again.status, 200, "the same key finds the same account");
        assert_eq!(again.header("location"), first.header("location"));
        let name = format!("{}.alg.localhost", alg.name().to_ascii_lowercase());
        let chain = issue(&c, &dns, &[&name]);
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "{chain}");
        verify_chain(dir.path(), &acme, &chain);
    }
}

#[test]
fn malformed_requests_get_their_acme_error() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(Peer::Ours, dir.path(), &dns);
    let mut c = client(&acme, AccountAlg::Es256);
    let new_account = c.url("newAccount");
    let payload = json!({ "termsOfServiceAgreed": true }).to_string();

    // The media type.
    let body = jws(
        &c.key,
        &c.protected(&new_account, &c.nonce()),
        payload.as_bytes(),
    );
    let reply = c.post_raw(&new_account, &body.to_string(), "application/json");
    assert_eq!(reply.status, 415);
    reply.assert_problem("malformed", "application/jose+json");

    // A signature that does not verify.
    let mut body = jws(
        &c.key,
        &c.protected(&new_account, &c.nonce()),
        payload.as_bytes(),
    );
    let other = jws(&c.key, &c.protected(&new_account, "x"), b"{}");
    body["signature"] = other["signature"].clone();
    c.post_raw(&new_account, &body.to_string(), "application/jose+json")
        .assert_problem("malformed", "does not verify");

    // An algorithm that is not accepted, and one that does not fit the key.
    for (alg, says) in [("HS256", "is not accepted"), ("ES384", "does not fit")] {
        let mut protected = c.protected(&new_account, &c.nonce());
        protected["alg"] = json!(alg);
        let body = jws(&c.key, &protected, payload.as_bytes());
        let reply = c.post_raw(&new_account, &body.to_string(), "application/jose+json");
        reply.assert_problem("badSignatureAlgorithm", says);
        assert!(
            reply.json()["algorithms"]
                .as_array()
                .is_some_and(|a| a.contains(&json!("EdDSA"))),
            "{reply:?}"
        );
    }

    // A nonce used twice.
    let nonce = c.nonce();
    let first = c.post_with_nonce(
        &new_account,
        Some(&json!({"termsOfServiceAgreed": true})),
        &nonce,
    );
    assert_eq!(first.status, 201, "{first:?}");
    c.post_with_nonce(&new_account, Some(&json!({})), &nonce)
        .assert_problem("badNonce", "used already");

    // The URL signed is not the URL posted to.
    let body = jws(
        &c.key,
        &c.protected(&c.url("newOrder"), &c.nonce()),
        payload.as_bytes(),
    );
    c.post_raw(&new_account, &body.to_string(), "application/jose+json")
        .assert_problem("unauthorized", "the request went to");

    // An account that does not exist, asked for by key and by URL.
    let stranger = client(&acme, AccountAlg::EdDsa);
    stranger
        .post(&new_account, Some(&json!({ "onlyReturnExisting": true })))
        .assert_problem("accountDoesNotExist", "onlyReturnExisting");
    c.register();
    let mut ghost = client(&acme, AccountAlg::Es256);
    ghost.kid = Some(format!("{}x", c.kid.clone().unwrap()));
    ghost
        .post(&c.url("newOrder"), Some(&json!({"identifiers": []})))
        .assert_problem("accountDoesNotExist", "does not exist");

    // A kid where the key belongs.
    let mut protected = c.protected(&new_account, &c.nonce());
    protected.as_object_mut().unwrap().remove("jwk");
    protected["kid"] = json!(c.kid.clone().unwrap());
    let body = jws(&c.key, &protected, b"{}");
    c.post_raw(&new_account, &body.to_string(), "application/jose+json")
        .assert_problem("malformed", "carry the account key as jwk");

    // GET where POST-as-GET belongs: 405 (RFC 8555 §6.3).
    let get = e2e::curl()
        .arg("--cacert")
        .arg(acme.endpoint_ca())
        .args(["--write-out", "\n%{http_code}"])
        .arg(c.url("newOrder"))
        .assert_success();
    assert!(get.stdout.ends_with("\n405"), "{get}");
    assert!(
        get.stdout.contains("urn:ietf:params:acme:error:malformed"),
        "{get}"
    );

    // An unprotected header (RFC 8555 §6.2 forbids it).
    let mut body = jws(&c.key, &c.protected(&c.url("newOrder"), &c.nonce()), b"{}");
    body["header"] = json!({ "kid": "x" });
    c.post_raw(
        &c.url("newOrder"),
        &body.to_string(),
        "application/jose+json",
    )
    .assert_problem("malformed", "unprotected header");

    // A jwk where a kid belongs.
    let mut protected = c.protected(&c.url("newOrder"), &c.nonce());
    protected.as_object_mut().unwrap().remove("kid");
    protected["jwk"] = c.key.jwk.clone();
    let body = jws(&c.key, &protected, b"{}");
    c.post_raw(
        &c.url("newOrder"),
        &body.to_string(),
        "application/jose+json",
    )
    .assert_problem("malformed", "must name its account with kid");
}

#[test]
fn orders_outside_policy_and_csrs_outside_the_order_are_refused() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start_with(
        Peer::Ours,
        dir.path(),
        &dns,
        &["--acme-allow", "team.localhost"],
    );
    let mut c = client(&acme, AccountAlg::Es256);
    c.register();
    let reply = c.post(
        &c.url("newOrder"),
        Some(&json!({"identifiers": [{"type": "dns", "value": "other.localhost"}]})),
    );
    reply.assert_problem("rejectedIdentifier", "--acme-allow team.localhost");
    assert_eq!(
        reply.json()["subproblems"][0]["identifier"]["value"],
        "other.localhost"
    );
    c.post(
        &c.url("newOrder"),
        Some(&json!({"identifiers": [{"type": "ip", "value": "10.0.0.1"}]})),
    )
    .assert_problem("rejectedIdentifier", "10.0.0.1 is outside");
    c.post(
        &c.url("newOrder"),
        Some(&json!({"identifiers": [{"type": "email", "value": "a@b.c"}]})),
    )
    .assert_problem("unsupportedIdentifier", "\"email\"");

    let (url, order) = c.order(&["a.team.localhost"]);
    let (csr, _) = csr_der(&["a.team.localhost"]);
    c.post(
        order["finalize"].as_str().unwrap(),
        Some(&json!({ "csr": b64u(&csr) })),
    )
    .assert_problem("orderNotReady", "complete its authorizations first");
    authorize(&c, &dns, &order);
    let (wrong, _) = csr_der(&["a.team.localhost", "b.team.localhost"]);
    c.post(
        order["finalize"].as_str().unwrap(),
        Some(&json!({ "csr": b64u(wrong) })),
    )
    .assert_problem("badCSR", "request exactly the order's names");
    // A weak key is refused as `pki sign` refuses it.
    let weak = {
        let key =
            openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(1024).unwrap()).unwrap();
        let mut req = openssl::x509::X509ReqBuilder::new().unwrap();
        req.set_pubkey(&key).unwrap();
        let mut names = openssl::stack::Stack::new().unwrap();
        names
            .push(
                openssl::x509::extension::SubjectAlternativeName::new()
                    .dns("a.team.localhost")
                    .build(&req.x509v3_context(None))
                    .unwrap(),
            )
            .unwrap();
        req.add_extensions(&names).unwrap();
        req.sign(&key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        req.build().to_der().unwrap()
    };
    c.post(
        order["finalize"].as_str().unwrap(),
        Some(&json!({ "csr": b64u(weak) })),
    )
    .assert_problem("badCSR", "1024");
    let chain = finalize(&c, &url, &order, &["a.team.localhost"]);
    verify_chain(dir.path(), &acme, &chain);
}

#[test]
fn a_failed_challenge_fails_its_authorization_and_order() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(Peer::Ours, dir.path(), &dns);
    let mut c = client(&acme, AccountAlg::Es256);
    c.register();
    for (kind, says) in [
        ("dns-01", "has the DNS record been made?"),
        ("http-01", "could not connect to nothing.localhost"),
    ] {
        let (url, order) = c.order(&["nothing.localhost"]);
        let authz_url = order["authorizations"][0].as_str().unwrap();
        let authz = c.post(authz_url, None).json();
        let challenge = authz["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|ch| ch["type"] == kind)
            .unwrap()
            .clone();
        c.post(challenge["url"].as_str().unwrap(), Some(&json!({})));
        let done = c.poll(authz_url);
        assert_eq!(done["status"], "invalid", "{done}");
        let failed = done["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|ch| ch["type"] == kind)
            .unwrap();
        assert_eq!(failed["status"], "invalid", "{failed}");
        assert!(
            failed["error"]["detail"].as_str().unwrap().contains(says),
            "{kind}: {failed}"
        );
        let order = c.post(&url, None).json();
        assert_eq!(order["status"], "invalid", "{order}");
        assert!(order["error"]["subproblems"].is_array(), "{order}");
    }
}

/// Runs http-01 for an order of one identifier; the challenge's error detail.
fn failed_http_01(c: &AcmeTestClient, identifier: Value) -> String {
    let reply = c.post(
        &c.url("newOrder"),
        Some(&json!({ "identifiers": [identifier] })),
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    let authz_url = reply.json()["authorizations"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let authz = c.post(&authz_url, None).json();
    let challenge = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ch| ch["type"] == "http-01")
        .unwrap()
        .clone();
    c.post(challenge["url"].as_str().unwrap(), Some(&json!({})));
    let done = c.poll(&authz_url);
    assert_eq!(done["status"], "invalid", "{done}");
    done["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ch| ch["type"] == "http-01")
        .unwrap()["error"]["detail"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A server that answers one byte a second never holds validation past its
/// 10 s deadline; link-local addresses (cloud metadata) are never fetched.
#[test]
fn validation_gives_up_on_trickles_and_link_local_addresses() {
    if !tools() || !require_tools(&["python3"]) {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(Peer::Ours, dir.path(), &dns);
    let _trickle = e2e::Server::start_at(
        "trickling HTTP server",
        std::net::SocketAddr::from(([127, 0, 0, 1], acme.http_port)),
        "READY",
        |port| {
            let mut cmd = std::process::Command::new("python3");
            cmd.args(["-u", "-c", TRICKLE]).arg(port.to_string());
            cmd
        },
    );
    let mut c = client(&acme, AccountAlg::Es256);
    c.register();
    let started = std::time::Instant::now();
    let detail = failed_http_01(&c, json!({"type": "dns", "value": "slow.localhost"}));
    assert!(
        detail.contains("no complete answer within 10 s"),
        "{detail}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the trickle held validation {:?}",
        started.elapsed()
    );
    let detail = failed_http_01(&c, json!({"type": "ip", "value": "169.254.169.254"}));
    assert!(
        detail.contains("link-local addresses are not validated"),
        "{detail}"
    );
}

/// Accepts connections and sends an HTTP answer one byte a second, for ever.
const TRICKLE: &str = r#"
import socket, sys, threading, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); print("READY", flush=True)
def drip(c):
    try:
        c.recv(4096)
        for b in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000:
            c.send(bytes([b])); time.sleep(1)
    except OSError:
        pass
while True:
    c, _ = s.accept(); threading.Thread(target=drip, args=(c,), daemon=True).start()
"#;

#[test]
fn other_accounts_cannot_read_or_revoke_and_ari_follows_revocation() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(Peer::Ours, dir.path(), &dns);
    let mut owner = client(&acme, AccountAlg::Es256);
    owner.register();
    let mut other = client(&acme, AccountAlg::Rs256);
    other.register();
    let (url, order) = owner.order(&["mine.localhost"]);
    authorize(&owner, &dns, &order);
    let chain = finalize(&owner, &url, &order, &["mine.localhost"]);
    let done = owner.post(&url, None).json();

    other
        .post(&url, None)
        .assert_problem("unauthorized", "another account");
    other
        .post(done["certificate"].as_str().unwrap(), None)
        .assert_problem("unauthorized", "another account");
    let orders = owner.post(&format!("{}/orders", owner.kid.clone().unwrap()), None);
    assert_eq!(orders.json()["orders"], json!([url]));
    other
        .post(&format!("{}/orders", owner.kid.clone().unwrap()), None)
        .assert_problem("unauthorized", "another account's orders");

    let leaf = pki::Certificate::chain_from_pem(chain.as_bytes())
        .unwrap()
        .remove(0);
    let der = leaf.to_der().unwrap();
    let revoke = json!({ "certificate": b64u(&der), "reason": 4 });

    // ARI before: a window two thirds into the life.
    let aki = aki_b64(&der);
    let ari_id = format!(
        "{aki}.{}",
        b64u(leaf.as_x509().serial_number().to_bn().unwrap().to_vec())
    );
    let ari_url = format!("{}/{ari_id}", owner.url("renewalInfo"));
    let before = e2e::curl()
        .arg("--cacert")
        .arg(acme.endpoint_ca())
        .arg(&ari_url)
        .assert_success();
    let window: Value = serde_json::from_str(&before.stdout).unwrap();
    let start = window["suggestedWindow"]["start"]
        .as_str()
        .unwrap()
        .to_owned();

    // An order that replaces it (RFC 9773 §5); a second one may not.
    let replacing = |c: &AcmeTestClient| {
        c.post(
            &c.url("newOrder"),
            Some(&json!({
                "identifiers": [{"type": "dns", "value": "mine.localhost"}],
                "replaces": ari_id,
            })),
        )
    };
    let first = replacing(&owner);
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(first.json()["replaces"], json!(ari_id));
    let second = replacing(&owner);
    second.assert_problem("alreadyReplaced", "already replaces");
    assert_eq!(second.status, 409);
    replacing(&other).assert_problem("unauthorized", "another account");
    let foreign = format!(
        "{}.{}",
        b64u(b"another issuer"),
        ari_id.split_once('.').unwrap().1
    );
    e2e::curl()
        .arg("--cacert")
        .arg(acme.endpoint_ca())
        .args(["--write-out", "%{http_code}"])
        .arg(format!("{}/{foreign}", owner.url("renewalInfo")))
        .assert_success()
        .assert_stdout_contains("404");

    other
        .post(&owner.url("revokeCert"), Some(&revoke))
        .assert_problem("unauthorized", "only the account that ordered");
    let ok = owner.post(&owner.url("revokeCert"), Some(&revoke));
    assert_eq!(ok.status, 200, "{ok:?}");
    owner
        .post(&owner.url("revokeCert"), Some(&revoke))
        .assert_problem("alreadyRevoked", "already revoked");
    let revoked = std::fs::read_to_string(dir.path().join("ca").join("revoked.txt")).unwrap();
    assert!(
        revoked.contains(&format!("{}\t", leaf.serial_hex())) && revoked.contains("superseded"),
        "{revoked}"
    );
    // `pki crl` lists it.
    TestCommand::new(e2e::workspace_bin("pki-cli", "pki"))
        .args(["crl", "--ca-dir", path_str(&dir.path().join("ca"))])
        .assert_success();
    openssl(["crl", "-noout", "-text", "-in"])
        .arg(dir.path().join("ca").join("crl.pem"))
        .assert_success()
        .assert_stdout_contains(&leaf.serial_hex());

    let after = e2e::curl()
        .arg("--cacert")
        .arg(acme.endpoint_ca())
        .arg(&ari_url)
        .assert_success();
    let window: Value = serde_json::from_str(&after.stdout).unwrap();
    let end = window["suggestedWindow"]["end"].as_str().unwrap();
    assert!(
        end < start.as_str(),
        "after revocation the window is now: {window}"
    );
}

/// The authorityKeyIdentifier of a DER certificate, base64url, as ARI ids carry it.
fn aki_b64(der: &[u8]) -> String {
    let cert = openssl::x509::X509::from_der(der).unwrap();
    b64u(cert.authority_key_id().unwrap().as_slice())
}

#[test]
fn key_change_and_deactivation() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(Peer::Ours, dir.path(), &dns);
    let mut c = client(&acme, AccountAlg::Es256);
    c.register();
    let kid = c.kid.clone().unwrap();
    let new_key = e2e::AccountKeyPair::generate(AccountAlg::EdDsa);
    let url = c.url("keyChange");
    let inner = jws(
        &new_key,
        &json!({ "alg": "EdDSA", "jwk": new_key.jwk, "url": url }),
        json!({ "account": kid, "oldKey": c.key.jwk })
            .to_string()
            .as_bytes(),
    );
    // To a key another account has: 409 naming that account.
    let mut other = client(&acme, AccountAlg::Es384);
    other.register();
    let taken = jws(
        &other.key,
        &json!({ "alg": "ES384", "jwk": other.key.jwk, "url": url }),
        json!({ "account": kid, "oldKey": c.key.jwk })
            .to_string()
            .as_bytes(),
    );
    let conflict = c.post(&url, Some(&taken));
    assert_eq!(conflict.status, 409, "{conflict:?}");
    assert_eq!(
        conflict.header("location"),
        other.kid.as_deref(),
        "{conflict:?}"
    );
    let reply = c.post(&url, Some(&inner));
    assert_eq!(reply.status, 200, "{reply:?}");
    // The old key no longer names the account; the new one does.
    let old = client(&acme, AccountAlg::Es256);
    let mut old = old;
    old.key = std::mem::replace(&mut c.key, new_key);
    old.post(
        &old.url("newAccount"),
        Some(&json!({ "onlyReturnExisting": true })),
    )
    .assert_problem("accountDoesNotExist", "no account has this key");
    let found = c.post(
        &c.url("newAccount"),
        Some(&json!({ "onlyReturnExisting": true })),
    );
    assert_eq!(found.header("location"), Some(kid.as_str()), "{found:?}");

    let deactivated = c.post(&kid, Some(&json!({ "status": "deactivated" })));
    assert_eq!(
        deactivated.json()["status"],
        "deactivated",
        "{deactivated:?}"
    );
    c.post(
        &c.url("newOrder"),
        Some(&json!({"identifiers": [{"type": "dns", "value": "x.localhost"}]})),
    )
    .assert_problem("unauthorized", "is deactivated");
}

#[test]
fn external_account_binding_is_required_when_configured() {
    if !tools() || !require_tools(&["lego"]) {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let hmac = b64u(b"0123456789abcdef0123456789abcdef");
    let key_file = dir.path().join("team.key");
    e2e::write_file(&key_file, &hmac);
    let entry = format!("team={}", path_str(&key_file));
    let acme = AcmeServer::start_with(Peer::Ours, dir.path(), &dns, &["--acme-eab", &entry]);
    let c = client(&acme, AccountAlg::Es256);
    assert_eq!(c.directory["meta"]["externalAccountRequired"], true);
    c.post(
        &c.url("newAccount"),
        Some(&json!({ "termsOfServiceAgreed": true })),
    )
    .assert_problem("externalAccountRequired", "--eab-kid");
    let lego = |hmac: &str| {
        let mut cmd = TestCommand::new("lego");
        cmd.env("LEGO_CA_CERTIFICATES", acme.endpoint_ca())
            .args(["--server", &acme.directory(), "--accept-tos"])
            .args([
                "--email",
                "dev@example.com",
                "--eab",
                "--kid",
                "team",
                "--hmac",
                hmac,
            ])
            .arg("--path")
            .arg(dir.path().join(format!("lego-{}", hmac.len())))
            .args(["--domains", "eab.localhost", "--http", "--http.port"])
            .arg(format!("127.0.0.1:{}", acme.http_port))
            .arg("run");
        cmd
    };
    lego(&b64u(b"wrong key wrong key wrong key!!"))
        .assert_failure()
        .assert_stderr_contains("does not verify");
    lego(&hmac).assert_success();
}

#[test]
fn a_restart_keeps_the_account_for_renewal() {
    if !tools() || !require_tools(&["lego"]) {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let mut acme = AcmeServer::start(Peer::Ours, dir.path(), &dns);
    let lego = |acme: &AcmeServer, verb: &[&str]| {
        let mut cmd = TestCommand::new("lego");
        cmd.env("LEGO_CA_CERTIFICATES", acme.endpoint_ca())
            .args(["--server", &acme.directory(), "--accept-tos"])
            .args(["--email", "dev@example.com", "--path"])
            .arg(dir.path().join("lego"))
            .args(["--domains", "restart.localhost", "--http", "--http.port"])
            .arg(format!("127.0.0.1:{}", acme.http_port))
            .args(verb);
        cmd.assert_success()
    };
    lego(&acme, &["run"]);
    acme.restart(&[]);
    let renewed = lego(&acme, &["renew", "--days", "100000", "--no-random-sleep"]);
    let all = format!("{}{}", renewed.stdout, renewed.stderr);
    assert!(
        all.contains("Server responded with a certificate"),
        "{renewed}"
    );
    assert!(
        !all.contains("Registering account"),
        "the account was lost: {renewed}"
    );
}

#[test]
fn a_kill_during_finalize_leaves_the_order_ready() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let mut acme = AcmeServer::start_ours_with_env(
        dir.path(),
        &dns,
        &[("PKI_TEST_PAUSE_AT", "acme-certificate-recorded")],
    );
    let mut c = client(&acme, AccountAlg::Es256);
    c.register();
    let (url, order) = c.order(&["crash.localhost"]);
    authorize(&c, &dns, &order);
    let (csr, _) = csr_der(&["crash.localhost"]);
    let finalize_url = order["finalize"].as_str().unwrap().to_owned();
    let body = jws(
        &c.key,
        &c.protected(&finalize_url, &c.nonce()),
        json!({ "csr": b64u(&csr) }).to_string().as_bytes(),
    )
    .to_string();
    let ca = acme.endpoint_ca();
    let request = std::thread::spawn(move || {
        e2e::curl()
            .arg("--cacert")
            .arg(ca)
            .args(["-H", "Content-Type: application/jose+json", "--data-binary"])
            .arg(body)
            .arg(finalize_url)
            .output()
    });
    acme.server()
        .assert_log_contains("paused at acme-certificate-recorded");
    acme.restart(&[]);
    let answered = request.join().unwrap();
    assert!(
        !answered.status.success(),
        "the killed server answered: {answered}"
    );
    let order_now = c.post(&url, None).json();
    assert_eq!(order_now["status"], "ready", "{order_now}");
    assert!(order_now.get("certificate").is_none(), "{order_now}");
    assert!(!dir.path().join("ca").join("revoked.txt").exists());
    let chain = finalize(&c, &url, &order, &["crash.localhost"]);
    verify_chain(dir.path(), &acme, &chain);
}

#[test]
fn twenty_orders_at_once_from_four_accounts_all_complete() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(Peer::Ours, dir.path(), &dns);
    let serials = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for account in 0..4 {
            let mut c = client(&acme, AccountAlg::ALL[account]);
            c.register();
            let c = std::sync::Arc::new(c);
            for n in 0..5 {
                let c = std::sync::Arc::clone(&c);
                let (dns, serials) = (&dns, &serials);
                s.spawn(move || {
                    let name = format!("n{n}.a{account}.localhost");
                    let chain = issue(&c, dns, &[&name]);
                    let leaf = pki::Certificate::chain_from_pem(chain.as_bytes())
                        .unwrap()
                        .remove(0);
                    serials.lock().unwrap().push(leaf.serial_hex());
                });
            }
        }
    });
    let mut serials = serials.into_inner().unwrap();
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 20, "{serials:?}");
}

#[test]
fn two_servers_share_one_ca_directory() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let one = AcmeServer::start(Peer::Ours, dir.path(), &dns);
    let two = AcmeServer::start(Peer::Ours, dir.path(), &dns);
    let mut a = client(&one, AccountAlg::Es256);
    a.register();
    let serials = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for (i, acme) in [&one, &two].into_iter().enumerate() {
            let (dns, serials) = (&dns, &serials);
            s.spawn(move || {
                let mut c = client(acme, AccountAlg::Es384);
                c.register();
                for n in 0..4 {
                    let chain = issue(&c, dns, &[&format!("n{n}.s{i}.localhost")]);
                    let leaf = pki::Certificate::chain_from_pem(chain.as_bytes())
                        .unwrap()
                        .remove(0);
                    serials.lock().unwrap().push(leaf.serial_hex());
                }
            });
        }
    });
    let mut serials = serials.into_inner().unwrap();
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 8, "{serials:?}");
    // An account made through one server is known to the other.
    let mut b = client(&two, AccountAlg::Es256);
    b.key = a.key;
    let found = b.post(
        &b.url("newAccount"),
        Some(&json!({ "onlyReturnExisting": true })),
    );
    assert_eq!(found.status, 200, "{found:?}");
}

/// The PEM chain's certificates, leaf first.
fn chain_certs(chain: &str) -> Vec<pki::Certificate> {
    pki::Certificate::chain_from_pem(chain.as_bytes()).unwrap()
}

#[test]
fn an_intermediate_with_name_constraints_issues_within_them() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let root = pki::Ca::load_or_create(dir.path().join("ca"), &pki::CaParams::new(), None)
        .unwrap()
        .into_ca();
    let constraint = pki::NameConstraint::parse("team.localhost").unwrap();
    let inter_dir = dir.path().join("inter");
    root.issue_intermediate(&pki::CaParams::new().permit(constraint))
        .unwrap()
        .write_to(&inter_dir, None)
        .unwrap();
    // The intermediate may not issue for localhost: the endpoint's own
    // certificate comes from the root, as a team would set it up.
    let endpoint = root
        .issue(&pki::CertParams::new(["localhost"]).unwrap())
        .unwrap();
    let (cert, key) = (
        dir.path().join("endpoint.pem"),
        dir.path().join("endpoint-key.pem"),
    );
    endpoint
        .write_pem(&cert, &key, None, pki::Overwrite::Replace)
        .unwrap();
    let acme = AcmeServer::start_with(
        Peer::Ours,
        dir.path(),
        &dns,
        &[
            "--ca-dir",
            path_str(&inter_dir),
            "--cert",
            path_str(&cert),
            "--key",
            path_str(&key),
        ],
    );
    let mut c = client(&acme, AccountAlg::Es256);
    c.register();
    c.post(
        &c.url("newOrder"),
        Some(&json!({"identifiers": [{"type": "dns", "value": "other.localhost"}]})),
    )
    .assert_problem("rejectedIdentifier", "the CA may not issue for it");

    let chain = issue(&c, &dns, &["a.team.localhost"]);
    let certs = chain_certs(&chain);
    assert_eq!(certs.len(), 2, "leaf and intermediate, no root: {chain}");
    assert!(certs[1].is_ca() && !certs[1].is_self_issued(), "{chain}");
    let leaf = dir.path().join("leaf.pem");
    let untrusted = dir.path().join("untrusted.pem");
    e2e::write_file(&leaf, certs[0].to_pem().unwrap());
    e2e::write_file(&untrusted, certs[1].to_pem().unwrap());
    openssl(["verify", "-x509_strict", "-CAfile"])
        .arg(acme.endpoint_ca())
        .arg("-untrusted")
        .arg(&untrusted)
        .arg(&leaf)
        .assert_success()
        .assert_stdout_contains(": OK");

    // The setup page and the root downloads give the root, not the intermediate.
    let base = acme.directory().trim_end_matches("/directory").to_owned();
    let get = |path: &str| {
        e2e::curl()
            .arg("--cacert")
            .arg(acme.endpoint_ca())
            .arg(format!("{base}{path}"))
            .assert_success()
    };
    let root_pem = String::from_utf8(root.root().to_pem().unwrap()).unwrap();
    assert_eq!(get("/root.pem").stdout, root_pem);
    let der = dir.path().join("root.der");
    e2e::curl()
        .arg("--cacert")
        .arg(acme.endpoint_ca())
        .arg("--output")
        .arg(&der)
        .arg(format!("{base}/root.der"))
        .assert_success();
    assert_eq!(e2e::read_file(&der), root.root().to_der().unwrap());
    let page = get("").stdout;
    let bundle = openssl::base64::encode_block(root_pem.as_bytes()).replace('\n', "");
    for needle in [
        acme.directory().as_str(),
        "REQUESTS_CA_BUNDLE=dev-root.pem certbot",
        "LEGO_CA_CERTIFICATES=dev-root.pem lego",
        "acme_ca_root dev-root.pem",
        "caServer:",
        &format!("caBundle: {bundle}"),
    ] {
        assert!(page.contains(needle), "the /acme page lacks {needle:?}");
    }
}

#[test]
fn an_ip_identifier_by_http_01_with_the_lifetime_asked_for() {
    if !tools() || !require_tools(&["python3"]) {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start_with(Peer::Ours, dir.path(), &dns, &["--acme-days", "3"]);
    let webroot = dir.path().join("www");
    let challenges = webroot.join(".well-known").join("acme-challenge");
    std::fs::create_dir_all(&challenges).unwrap();
    let _web = acme.serve_webroot(&webroot);
    let mut c = client(&acme, AccountAlg::Es256);
    c.register();
    let reply = c.post(
        &c.url("newOrder"),
        Some(&json!({"identifiers": [{"type": "ip", "value": "127.0.0.1"}]})),
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    let url = reply.header("location").unwrap().to_owned();
    let order = reply.json();
    let authz_url = order["authorizations"][0].as_str().unwrap();
    let authz = c.post(authz_url, None).json();
    let types: Vec<&str> = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ch| ch["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["http-01", "tls-alpn-01"],
        "no dns-01 for an IP (RFC 8738)"
    );
    let challenge = authz["challenges"][0].clone();
    let token = challenge["token"].as_str().unwrap();
    e2e::write_file(
        &challenges.join(token),
        format!("{token}.{}", c.key.thumbprint()),
    );
    let answered = c.post(challenge["url"].as_str().unwrap(), Some(&json!({})));
    assert_eq!(answered.status, 200, "{answered:?}");
    assert_eq!(c.poll(authz_url)["status"], "valid");
    let chain = finalize(&c, &url, &order, &["127.0.0.1"]);
    let leaf = &chain_certs(&chain)[0];
    assert_eq!(leaf.subject_alt_names()[0].to_string(), "127.0.0.1");
    let life = leaf.not_after().duration_since(leaf.not_before()).unwrap();
    let days = life.as_secs_f64() / 86_400.0;
    assert!(
        (3.0..3.1).contains(&days),
        "asked for 3 days, got {days:.3}"
    );
    let file = dir.path().join("ip.pem");
    e2e::write_file(&file, &chain);
    openssl([
        "verify",
        "-x509_strict",
        "-verify_ip",
        "127.0.0.1",
        "-CAfile",
    ])
    .arg(acme.endpoint_ca())
    .arg(&file)
    .assert_success();
}

#[test]
fn bad_acme_settings_stop_the_start_with_a_reason() {
    let dir = tempdir();
    let refused = |args: &[&str], says: &str| {
        let out = e2e::ActixHttps::new(dir.path()).args(args).refused();
        assert!(out.stderr.contains(says), "{args:?}: {out}");
    };
    refused(&["--acme", "--acme-days", "0"], "at least 1 day");
    refused(
        &["--acme", "--acme-allow", "10.0.0.0/40"],
        "--acme-allow \"10.0.0.0/40\"",
    );
    refused(&["--acme", "--acme-eab", "team"], "write KEYID=FILE");
    let short = dir.path().join("short.key");
    e2e::write_file(&short, "c2hvcnQ");
    refused(
        &[
            "--acme",
            "--acme-eab",
            &format!("team={}", path_str(&short)),
        ],
        "the MAC key is 5 bytes",
    );
    refused(&["--acme", "--http"], "cannot be used with");
    // With its own certificate the server needs no CA, but --acme does.
    let identity = pki::self_signed(&pki::CertParams::new(["localhost"]).unwrap()).unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    identity
        .write_pem(&cert, &key, None, pki::Overwrite::Replace)
        .unwrap();
    let missing = dir.path().join("no-ca");
    let out = e2e::ActixHttps::new(dir.path())
        .args(["--acme", "--ca-dir", path_str(&missing)])
        .args(["--cert", path_str(&cert), "--key", path_str(&key)])
        .refused();
    assert!(
        out.stderr
            .contains(&format!("the CA in {}: there is no CA", missing.display()))
            && out.stderr.matches("there is no CA").count() == 1,
        "{out}"
    );
}

/// The banner's lego command, pasted into a shell in an empty directory,
/// gets a certificate.
#[test]
fn the_banners_lego_command_works_as_printed() {
    if !tools() || !require_tools(&["lego", "sh"]) {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(Peer::Ours, dir.path(), &dns);
    let banner = acme.server().log();
    let lines: Vec<&str> = banner.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "lego:")
        .unwrap_or_else(|| panic!("no lego setup in the banner:\n{banner}"));
    let command = lines[start + 1..]
        .iter()
        .map(|l| l.trim())
        .take_while(|l| !l.ends_with(':'))
        .collect::<Vec<_>>()
        .join("\n");
    let work = dir.path().join("pasted");
    std::fs::create_dir_all(&work).unwrap();
    TestCommand::new("sh")
        .args(["-c", &command])
        .current_dir(&work)
        .timeout(std::time::Duration::from_secs(60))
        .assert_success();
    let issued = work.join(".lego/certificates/app.localhost.crt");
    openssl(["verify", "-x509_strict", "-CAfile"])
        .arg(acme.endpoint_ca())
        .arg(&issued)
        .assert_success();
}

#[test]
fn a_certificates_own_key_revokes_it_and_no_other_key_does() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(Peer::Ours, dir.path(), &dns);
    let mut owner = client(&acme, AccountAlg::Es256);
    owner.register();
    let (url, order) = owner.order(&["keyed.localhost"]);
    authorize(&owner, &dns, &order);
    let (chain, key) = finalize_with_key(&owner, &url, &order, &["keyed.localhost"]);
    let leaf = chain_certs(&chain).remove(0);
    let revoke = json!({ "certificate": b64u(leaf.to_der().unwrap()) });
    // A stranger's key, sent as jwk, is not the certificate's.
    let stranger = client(&acme, AccountAlg::Es256);
    stranger
        .post(&owner.url("revokeCert"), Some(&revoke))
        .assert_problem("unauthorized", "the certificate's own key");
    let mut holder = client(&acme, AccountAlg::Es256);
    holder.key = e2e::AccountKeyPair::from_p256(key.as_pkey());
    let ok = holder.post(&owner.url("revokeCert"), Some(&revoke));
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(acme.is_revoked(&leaf.serial_hex()));
}

#[test]
fn contacts_authorization_deactivation_wildcards_and_retry_after() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(Peer::Ours, dir.path(), &dns);
    let mut c = client(&acme, AccountAlg::Es256);
    c.register();
    let kid = c.kid.clone().unwrap();
    let updated = c.post(
        &kid,
        Some(&json!({ "contact": ["mailto:ops@example.com"] })),
    );
    assert_eq!(
        updated.json()["contact"],
        json!(["mailto:ops@example.com"]),
        "{updated:?}"
    );
    c.post(&kid, Some(&json!({ "contact": ["tel:+15555550100"] })))
        .assert_problem("unsupportedContact", "tel:+15555550100");

    // A wildcard is offered dns-01 only (RFC 8555 §7.1.3).
    let (_, wild) = c.order(&["*.w.localhost"]);
    let authz = c.post(wild["authorizations"][0].as_str().unwrap(), None);
    let doc = authz.json();
    assert_eq!(doc["wildcard"], true, "{doc}");
    assert_eq!(doc["identifier"]["value"], "w.localhost", "{doc}");
    let types: Vec<&str> = doc["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ch| ch["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["dns-01"]);
    // Pending: the client is told when to ask again.
    assert_eq!(authz.header("retry-after"), Some("1"), "{authz:?}");

    // A deactivated authorization makes its order invalid.
    let (url, order) = c.order(&["off.localhost"]);
    let authz_url = order["authorizations"][0].as_str().unwrap();
    let off = c.post(authz_url, Some(&json!({ "status": "deactivated" })));
    assert_eq!(off.json()["status"], "deactivated", "{off:?}");
    assert_eq!(c.post(&url, None).json()["status"], "invalid");
}

#[test]
fn a_certificate_never_outlives_its_ca() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let ca = pki::Ca::create_in(
        dir.path().join("ca"),
        &pki::CaParams::new().valid_for_days(2),
        None,
    )
    .unwrap();
    let acme = AcmeServer::start_with(Peer::Ours, dir.path(), &dns, &["--acme-days", "30"]);
    let mut c = client(&acme, AccountAlg::Es256);
    c.register();
    let chain = issue(&c, &dns, &["short.localhost"]);
    let leaf = chain_certs(&chain).remove(0);
    assert_eq!(leaf.not_after(), ca.certificate().not_after());
}
