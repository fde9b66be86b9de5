//! Real ACME clients (Debian's lego, certbot and dehydrated) obtain, renew
//! and revoke certificates from `actix-https --acme`, and the very same
//! client runs pass against Pebble, Let's Encrypt's test server. Every
//! certificate is checked by `openssl verify -x509_strict` and served by
//! `openssl s_server` to curl.

use std::path::Path;

use e2e::{
    AcmeServer, Dns, Peer, TestCommand, check_issued, path_str, require_tools, tempdir,
    write_executable,
};

fn tools(extra: &[&str]) -> bool {
    require_tools(&["pebble", "pebble-challtestsrv", "openssl", "curl"]) && require_tools(extra)
}

/// lego with the test's settings: the endpoint CA trusted through
/// LEGO_CA_CERTIFICATES, its files in `dir/lego`.
fn lego(acme: &AcmeServer, dir: &Path) -> TestCommand {
    let mut cmd = TestCommand::new("lego");
    cmd.env("LEGO_CA_CERTIFICATES", acme.endpoint_ca())
        .args(["--server", &acme.directory()])
        .args(["--accept-tos", "--email", "dev@example.com"])
        .arg("--path")
        .arg(dir.join("lego"));
    cmd
}

fn check_lego(acme: &AcmeServer, dir: &Path, name: &str) -> String {
    let file = name.replace('*', "_");
    let certs = dir.join("lego").join("certificates");
    check_issued(
        dir,
        &certs.join(format!("{file}.crt")),
        &certs.join(format!("{file}.issuer.crt")),
        &certs.join(format!("{file}.key")),
        &acme.issuing_root(),
        name,
    )
}

fn lego_http01_obtain_renew_revoke(peer: Peer) {
    if !tools(&["lego"]) {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(peer, dir.path(), &dns);
    let http = format!("127.0.0.1:{}", acme.http_port);
    let name = "app.localhost";
    lego(&acme, dir.path())
        .args(["--domains", name, "--http", "--http.port", &http, "run"])
        .assert_success();
    let first = check_lego(&acme, dir.path(), name);
    // --days far beyond any lifetime: renew now, for either server.
    lego(&acme, dir.path())
        .args(["--domains", name, "--http", "--http.port", &http])
        .args(["renew", "--days", "100000", "--no-random-sleep"])
        .assert_success();
    let second = check_lego(&acme, dir.path(), name);
    assert_ne!(first, second, "renewal must bring a new certificate");
    lego(&acme, dir.path())
        .args(["--domains", name, "revoke"])
        .assert_success();
    assert!(
        acme.is_revoked(&second),
        "{second} is not recorded as revoked"
    );
    assert!(!acme.is_revoked(&first), "{first} was never revoked");
}

#[test]
fn lego_http01_ours() {
    lego_http01_obtain_renew_revoke(Peer::Ours);
}

#[test]
fn lego_http01_pebble() {
    lego_http01_obtain_renew_revoke(Peer::Pebble);
}

fn lego_tls_alpn01(peer: Peer) {
    if !tools(&["lego"]) {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(peer, dir.path(), &dns);
    let name = "tls.localhost";
    lego(&acme, dir.path())
        .args(["--domains", name, "--tls", "--tls.port"])
        .arg(format!("127.0.0.1:{}", acme.tls_port))
        .arg("run")
        .assert_success();
    check_lego(&acme, dir.path(), name);
}

#[test]
fn lego_tls_alpn01_ours() {
    lego_tls_alpn01(Peer::Ours);
}

#[test]
fn lego_tls_alpn01_pebble() {
    lego_tls_alpn01(Peer::Pebble);
}

fn lego_dns01_wildcard(peer: Peer) {
    if !tools(&["lego"]) {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(peer, dir.path(), &dns);
    let hook = dns.hook(dir.path());
    let name = "*.wild.localhost";
    lego(&acme, dir.path())
        .env("EXEC_PATH", &hook)
        .env("EXEC_PROPAGATION_TIMEOUT", "10")
        .args(["--domains", name, "--dns", "exec", "--dns.disable-cp"])
        .args(["--dns.resolvers", &dns.addr(), "run"])
        .assert_success();
    check_lego(&acme, dir.path(), name);
}

#[test]
fn lego_dns01_wildcard_ours() {
    lego_dns01_wildcard(Peer::Ours);
}

#[test]
fn lego_dns01_wildcard_pebble() {
    lego_dns01_wildcard(Peer::Pebble);
}

/// certbot with its three directories in `dir/certbot`, trusting the
/// endpoint through REQUESTS_CA_BUNDLE.
fn certbot(acme: &AcmeServer, dir: &Path, verb: &str) -> TestCommand {
    let base = dir.join("certbot");
    let mut cmd = TestCommand::new("certbot");
    cmd.env("REQUESTS_CA_BUNDLE", acme.endpoint_ca())
        .arg(verb)
        .arg("--config-dir")
        .arg(base.join("conf"))
        .arg("--work-dir")
        .arg(base.join("work"))
        .arg("--logs-dir")
        .arg(base.join("logs"))
        .args(["--server", &acme.directory(), "--non-interactive"]);
    cmd
}

fn check_certbot(acme: &AcmeServer, dir: &Path, name: &str) -> String {
    let live = dir.join("certbot").join("conf").join("live").join(name);
    check_issued(
        dir,
        &live.join("cert.pem"),
        &live.join("chain.pem"),
        &live.join("privkey.pem"),
        &acme.issuing_root(),
        name,
    )
}

fn certbot_standalone(peer: Peer) {
    if !tools(&["certbot"]) {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(peer, dir.path(), &dns);
    let name = "certbot.localhost";
    let port = acme.http_port.to_string();
    certbot(&acme, dir.path(), "certonly")
        .args([
            "--standalone",
            "--http-01-port",
            &port,
            "--http-01-address",
            "127.0.0.1",
        ])
        .args(["-d", name, "--agree-tos", "-m", "dev@example.com"])
        .timeout(std::time::Duration::from_secs(90))
        .assert_success();
    let first = check_certbot(&acme, dir.path(), name);
    certbot(&acme, dir.path(), "renew")
        .args(["--force-renewal", "--no-random-sleep-on-renew"])
        .timeout(std::time::Duration::from_secs(90))
        .assert_success();
    let second = check_certbot(&acme, dir.path(), name);
    assert_ne!(first, second, "renewal must bring a new certificate");
    certbot(&acme, dir.path(), "revoke")
        .args(["--cert-name", name, "--no-delete-after-revoke"])
        .timeout(std::time::Duration::from_secs(90))
        .assert_success();
    assert!(
        acme.is_revoked(&second),
        "{second} is not recorded as revoked"
    );
}

#[test]
fn certbot_standalone_ours() {
    certbot_standalone(Peer::Ours);
}

#[test]
fn certbot_standalone_pebble() {
    certbot_standalone(Peer::Pebble);
}

fn certbot_manual_dns01(peer: Peer) {
    if !tools(&["certbot"]) {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(peer, dir.path(), &dns);
    let hook = dns.hook(dir.path());
    let auth = dir.path().join("certbot-auth.sh");
    write_executable(
        &auth,
        &format!(
            "#!/bin/sh\nexec '{}' present \"_acme-challenge.$CERTBOT_DOMAIN\" \"$CERTBOT_VALIDATION\"\n",
            path_str(&hook)
        ),
    );
    let cleanup = dir.path().join("certbot-cleanup.sh");
    write_executable(
        &cleanup,
        &format!(
            "#!/bin/sh\nexec '{}' cleanup \"_acme-challenge.$CERTBOT_DOMAIN\" \"$CERTBOT_VALIDATION\"\n",
            path_str(&hook)
        ),
    );
    let name = "manual.localhost";
    certbot(&acme, dir.path(), "certonly")
        .args(["--manual", "--preferred-challenges", "dns"])
        .arg("--manual-auth-hook")
        .arg(&auth)
        .arg("--manual-cleanup-hook")
        .arg(&cleanup)
        .args(["-d", name, "--agree-tos", "-m", "dev@example.com"])
        .timeout(std::time::Duration::from_secs(90))
        .assert_success();
    check_certbot(&acme, dir.path(), name);
}

#[test]
fn certbot_manual_dns01_ours() {
    certbot_manual_dns01(Peer::Ours);
}

#[test]
fn certbot_manual_dns01_pebble() {
    certbot_manual_dns01(Peer::Pebble);
}

/// dehydrated with a config in `dir/dehydrated`: http-01 through a
/// webroot that python's http.server serves on the validation port.
fn dehydrated_http01(peer: Peer) {
    if !tools(&["dehydrated", "python3"]) {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(peer, dir.path(), &dns);
    let base = dir.path().join("dehydrated");
    let webroot = dir.path().join("www");
    let wellknown = webroot.join(".well-known").join("acme-challenge");
    std::fs::create_dir_all(&wellknown).unwrap();
    std::fs::create_dir_all(&base).unwrap();
    let _web = acme.serve_webroot(&webroot);
    let config = base.join("config");
    let text = format!(
        "CA=\"{}\"\nBASEDIR=\"{}\"\nWELLKNOWN=\"{}\"\nCHALLENGETYPE=\"http-01\"\nCONTACT_EMAIL=\"dev@example.com\"\nCURL_OPTS=\"--cacert {}\"\nKEY_ALGO=\"prime256v1\"\n",
        acme.directory(),
        path_str(&base),
        path_str(&wellknown),
        path_str(&acme.endpoint_ca()),
    );
    pki::fs::write_atomic(
        &config,
        text.as_bytes(),
        pki::fs::Secrecy::Public,
        pki::Overwrite::Replace,
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut cmd = TestCommand::new("dehydrated");
        cmd.arg("--config").arg(&config).args(args);
        cmd.assert_success()
    };
    run(&["--register", "--accept-terms"]);
    let name = "dehydrated.localhost";
    run(&["--cron", "--domain", name]);
    let certs = base.join("certs").join(name);
    let root = acme.issuing_root();
    let leaf = certs.join("cert.pem");
    let chain = certs.join("chain.pem");
    let key = certs.join("privkey.pem");
    let first = check_issued(dir.path(), &leaf, &chain, &key, &root, name);
    // dehydrated names files by time to the second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    run(&["--cron", "--force", "--domain", name]);
    let second = check_issued(dir.path(), &leaf, &chain, &key, &root, name);
    assert_ne!(first, second, "renewal must bring a new certificate");
    run(&["--revoke", path_str(&leaf)]);
    assert!(
        acme.is_revoked(&second),
        "{second} is not recorded as revoked"
    );
}

#[test]
fn dehydrated_http01_ours() {
    dehydrated_http01(Peer::Ours);
}

#[test]
fn dehydrated_http01_pebble() {
    dehydrated_http01(Peer::Pebble);
}

/// Caddy with the setup the `/acme` page gives (`acme_ca` and
/// `acme_ca_root` in its global options) gets a certificate for its site
/// and serves it; the same Caddyfile against Pebble does too.
fn caddy_site(peer: Peer) {
    if !tools(&["caddy"]) {
        return;
    }
    let dir = tempdir();
    let dns = Dns::start();
    let acme = AcmeServer::start(peer, dir.path(), &dns);
    let home = dir.path().join("caddy");
    std::fs::create_dir_all(&home).unwrap();
    let name = "app.team.test";
    let caddyfile = home.join("Caddyfile");
    e2e::write_file(
        &caddyfile,
        format!(
            "{{\n  admin off\n  skip_install_trust\n  storage file_system {store}\n  \
             http_port {http}\n  https_port {https}\n  email dev@example.com\n  \
             acme_ca {directory}\n  acme_ca_root {root}\n}}\n\
             {name} {{\n  respond \"hello from caddy\"\n}}\n",
            store = path_str(&home),
            http = acme.http_port,
            https = acme.tls_port,
            directory = acme.directory(),
            root = path_str(&acme.endpoint_ca()),
        ),
    );
    let _caddy = e2e::Server::start_at(
        "caddy",
        std::net::SocketAddr::from(([127, 0, 0, 1], acme.tls_port)),
        "serving initial configuration",
        |_| {
            let mut cmd = std::process::Command::new("caddy");
            cmd.args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&caddyfile)
                .env("HOME", &home)
                .env("XDG_DATA_HOME", &home)
                .env("XDG_CONFIG_HOME", &home);
            cmd
        },
    );
    let root = acme.issuing_root();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = e2e::curl()
            .arg("--cacert")
            .arg(&root)
            .arg("--resolve")
            .arg(format!("{name}:{}:127.0.0.1", acme.tls_port))
            .arg(format!("https://{name}:{}/", acme.tls_port))
            .output();
        if out.status.success() {
            assert_eq!(out.stdout, "hello from caddy", "{out}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Caddy did not serve a certificate from {peer:?} within 30 s: {out}\n{}",
            _caddy.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

#[test]
fn caddy_site_ours() {
    caddy_site(Peer::Ours);
}

#[test]
fn caddy_site_pebble() {
    caddy_site(Peer::Pebble);
}
