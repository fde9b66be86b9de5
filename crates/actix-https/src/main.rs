//! `actix-https`: serves HTTPS on localhost with a certificate the local
//! development CA issued, with no arguments; plain HTTP, mutual TLS, SNI,
//! hot reload and the rest through flags (each also an environment variable).
#![allow(clippy::print_stderr)]

mod defaults;
mod routes;

/// `println!` that ignores a closed stdout (`actix-https | head -1`), which
/// must not bring the server down.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use actix_https::{
    ClientAuth, ClientVerification, IdentitySource, ReloadEvent, TlsProfile, TlsServer,
    TlsServerBuilder,
};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{Condition, DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpResponse, HttpServer};
use anyhow::{Context as _, Result, bail};
use clap::{Parser, ValueEnum};
use pki::Passphrase;

/// mimalloc rather than glibc's malloc: actix-web and the proxy allocate and free
/// many small objects per request (headers, futures, buffers), and glibc's
/// malloc was 7% of the proxy's CPU time; with mimalloc the proxy answered
/// about 10% more requests per CPU-second (`cargo xtask bench proxy`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// HTTPS (or plain HTTP, or mutual TLS) for local development.
#[derive(Debug, Parser)]
#[command(name = "actix-https", version, max_term_width = 100)]
struct Args {
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long, env = "ACTIX_HTTPS_HTTP", conflicts_with_all = ["cert", "adhoc", "client_ca"])]
    http: bool,
    /// The certificate file (PEM; leaf first, then intermediates). Default:
    /// one for localhost, 127.0.0.1 and ::1 from the local CA.
    #[arg(long, env = "ACTIX_HTTPS_CERT", value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key of --cert (PEM or DER, encrypted or not).
    #[arg(long, env = "ACTIX_HTTPS_KEY", value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// A file whose first line is the pass phrase of an encrypted --key
    /// (else $ACTIX_HTTPS_KEY_PASSPHRASE, else a prompt on a terminal).
    #[arg(long, env = "ACTIX_HTTPS_KEY_PASSPHRASE_FILE", value_name = "FILE")]
    key_passphrase_file: Option<PathBuf>,
    /// An ephemeral self-signed certificate, new at every start (like Flask's
    /// `adhoc`); no client trusts it.
    #[arg(long, env = "ACTIX_HTTPS_ADHOC", conflicts_with = "cert")]
    adhoc: bool,
    /// Verify client certificates against the CA(s) in this PEM file (mutual TLS).
    #[arg(long, env = "ACTIX_HTTPS_CLIENT_CA", value_name = "FILE")]
    client_ca: Option<PathBuf>,
    /// Whether clients must present a certificate (default: required).
    #[arg(
        long,
        env = "ACTIX_HTTPS_CLIENT_AUTH",
        value_enum,
        requires = "client_ca"
    )]
    client_auth: Option<ClientAuthArg>,
    /// Refuse client certificates this CRL (PEM or DER) revokes.
    #[arg(
        long,
        env = "ACTIX_HTTPS_CRL",
        value_name = "FILE",
        requires = "client_ca"
    )]
    crl: Option<PathBuf>,
    /// Another certificate for clients asking for HOST (SNI): HOST=CERT,KEY.
    /// HOST may be a wildcard (*.app.test). Repeatable; ';'-separated in the
    /// environment variable.
    #[arg(
        long = "sni",
        env = "ACTIX_HTTPS_SNI",
        value_name = "HOST=CERT,KEY",
        value_delimiter = ';'
    )]
    sni: Vec<String>,
    /// TLS versions and ciphers: intermediate (TLS 1.2 and 1.3) or modern (1.3 only).
    #[arg(long, env = "ACTIX_HTTPS_TLS_PROFILE", value_enum, default_value_t = ProfileArg::Intermediate)]
    tls_profile: ProfileArg,
    /// Send Strict-Transport-Security (browsers then refuse plain HTTP for
    /// two years, Mozilla's recommended max-age).
    #[arg(long, env = "ACTIX_HTTPS_HSTS")]
    hsts: bool,
    /// Also listen for plain HTTP on this port and redirect it to HTTPS.
    #[arg(long, env = "ACTIX_HTTPS_REDIRECT_HTTP", value_name = "PORT")]
    redirect_http: Option<u16>,
    /// Address to listen on (repeatable; default 127.0.0.1 and [::1], port
    /// 8443, or 8080 with --http).
    #[arg(
        long = "bind",
        env = "ACTIX_HTTPS_BIND",
        value_name = "ADDR",
        value_delimiter = ','
    )]
    bind: Vec<SocketAddr>,
    /// Worker threads (default: one per core).
    #[arg(long, env = "ACTIX_HTTPS_WORKERS", value_name = "N")]
    workers: Option<usize>,
    /// TLS handshakes in progress at once, per worker; connections past it
    /// wait in the listen queue. A client that connects and sends nothing
    /// holds one until --handshake-timeout.
    #[arg(
        long,
        env = "ACTIX_HTTPS_MAX_HANDSHAKES",
        value_name = "N",
        default_value_t = DEFAULT_MAX_HANDSHAKES,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    max_handshakes: u32,
    /// Seconds a client may take to finish its TLS handshake before the
    /// connection is closed.
    #[arg(
        long,
        env = "ACTIX_HTTPS_HANDSHAKE_TIMEOUT",
        value_name = "SECS",
        default_value_t = DEFAULT_HANDSHAKE_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    handshake_timeout: u64,
    /// Print one line per request.
    #[arg(long, env = "ACTIX_HTTPS_LOG")]
    log: bool,
    /// Serve the files in DIR at URL prefix PATH (default /): index.html,
    /// directory listings, ETag, Range, precompressed .br/.gz siblings;
    /// hidden files are refused. Repeatable (the longest PATH wins);
    /// ';'-separated in the environment variable.
    #[arg(
        long = "static",
        env = "ACTIX_HTTPS_STATIC",
        value_name = "[PATH=]DIR",
        value_delimiter = ';'
    )]
    static_dirs: Vec<String>,
    /// Forward requests under PATH (default /) to your app at URL
    /// (http://127.0.0.1:5000): Host kept, X-Forwarded-* set, WebSockets,
    /// streaming, no response timeout; with --client-ca the verified client
    /// certificate goes along as X-Forwarded-Client-Cert. Repeatable (the
    /// longest PATH wins); ';'-separated in the environment variable.
    #[arg(
        long = "proxy",
        env = "ACTIX_HTTPS_PROXY",
        value_name = "[PATH=]URL",
        value_delimiter = ';'
    )]
    proxies: Vec<String>,
    /// The local CA directory (default: $CAROOT, else $XDG_DATA_HOME/pki, else ~/.local/share/pki).
    #[arg(long, env = "ACTIX_HTTPS_CA_DIR", value_name = "DIR")]
    ca_dir: Option<PathBuf>,
    /// Serve an ACME (RFC 8555) directory at /acme/directory, issuing from
    /// the local CA (--ca-dir): certbot, lego, Caddy and cert-manager get
    /// certificates from it. The setup for each is at /acme.
    #[arg(long, env = "ACTIX_HTTPS_ACME", conflicts_with = "http")]
    acme: bool,
    /// Lifetime of ACME certificates, in days (never past the CA's end).
    #[arg(long, env = "ACTIX_HTTPS_ACME_DAYS", value_name = "DAYS", default_value_t = pki_acme::DEFAULT_DAYS)]
    acme_days: u32,
    /// Port http-01 validation connects to.
    #[arg(
        long,
        env = "ACTIX_HTTPS_ACME_HTTP_PORT",
        value_name = "PORT",
        default_value_t = 80
    )]
    acme_http_port: u16,
    /// Port tls-alpn-01 validation connects to.
    #[arg(
        long,
        env = "ACTIX_HTTPS_ACME_TLS_PORT",
        value_name = "PORT",
        default_value_t = 443
    )]
    acme_tls_port: u16,
    /// DNS server validation asks (for dns-01 and for names), instead of
    /// the system's. `*.localhost` is loopback without asking.
    #[arg(long, env = "ACTIX_HTTPS_ACME_RESOLVER", value_name = "HOST:PORT")]
    acme_resolver: Option<SocketAddr>,
    /// Issue only for names under this DNS suffix or addresses in this
    /// network (team.test, 10.0.0.0/8). Repeatable; ';'-separated in the
    /// environment variable.
    #[arg(
        long = "acme-allow",
        env = "ACTIX_HTTPS_ACME_ALLOW",
        value_name = "SUFFIX|CIDR",
        value_delimiter = ';'
    )]
    acme_allow: Vec<String>,
    /// Require external account binding: KEYID=FILE, the file holding the
    /// base64url MAC key given to the team (certbot --eab-kid/--eab-hmac-key).
    /// Repeatable.
    #[arg(
        long = "acme-eab",
        env = "ACTIX_HTTPS_ACME_EAB",
        value_name = "KEYID=FILE",
        value_delimiter = ';'
    )]
    acme_eab: Vec<String>,
    /// How often to check the certificate files for changes, in milliseconds.
    #[arg(
        long,
        env = "ACTIX_HTTPS_RELOAD_MS",
        value_name = "MS",
        default_value_t = 1000
    )]
    reload_ms: u64,
}

/// Handshakes in flight per worker. actix-tls's default of 256, each slot
/// held up to its 3 s timeout, let 600 idle connections stall every new
/// client for seconds. A pending handshake costs what an idle keep-alive
/// connection costs (a socket and a small OpenSSL object), and a worker
/// keeps up to 25,000 of those, so the cap sits far above what a crowd of
/// idle or slow clients can fill; the CPU, not this cap, limits real
/// handshakes.
const DEFAULT_MAX_HANDSHAKES: u32 = 25_000;

/// Seconds to finish a handshake. A real client on loopback needs
/// milliseconds; 10 s (actix's default is 3) leaves room for a slow machine
/// or a debugger and still frees the slot of one that never speaks.
const DEFAULT_HANDSHAKE_TIMEOUT_SECS: u64 = 10;

/// Where `--acme` serves: the directory is `/acme/directory`.
const ACME_PATH: &str = "/acme";

/// HSTS as Mozilla's server-side TLS guidelines give it: two years.
const HSTS: &str = "max-age=63072000; includeSubDomains";

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ClientAuthArg {
    Required,
    Optional,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProfileArg {
    Intermediate,
    Modern,
}

fn main() -> ExitCode {
    // Test support: stop at a named step (`acme-certificate-recorded`) to be killed there.
    if let Some(wanted) = std::env::var_os("PKI_TEST_PAUSE_AT") {
        pki::fs::pause_at(wanted.to_string_lossy().into_owned());
    }
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<()> {
    // Everything that can fail on input happens here, before anything binds.
    let plan = Plan::from_args(&args)?;
    raise_open_file_limit();
    let system = actix_web::rt::System::new();
    system.block_on(serve(args, plan))
}

/// What start-up worked out: the TLS server (None for --http), what is
/// served where, what to print.
struct Plan {
    tls: Option<TlsServer>,
    acme: Option<pki_acme::Acme>,
    binds: Vec<SocketAddr>,
    routes: routes::Routes,
    notes: Vec<String>,
}

impl Plan {
    fn from_args(args: &Args) -> Result<Self> {
        let default_port = if args.http { 8080 } else { 8443 };
        let binds = if args.bind.is_empty() {
            vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), default_port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), default_port),
            ]
        } else {
            args.bind.clone()
        };
        let routes = routes::Routes::from_args(&args.static_dirs, &args.proxies)?;
        if args.http {
            return Ok(Plan {
                tls: None,
                acme: None,
                binds,
                routes,
                notes: vec!["plain HTTP: nothing is encrypted".to_owned()],
            });
        }
        let mut notes = Vec::new();
        let source = if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
            let passphrase = key_passphrase(args, key)?;
            // Loaded once now, so a bad pair stops the start with its file names.
            pki::Identity::read(cert, key, passphrase.as_deref())?;
            IdentitySource::Files {
                cert: cert.clone(),
                key: key.clone(),
                passphrase,
            }
        } else if args.adhoc {
            let identity =
                pki::self_signed(&pki::CertParams::new(["localhost", "127.0.0.1", "::1"])?)?;
            eprintln!(
                "warning: --adhoc: serving a self-signed certificate made just now; no browser or \
                 client trusts it, and it changes at every start. Drop --adhoc to use the local CA."
            );
            notes.push("certificate: ephemeral, self-signed (untrusted)".to_owned());
            IdentitySource::Fixed(identity)
        } else {
            let port = binds.first().map_or(8443, SocketAddr::port);
            let local = defaults::local_identity(
                args.ca_dir.as_deref(),
                &format!("https://localhost:{port}{}", routes.example_path()),
            )?;
            notes.extend(local.notes);
            IdentitySource::Files {
                cert: local.cert,
                key: local.key,
                passphrase: None,
            }
        };
        let profile = match args.tls_profile {
            ProfileArg::Intermediate => TlsProfile::Intermediate,
            ProfileArg::Modern => TlsProfile::Modern,
        };
        let mut builder = TlsServerBuilder::new(source).profile(profile);
        if let Some(ca) = &args.client_ca {
            let mode = match args.client_auth.unwrap_or(ClientAuthArg::Required) {
                ClientAuthArg::Required => ClientAuth::Required,
                ClientAuthArg::Optional => ClientAuth::Optional,
            };
            let mut verification = ClientVerification::from_file(mode, ca)?;
            if let Some(crl) = &args.crl {
                verification = verification.crl_file(crl)?;
            }
            builder = builder.client_auth(verification);
        }
        for entry in &args.sni {
            let (host, cert, key) = parse_sni(entry)?;
            let passphrase = key_passphrase(args, &key)?;
            pki::Identity::read(&cert, &key, passphrase.as_deref())
                .with_context(|| format!("--sni {entry}"))?;
            builder = builder.sni(
                &host,
                IdentitySource::Files {
                    cert,
                    key,
                    passphrase,
                },
            )?;
        }
        let builder =
            builder.reload_every(Duration::from_millis(args.reload_ms.max(50)), report_reload);
        // After the identity: the default one creates the CA on first run.
        let acme = if args.acme {
            Some(acme_server(args)?)
        } else {
            None
        };
        Ok(Plan {
            tls: Some(builder.build()?),
            acme,
            binds,
            routes,
            notes,
        })
    }
}

/// The ACME server of `--acme`, over the local CA.
fn acme_server(args: &Args) -> Result<pki_acme::Acme> {
    let dir = defaults::ca_dir_or_default(args.ca_dir.as_deref())?;
    let mut builder = pki_acme::Acme::builder(&dir)
        .days(args.acme_days)
        .validator(pki_acme::Validator {
            http_port: args.acme_http_port,
            tls_port: args.acme_tls_port,
            resolver: args.acme_resolver,
        });
    for entry in &args.acme_allow {
        let allow = entry
            .parse::<pki_acme::Allow>()
            .map_err(|why| anyhow::anyhow!("--acme-allow {why}"))?;
        builder = builder.allow(allow);
    }
    for entry in &args.acme_eab {
        let Some((kid, file)) = entry.split_once('=') else {
            bail!("--acme-eab {entry:?}: write KEYID=FILE, the file holding the base64url MAC key");
        };
        let text = pki::fs::read_secret(std::path::Path::new(file))
            .with_context(|| format!("--acme-eab {kid}"))?;
        let text = String::from_utf8_lossy(&text);
        let key = pki_acme::jws::unb64(text.trim().trim_end_matches('='), "the MAC key").map_err(
            |p| {
                anyhow::anyhow!(
                    "--acme-eab {kid}: {file}: {}; write the key as base64url",
                    p.detail
                )
            },
        )?;
        if key.len() < 16 {
            bail!(
                "--acme-eab {kid}: {file}: the MAC key is {} bytes; give at least 16 random bytes (openssl rand -base64 32 | tr '+/' '-_')",
                key.len()
            );
        }
        builder = builder.external_account(kid, key);
    }
    builder.build().context("--acme")
}

/// Each connection is a file descriptor, and the usual soft limit of 1,024
/// would stall the server long before its connection caps; raised to the
/// hard limit, as nginx (`worker_rlimit_nofile`) and Go's runtime do.
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current.is_some() && limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            eprintln!("warning: could not raise the open-file limit to its maximum: {e}");
        }
    }
}

fn report_reload(event: &ReloadEvent) {
    match event {
        ReloadEvent::Reloaded { cert, certificate } => say!(
            "reloaded {}: names {}, expires {}; new connections use it",
            cert.display(),
            names(certificate),
            pki::time::format_time(certificate.not_after())
        ),
        ReloadEvent::CrlReloaded { crl, problem } => {
            say!(
                "reloaded the CRL {}; new connections are checked against it, and sessions from \
                 before it are not resumed",
                crl.display()
            );
            if let Some(problem) = problem {
                eprintln!("warning: {problem}");
            }
        }
        ReloadEvent::ClientCasReloaded { file } => say!(
            "reloaded the client CAs {}; new connections are verified against them, and \
             sessions from before are not resumed",
            file.display()
        ),
        ReloadEvent::Failed { cert, error } => eprintln!(
            "error: {} changed but cannot be used ({error}); still serving the previous certificate and CRL",
            cert.display()
        ),
    }
}

/// `HOST=CERT,KEY`
fn parse_sni(entry: &str) -> Result<(String, PathBuf, PathBuf)> {
    let Some((host, files)) = entry.split_once('=') else {
        bail!("--sni {entry:?}: write HOST=CERT,KEY (e.g. api.test=api.pem,api-key.pem)");
    };
    let Some((cert, key)) = files.split_once(',') else {
        bail!(
            "--sni {entry:?}: after {host}= give the certificate and key files separated by a comma"
        );
    };
    if host.is_empty() || cert.is_empty() || key.is_empty() {
        bail!("--sni {entry:?}: write HOST=CERT,KEY with all three parts");
    }
    Ok((host.to_owned(), PathBuf::from(cert), PathBuf::from(key)))
}

/// The pass phrase of `key` if it is encrypted: from the file flag, the
/// environment, or a terminal prompt; a clear error otherwise.
fn key_passphrase(args: &Args, key: &std::path::Path) -> Result<Option<Arc<Passphrase>>> {
    if let Some(file) = &args.key_passphrase_file {
        let p = Passphrase::from_file_contents(&pki::fs::read_secret(file)?);
        return Ok(Some(Arc::new(p)));
    }
    match pki::PrivateKey::read(key, None) {
        Err(pki::Error::PassphraseRequired { .. }) => {}
        // Readable without one (or unreadable: reported with the pair later).
        _ => return Ok(None),
    }
    if let Some(value) = std::env::var_os("ACTIX_HTTPS_KEY_PASSPHRASE") {
        return Ok(Some(Arc::new(Passphrase::new(value.into_encoded_bytes()))));
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "the key {} is encrypted; give its pass phrase with --key-passphrase-file FILE or \
             $ACTIX_HTTPS_KEY_PASSPHRASE, or start the server on a terminal to be asked",
            key.display()
        );
    }
    let answer = rpassword::prompt_password(format!("Pass phrase for {}: ", key.display()))
        .context("failed to read the pass phrase from the terminal")?;
    Ok(Some(Arc::new(Passphrase::from(answer))))
}

async fn serve(args: Args, plan: Plan) -> Result<()> {
    let hsts = args.hsts && plan.tls.is_some();
    let log = args.log;
    let redirect_port = args.redirect_http.filter(|_| plan.tls.is_some());
    let https_port = plan.binds.first().map_or(8443, SocketAddr::port);
    let routes = Arc::new(plan.routes.clone());
    let acme = plan.acme.clone();
    let mut server = HttpServer::new(move || {
        let routes = Arc::clone(&routes);
        let acme = acme.clone();
        App::new()
            .wrap(Condition::new(
                hsts,
                DefaultHeaders::new().add((header::STRICT_TRANSPORT_SECURITY, HSTS)),
            ))
            .wrap(Condition::new(
                redirect_port.is_some(),
                from_fn(move |req, next| redirect(req, next, https_port)),
            ))
            .wrap(Condition::new(log, from_fn(log_request)))
            .configure(|cfg| {
                // Before the routes, so a proxy at / does not take /acme.
                if let Some(acme) = &acme {
                    cfg.service(acme.scope(ACME_PATH));
                }
                routes.configure(cfg);
            })
    })
    .on_connect(actix_https::on_connect)
    // Small writes go out at once, as nginx's `tcp_nodelay on` does; with
    // Nagle's algorithm a second small write (an HTTP/2 frame after the
    // SETTINGS, a response after its headers) waits for the client's delayed
    // ACK, up to 40 ms.
    .tcp_nodelay(true)
    .max_connection_rate(args.max_handshakes as usize)
    .tls_handshake_timeout(Duration::from_secs(args.handshake_timeout))
    .shutdown_timeout(5);
    if let Some(n) = args.workers {
        server = server.workers(n);
    }
    // Each address is tried first with a plain socket, so a port in use is
    // reported with its address; actix-web then binds it with its own listen
    // backlog (2048; the standard library's 128 drops SYNs under bursts).
    let mut bound = Vec::new();
    for addr in &plan.binds {
        if let Err(e) = std::net::TcpListener::bind(addr) {
            // [::1] is missing on hosts without IPv6; that alone is no reason to stop.
            if args.bind.is_empty() && addr.is_ipv6() {
                eprintln!("warning: not listening on {addr}: {e}");
                continue;
            }
            return Err(e).with_context(|| {
                format!("cannot listen on {addr}; is another server using it? choose another address with --bind")
            });
        }
        server = match &plan.tls {
            Some(tls) => server.bind_openssl(addr, tls.acceptor()?),
            None => server.bind(addr),
        }
        .with_context(|| format!("cannot listen on {addr}"))?;
        bound.push(*addr);
    }
    if let Some(port) = redirect_port {
        for addr in &bound {
            let plain = SocketAddr::new(addr.ip(), port);
            server = server.bind(plain).with_context(|| {
                format!(
                    "cannot listen for plain HTTP on {plain} (--redirect-http); choose another port"
                )
            })?;
        }
    }
    print_banner(&plan, &bound, redirect_port);
    server
        .run()
        .await
        .context("the server stopped with an error")?;
    say!("stopped");
    Ok(())
}

/// The start-up report: where, with what, and a command that works as printed.
fn print_banner(plan: &Plan, bound: &[SocketAddr], redirect_port: Option<u16>) {
    let scheme = if plan.tls.is_some() { "https" } else { "http" };
    let port = bound.first().map_or(8443, SocketAddr::port);
    let loopback_only = bound.iter().all(|a| a.ip().is_loopback());
    let host = if loopback_only {
        "localhost".to_owned()
    } else {
        match bound.first().map(SocketAddr::ip) {
            Some(IpAddr::V6(ip)) if !ip.is_unspecified() => format!("[{ip}]"),
            Some(ip) if !ip.is_unspecified() => ip.to_string(),
            _ => "localhost".to_owned(),
        }
    };
    let url = format!("{scheme}://{host}:{port}/");
    let addrs: Vec<String> = bound.iter().map(ToString::to_string).collect();
    say!("Serving {url} (listening on {})", addrs.join(", "));
    if let Some(tls) = &plan.tls {
        let cert = tls.default_certificate();
        let now = std::time::SystemTime::now();
        for c in
            std::iter::once(cert.clone()).chain(tls.sni_certificates().into_iter().map(|(_, c)| c))
        {
            if c.not_after() < now {
                eprintln!(
                    "warning: the certificate for {} expired on {}; clients will refuse it",
                    names(&c),
                    pki::time::format_time(c.not_after())
                );
            } else if c.not_before() > now {
                eprintln!(
                    "warning: the certificate for {} is not valid until {}; clients will refuse it",
                    names(&c),
                    pki::time::format_time(c.not_before())
                );
            }
        }
        say!(
            "  certificate: {} (expires {})",
            names(&cert),
            pki::time::format_time(cert.not_after())
        );
        for (pattern, cert) in tls.sni_certificates() {
            say!(
                "  for {pattern}: {} (expires {})",
                names(&cert),
                pki::time::format_time(cert.not_after())
            );
        }
        if tls.serves_self_signed_ca() {
            eprintln!(
                "warning: the certificate for {} is a self-signed CA certificate (CA:TRUE), as \
                 `openssl req -x509` makes by default; curl, Python and Chrome accept it when told \
                 to trust it, but Firefox refuses it (CA_CERT_USED_AS_END_ENTITY). `pki cert \
                 localhost` makes one your local CA vouches for, `pki self-signed localhost` a \
                 self-signed one without CA:TRUE",
                names(&cert)
            );
        }
        if let Some(problem) = tls.crl_problem() {
            eprintln!("warning: {problem}");
        }
        match tls.client_auth() {
            Some(ClientAuth::Required) => say!("  client certificates: required"),
            Some(ClientAuth::Optional) => say!("  client certificates: optional"),
            None => {}
        }
    }
    for line in plan.routes.describe(url.trim_end_matches('/')) {
        say!("  {line}");
    }
    if let Some(acme) = &plan.acme {
        let base = format!("{}{ACME_PATH}", url.trim_end_matches('/'));
        let directory = format!("{base}/directory");
        say!("  ACME directory: {directory}");
        say!(
            "    clients trust {} (also {base}/root.pem and {base}/root.der); every setup: {base}",
            acme.root_file().display()
        );
        for (client, setup) in acme.client_setups(&directory) {
            if client == "cert-manager" {
                say!("    cert-manager: a ClusterIssuer with caBundle filled in is on {base}");
                continue;
            }
            say!("    {client}:");
            for line in setup.lines() {
                say!("      {line}");
            }
        }
    }
    for note in &plan.notes {
        say!("  {note}");
    }
    if let Some(p) = redirect_port {
        say!("  plain HTTP on port {p} redirects here");
    }
    say!("Press Ctrl-C to stop.");
}

fn names(cert: &pki::Certificate) -> String {
    cert.subject_alt_names()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Answers plain-HTTP requests with a permanent redirect to HTTPS.
async fn redirect(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    https_port: u16,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let is_tls = req
        .conn_data::<actix_https::TlsInfo>()
        .is_some_and(actix_https::TlsInfo::is_tls);
    if is_tls {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    // The Host the client sent, never its X-Forwarded-Host (which actix's
    // ConnectionInfo would take): a redirect must not go where a header says.
    let host = actix_https::proxy::request_host(req.request());
    let bare = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => h.to_owned(),
        _ => host,
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let location = format!("https://{bare}:{https_port}{path}");
    let response = HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, location))
        .finish();
    Ok(req.into_response(response).map_into_right_body())
}

/// One line per request: client, method, path, status, time.
async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = std::time::Instant::now();
    let peer = req
        .peer_addr()
        .map_or_else(|| "-".to_owned(), |a| a.to_string());
    let line = format!("{} {} {:?}", req.method(), req.path(), req.version());
    let response = next.call(req).await?;
    say!(
        "{peer} \"{line}\" {} {:.1}ms",
        response.status().as_u16(),
        start.elapsed().as_secs_f64() * 1e3
    );
    Ok(response)
}
