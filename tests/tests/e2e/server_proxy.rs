//! `actix-https --proxy` in front of real apps (Flask on werkzeug's dev
//! server behind ProxyFix, as its docs say; Starlette under uvicorn),
//! judged by Python `requests`, curl (HTTP/1.1 and HTTP/2), `websockets`
//! over `wss://` and raw TLS sockets: what the app sees of the client, what
//! the client sees of the app, streaming both ways, WebSockets, the app
//! being down, and client certificates forwarded with mutual TLS.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{
    ActixHttps, Output, Server, app_python, apps_python_path, ca_cert, curl_to, free_port,
    has_ipv6_loopback, pki, python, read_text, require_python_modules, require_tools, url,
    write_file,
};

use crate::server_mtls::{NO_CERT, assert_client_refused};

/// What werkzeug prints once it listens.
const FLASK_READY: &str = "Running on";

/// curl, and Flask and requests for the apps' Python.
fn tools() -> bool {
    require_tools(&["curl"]) && require_python_modules(&["flask", "requests"])
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

/// `python3 -m flask --app proxy_app run` on `host:port`.
fn flask_command(host: &str, port: u16) -> Command {
    let mut cmd = Command::new(apps_python_path());
    cmd.current_dir(scripts())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-m", "flask", "--app", "proxy_app", "run", "--host", host])
        .arg("--port")
        .arg(port.to_string());
    cmd
}

/// The test app on a free port of 127.0.0.1.
fn flask() -> Server {
    Server::start(
        "flask",
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        FLASK_READY,
        |port| flask_command("127.0.0.1", port),
    )
}

/// `actix-https --proxy URL args…` in `dir`.
fn proxy_to(dir: &Path, upstream: &str, args: &[&str]) -> Server {
    ActixHttps::new(dir)
        .args(["--proxy", upstream])
        .args(args)
        .start()
}

/// `actix-https --proxy` in `dir` to `app`, listening on 127.0.0.1.
fn proxy_to_app(dir: &Path, app: &Server) -> Server {
    proxy_to(dir, &format!("http://127.0.0.1:{}", app.port()), &[])
}

/// Python `requests` GET (or POST with `data`) of `url`, verifying against
/// `ca`, with `headers`, redirects not followed: the status, then the body.
fn requests_get(url: &str, ca: &Path, headers: &[(&str, &str)]) -> Output {
    let headers: BTreeMap<&str, &str> = headers.iter().copied().collect();
    let json = format!(
        "{{{}}}",
        headers
            .iter()
            .map(|(k, v)| format!("{k:?}: {v:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    app_python(
        "import json, sys, requests\n\
         r = requests.get(sys.argv[1], verify=sys.argv[2], headers=json.loads(sys.argv[3]), allow_redirects=False, timeout=20)\n\
         print(r.status_code)\n\
         print(r.text, end='')",
        [url, ca.to_str().unwrap(), json.as_str()],
    )
    .assert_success()
}

/// What `/echo` says, flattened: `scheme`, `host`, `remote_addr`,
/// `external_url`, `body_length`, and `header:<Name>` for each header.
fn echo_fields(body: &str) -> BTreeMap<String, String> {
    let flat = python(
        "import json, sys\n\
         d = json.load(sys.stdin)\n\
         for k in ('scheme', 'host', 'remote_addr', 'external_url', 'body_length'):\n\
         \x20   print(f'{k}\\t{d[k]}')\n\
         for k, v in d['headers']:\n\
         \x20   print(f'header:{k}\\t{v}')",
        [""; 0],
    )
    .stdin(body)
    .assert_success();
    flat.stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn the_app_sees_https_its_host_and_the_client_and_never_a_spoofed_forwarding_header() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let app = flask();
    let server = proxy_to_app(d, &app);
    let out = requests_get(
        &url(&server, "/echo"),
        &ca_cert(d),
        &[
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Proto", "gopher"),
            ("X-Forwarded-Host", "evil.test"),
            ("X-Forwarded-Port", "1"),
            ("Forwarded", "for=6.6.6.6;proto=http"),
            ("X-Forwarded-Client-Cert", "Subject=\"CN=admin\""),
            // The same names with underscores, which CGI/WSGI servers map
            // to the same variables.
            ("X_Forwarded_For", "6.6.6.6"),
            ("X_Forwarded_Client_Cert", "Subject=\"CN=admin\""),
        ],
    );
    let (status, body) = out.stdout.split_once('\n').unwrap();
    assert_eq!(status, "200", "{out}");
    let echo = echo_fields(body);
    let host = format!("localhost:{}", server.port());
    assert_eq!(echo["scheme"], "https", "{echo:#?}");
    assert_eq!(echo["host"], host, "{echo:#?}");
    assert_eq!(echo["remote_addr"], "127.0.0.1", "{echo:#?}");
    assert_eq!(
        echo["external_url"],
        format!("https://{host}/echo"),
        "url_for behind ProxyFix"
    );
    assert_eq!(echo["header:Host"], host);
    assert_eq!(echo["header:X-Forwarded-For"], "127.0.0.1");
    assert_eq!(echo["header:X-Forwarded-Proto"], "https");
    assert_eq!(echo["header:X-Forwarded-Host"], host);
    assert_eq!(echo["header:X-Forwarded-Port"], server.port().to_string());
    for (k, v) in &echo {
        assert!(
            !v.contains("6.6.6.6")
                && !v.contains("evil.test")
                && !v.contains("admin")
                && !v.contains("gopher"),
            "a spoofed value reached the app: {k} = {v}"
        );
    }
    assert!(!echo.contains_key("header:Forwarded"), "{echo:#?}");
    assert!(
        !echo.contains_key("header:X-Forwarded-Client-Cert"),
        "{echo:#?}"
    );
}

#[test]
fn bodies_reach_the_app_as_the_client_framed_them_over_http1_and_http2() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let app = flask();
    let server = proxy_to_app(d, &app);
    let ca = ca_cert(d);
    for http in ["--http1.1", "--http2"] {
        // No body: none upstream either, not an empty chunked one.
        let out = curl_to(&server, &ca)
            .args([http, "-sS", "--fail", "-X", "DELETE"])
            .arg(url(&server, "/echo"))
            .assert_success();
        let echo = echo_fields(&out.stdout);
        assert_eq!(echo["body_length"], "0", "{http}: {echo:#?}");
        assert!(
            !echo.contains_key("header:Transfer-Encoding")
                && !echo.contains_key("header:Content-Length"),
            "{http}: a DELETE without a body went upstream with a framing header: {echo:#?}"
        );
        // A body of unknown length (`-T -`: chunked over HTTP/1.1, after
        // `Expect: 100-continue`; bare DATA frames over HTTP/2), on a GET as
        // on a PUT: all of it arrives, and so does the app's answer.
        for method in ["GET", "PUT"] {
            let out = curl_to(&server, &ca)
                .args([http, "-sS", "--fail", "-X", method, "-T", "-"])
                .arg(url(&server, "/echo"))
                .stdin("twelve bytes")
                .assert_success();
            let echo = echo_fields(&out.stdout);
            assert_eq!(echo["body_length"], "12", "{http} {method}: {echo:#?}");
        }
    }
}

#[test]
fn cookies_repeated_headers_redirects_and_compressed_bodies_pass_as_the_app_sent_them() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let app = flask();
    let server = proxy_to_app(d, &app);
    let ca = ca_cert(d);
    for http in ["--http1.1", "--http2"] {
        let out = curl_to(&server, &ca)
            .args([http, "-sS", "-D", "-", "-o", "/dev/null"])
            .arg(url(&server, "/cookies"))
            .assert_success();
        let headers = out.stdout.to_lowercase();
        let cookies: Vec<&str> = headers
            .lines()
            .filter(|l| l.starts_with("set-cookie:"))
            .collect();
        assert_eq!(cookies.len(), 2, "{http}\n{headers}");
        assert!(
            cookies[0].contains("first=1") && cookies[1].contains("second=2"),
            "{http}\n{headers}"
        );
        let repeated: Vec<&str> = headers
            .lines()
            .filter(|l| l.starts_with("x-repeated:"))
            .collect();
        assert_eq!(repeated, ["x-repeated: one", "x-repeated: two"], "{http}");

        // HEAD: the app's length, no body.
        let out = curl_to(&server, &ca)
            .args([http, "-sS", "-I"])
            .arg(url(&server, "/cookies"))
            .assert_success();
        let headers = out.stdout.to_lowercase();
        assert!(
            headers.contains("content-length: 12\r\n"),
            "{http}: HEAD lost its length\n{headers}"
        );

        let out = curl_to(&server, &ca)
            .args([http, "-sS", "-D", "-", "-o", "/dev/null"])
            .arg(url(&server, "/go"))
            .assert_success();
        let headers = out.stdout.to_lowercase();
        assert!(
            headers.lines().next().unwrap_or_default().contains(" 302"),
            "{http}: not followed\n{headers}"
        );
        assert!(headers.contains("location: /echo"), "{headers}");

        // Not decompressed, not recompressed: the app's gzip bytes.
        let body = d.join("gzipped.bin");
        curl_to(&server, &ca)
            .args([http, "-sS", "-H", "Accept-Encoding: gzip", "-o"])
            .arg(&body)
            .arg(url(&server, "/gzipped"))
            .assert_success();
        let text = python(
            "import gzip, sys; print(gzip.decompress(open(sys.argv[1], 'rb').read()).decode().count('compressed by the app'))",
            [body.as_os_str()],
        )
        .assert_success();
        assert_eq!(text.stdout.trim(), "100", "{http}");
    }
    // HTTP/2 sends each cookie crumb as its own header; the app gets one.
    let out = curl_to(&server, &ca)
        .args(["--http2", "-sS", "-H", "cookie: a=1", "-H", "cookie: b=2"])
        .arg(url(&server, "/echo"))
        .assert_success();
    let echo = echo_fields(&out.stdout);
    assert_eq!(echo["header:Cookie"], "a=1; b=2", "{echo:#?}");
}

#[test]
fn an_event_stream_reaches_the_client_as_the_app_writes_it() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let app = flask();
    let server = proxy_to_app(d, &app);
    let release = d.join("release");
    // The second event waits for `release`, written only after the first
    // event arrived: a proxy that buffered would deliver neither in time.
    let out = python(
        "import socket, ssl, sys\n\
         ca, port, release = sys.argv[1], int(sys.argv[2]), sys.argv[3]\n\
         ctx = ssl.create_default_context(cafile=ca)\n\
         s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=10), server_hostname='localhost')\n\
         s.sendall(f'GET /events?release={release} HTTP/1.1\\r\\nHost: localhost:{port}\\r\\n\\r\\n'.encode())\n\
         buf = b''\n\
         while b'data: first' not in buf:\n\
         \x20   buf += s.recv(4096)\n\
         print('first event before release')\n\
         open(release, 'w').close()\n\
         while b'data: second' not in buf:\n\
         \x20   buf += s.recv(4096)\n\
         print('second event after release')",
        [
            ca_cert(d).as_os_str(),
            std::ffi::OsStr::new(&server.port().to_string()),
            release.as_os_str(),
        ],
    )
    .assert_success();
    assert_eq!(
        out.stdout,
        "first event before release\nsecond event after release\n"
    );
}

/// The server's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib(server: &Server) -> u64 {
    let status = read_text(Path::new(&format!("/proc/{}/status", server.pid())));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in\n{status}"))
}

#[test]
fn a_hundred_megabytes_stream_up_and_down_without_growing_the_server() {
    if !tools() {
        return;
    }
    const SIZE: u64 = 100 * 1024 * 1024;
    let dir = e2e::tempdir();
    let d = dir.path();
    let app = flask();
    let server = proxy_to_app(d, &app);
    let ca = ca_cert(d);
    // Warm up (TLS, the connection pool), then take the baseline.
    curl_to(&server, &ca)
        .arg(url(&server, "/status"))
        .assert_success();
    let before = peak_rss_kib(&server);
    let big = d.join("big.bin");
    // A sparse file: 100 MB to send, nothing to write.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&big)
        .unwrap();
    file.set_len(SIZE).unwrap();
    let out = curl_to(&server, &ca)
        .args([
            "-sS",
            "--fail",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
        ])
        .arg(format!("@{}", big.display()))
        .arg(url(&server, "/upload"))
        .timeout(std::time::Duration::from_secs(120))
        .assert_success();
    assert!(
        out.stdout.contains(&format!("\"received\":{SIZE}"))
            || out.stdout.contains(&format!("\"received\": {SIZE}")),
        "{out}"
    );
    let out = curl_to(&server, &ca)
        .args(["-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}"])
        .arg(url(&server, &format!("/download?size={SIZE}")))
        .timeout(std::time::Duration::from_secs(120))
        .assert_success();
    assert_eq!(out.stdout, SIZE.to_string(), "{out}");
    let grown = peak_rss_kib(&server).saturating_sub(before);
    assert!(
        grown < 16 * 1024,
        "the server's peak memory grew by {grown} KiB for 100 MB each way: something buffers"
    );
}

#[test]
fn an_app_that_is_down_gets_a_502_naming_it_and_the_next_request_after_it_starts_succeeds() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let port = free_port();
    let upstream = format!("http://127.0.0.1:{port}");
    let server = proxy_to(d, &upstream, &[]);
    let ca = ca_cert(d);
    let out = curl_to(&server, &ca)
        .args(["-sS", "-D", "-"])
        .arg(url(&server, "/echo"))
        .assert_success();
    assert!(out.stdout.starts_with("HTTP/2 502"), "{out}");
    out.assert_stdout_contains(&format!("the app at {upstream} did not answer"))
        .assert_stdout_contains("Start it");
    let page = curl_to(&server, &ca)
        .args(["-sS", "-H", "Accept: text/html"])
        .arg(url(&server, "/"))
        .assert_success();
    page.assert_stdout_contains("<h1>The app at http://127.0.0.1:")
        .assert_stdout_contains("is not answering</h1>");
    // The app starts: the very next request reaches it.
    let _app = Server::start_at(
        "flask",
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
        FLASK_READY,
        |p| flask_command("127.0.0.1", p),
    );
    let out = curl_to(&server, &ca)
        .args(["-sS", "--fail"])
        .arg(url(&server, "/status"))
        .assert_success();
    assert_eq!(out.stdout, "{\"ok\": true}");
}

#[test]
fn a_localhost_upstream_reaches_an_app_listening_only_on_ipv6_loopback() {
    if !tools() || !has_ipv6_loopback() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let app = Server::start(
        "flask on ::1",
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        FLASK_READY,
        |port| flask_command("::1", port),
    );
    let server = proxy_to(d, &format!("http://localhost:{}", app.port()), &[]);
    let out = curl_to(&server, &ca_cert(d))
        .args(["-sS", "--fail"])
        .arg(url(&server, "/status"))
        .assert_success();
    assert_eq!(out.stdout, "{\"ok\": true}");
}

#[test]
fn with_mutual_tls_the_app_sees_the_client_certificate_and_clients_without_one_never_reach_it() {
    if !tools() || !require_tools(&["openssl"]) {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    pki(d)
        .args([
            "cert",
            "--client",
            "--cert-file",
            "alice.pem",
            "--key-file",
            "alice-key.pem",
        ])
        .args(["alice.example.test", "URI:spiffe://example.test/alice"])
        .assert_success();
    let app = flask();
    let client_ca = ca_cert(d);
    let server = proxy_to(
        d,
        &format!("http://127.0.0.1:{}", app.port()),
        &["--client-ca", client_ca.to_str().unwrap()],
    );
    let out = curl_to(&server, &client_ca)
        .args([
            "-sS",
            "--fail",
            "--cert",
            "alice.pem",
            "--key",
            "alice-key.pem",
        ])
        .current_dir(d)
        .arg(url(&server, "/echo"))
        .assert_success();
    let echo = echo_fields(&out.stdout);
    let xfcc = echo
        .get("header:X-Forwarded-Client-Cert")
        .unwrap_or_else(|| panic!("no X-Forwarded-Client-Cert: {echo:#?}"));
    let fingerprint = e2e::openssl_fingerprint(&d.join("alice.pem"))
        .replace(':', "")
        .to_lowercase();
    assert!(
        xfcc.starts_with(&format!("Hash={fingerprint};Cert=\"")),
        "{xfcc}"
    );
    assert!(xfcc.contains("CN=alice.example.test"), "{xfcc}");
    assert!(xfcc.contains(";DNS=alice.example.test"), "{xfcc}");
    assert!(xfcc.contains(";URI=spiffe://example.test/alice"), "{xfcc}");
    // The PEM in it, URL-decoded, is the certificate the client presented.
    let pem = python(
        "import sys, urllib.parse; v = sys.argv[1]; s = v.index('Cert=\"') + 6; print(urllib.parse.unquote(v[s:v.index('\"', s)]), end='')",
        [xfcc.as_str()],
    )
    .assert_success();
    let presented = e2e::pem_blocks(&read_text(&d.join("alice.pem")), "CERTIFICATE");
    assert_eq!(pem.stdout, presented[0]);

    // No certificate: refused in the handshake; the app never hears of it.
    let before = app.log();
    assert_client_refused(&server, &client_ca, None, &NO_CERT);
    assert_eq!(
        app.log(),
        before,
        "a client without a certificate reached the app"
    );
}

#[test]
fn a_proxy_url_that_is_not_one_is_refused_at_start_naming_it() {
    let dir = e2e::tempdir();
    let d = dir.path();
    write_file(&d.join("x"), "");
    for (value, needle) in [
        ("127.0.0.1:5000", "not an http:// URL"),
        ("https://127.0.0.1:5000", "give the app's http:// address"),
        ("/api=http://h:99999", "not a number"),
        ("/api=", "give what to serve after the PATH"),
    ] {
        ActixHttps::new(d)
            .args(["--proxy", value])
            .refused()
            .assert_stderr_contains(needle)
            .assert_stderr_contains(&format!("--proxy {value:?}"));
    }
}

/// `python -m uvicorn starlette_app:app --proxy-headers` on `port`.
fn uvicorn_command(port: u16) -> Command {
    let mut cmd = Command::new(apps_python_path());
    cmd.current_dir(scripts())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-m", "uvicorn", "starlette_app:app", "--host", "127.0.0.1"])
        .args(["--proxy-headers", "--port"])
        .arg(port.to_string());
    cmd
}

#[test]
fn starlette_under_uvicorn_sees_https_and_websockets_echo_both_ways_and_close_cleanly() {
    if !require_tools(&["curl"])
        || !require_python_modules(&["uvicorn", "starlette", "websockets", "requests"])
    {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let app = Server::start(
        "uvicorn",
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        "Uvicorn running on",
        uvicorn_command,
    );
    let server = proxy_to(d, &format!("http://localhost:{}", app.port()), &[]);
    let out = requests_get(&url(&server, "/echo"), &ca_cert(d), &[]);
    let host = format!("localhost:{}", server.port());
    assert_eq!(
        out.stdout,
        format!(
            "200\n{{\"url\":\"https://{host}/echo\",\"client\":\"127.0.0.1\",\"host\":\"{host}\"}}"
        )
    );
    // wss:// through the proxy: messages both ways (one of 200 kB), then a
    // close from the client, and on a second connection one from the app.
    let out = app_python(
        "import asyncio, ssl, sys, websockets\n\
         ca, url = sys.argv[1], sys.argv[2]\n\
         async def main():\n\
         \x20   ctx = ssl.create_default_context(cafile=ca)\n\
         \x20   async with websockets.connect(url, ssl=ctx) as ws:\n\
         \x20       await ws.send('hello')\n\
         \x20       print(await ws.recv())\n\
         \x20       await ws.send('x' * 200000)\n\
         \x20       print(len(await ws.recv()))\n\
         \x20   print('client closed', ws.close_code)\n\
         \x20   async with websockets.connect(url, ssl=ctx) as ws:\n\
         \x20       await ws.send('close please')\n\
         \x20       try:\n\
         \x20           await ws.recv()\n\
         \x20       except websockets.ConnectionClosedOK as e:\n\
         \x20           print('app closed', e.rcvd.code)\n\
         \x20   cookie = {'Cookie': 'session=abc; name=Jos\u{e9}'}\n\
         \x20   async with websockets.connect(url, ssl=ctx, extra_headers=cookie) as ws:\n\
         \x20       await ws.send('cookies please')\n\
         \x20       print(await ws.recv())\n\
         asyncio.run(asyncio.wait_for(main(), 20))",
        [ca_cert(d).to_str().unwrap(), &format!("wss://{host}/ws")],
    )
    .assert_success();
    // Every cookie reaches the app, one not in ASCII too (UTF-8 bytes, as
    // browsers send them).
    assert_eq!(
        out.stdout,
        "echo: hello\n200006\nclient closed 1000\napp closed 1000\n\
         cookies: session=abc; name=Jos\u{e9}\n"
    );
    app.assert_log_contains("\"WebSocket /ws\" [accepted]");
    app.assert_log_contains("connection closed");

    // A path the app has no WebSocket for: its refusal reaches the client
    // at once, not a hang on a connection the app keeps open.
    let out = app_python(
        "import asyncio, ssl, sys, websockets\n\
         async def main():\n\
         \x20   try:\n\
         \x20       async with websockets.connect(sys.argv[2], ssl=ssl.create_default_context(cafile=sys.argv[1])):\n\
         \x20           print('accepted?')\n\
         \x20   except websockets.InvalidStatusCode as e:\n\
         \x20       print('refused', e.status_code)\n\
         asyncio.run(asyncio.wait_for(main(), 10))",
        [ca_cert(d).to_str().unwrap(), &format!("wss://{host}/no-socket-here")],
    )
    .assert_success();
    // Starlette answers a WebSocket it has no route for with 403.
    assert_eq!(out.stdout, "refused 403\n");
}

#[test]
fn interim_answers_before_a_websocket_handshake_s_101_are_skipped() {
    if !tools() || !require_python_modules(&["websockets"]) {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    // An app that answers the handshake with 103 Early Hints, then 101, then
    // one text frame and a close frame, all in one write (connections that
    // send nothing, as the harness's readiness probe, are closed).
    let app = Server::python(
        d,
        "import base64, hashlib, socket, sys\n\
         s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); print('READY')\n\
         while True:\n\
         \x20   c, _ = s.accept(); head = b''\n\
         \x20   while b'\\r\\n\\r\\n' not in head:\n\
         \x20       more = c.recv(4096)\n\
         \x20       if not more: break\n\
         \x20       head += more\n\
         \x20   if b'\\r\\n\\r\\n' not in head: c.close(); continue\n\
         \x20   key = [l.split(b':', 1)[1].strip() for l in head.split(b'\\r\\n') if l.lower().startswith(b'sec-websocket-key:')][0]\n\
         \x20   accept = base64.b64encode(hashlib.sha1(key + b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest())\n\
         \x20   c.sendall(b'HTTP/1.1 103 Early Hints\\r\\nLink: </a.css>; rel=preload\\r\\n\\r\\n'\n\
         \x20       + b'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + accept + b'\\r\\n\\r\\n'\n\
         \x20       + b'\\x81\\x05hello' + b'\\x88\\x02\\x03\\xe8')\n\
         \x20   c.recv(4096); c.close()",
        [""; 0],
    );
    let server = proxy_to_app(d, &app);
    let out = app_python(
        "import asyncio, ssl, sys, websockets\n\
         async def main():\n\
         \x20   ctx = ssl.create_default_context(cafile=sys.argv[1])\n\
         \x20   async with websockets.connect(sys.argv[2], ssl=ctx) as ws:\n\
         \x20       print(await ws.recv())\n\
         asyncio.run(asyncio.wait_for(main(), 10))",
        [
            ca_cert(d).to_str().unwrap(),
            &format!("wss://localhost:{}/socket", server.port()),
        ],
    )
    .assert_success();
    assert_eq!(out.stdout, "hello\n");
}

/// `tests/scripts/raw_http_app.py` (an app on bare sockets), its URL, and
/// the server proxying to it.
fn raw_app_behind_proxy(d: &Path) -> (Server, String, Server) {
    let app = Server::python(d, &read_text(&scripts().join("raw_http_app.py")), [""; 0]);
    let server = proxy_to_app(d, &app);
    let upstream = format!("http://127.0.0.1:{}", app.port());
    (app, upstream, server)
}

#[test]
fn bodies_ended_by_a_close_arrive_whole_and_a_reused_connection_the_app_closed_is_retried_only_when_safe()
 {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    // The harness starts one worker, so one pool: the second request meets
    // the first's connection.
    let (app, upstream, server) = raw_app_behind_proxy(d);
    let ca = ca_cert(d);

    // Neither Content-Length nor chunks: the body is all the app sent before
    // it closed (actix-http's client alone drops it).
    let expected: String = (0..20000).map(|i| format!("line {i}\n")).collect();
    for http in ["--http1.1", "--http2"] {
        let out = curl_to(&server, &ca)
            .args([http, "-sS", "--fail"])
            .arg(url(&server, "/until-close"))
            .assert_success();
        assert!(
            out.stdout == expected,
            "{http}: {} bytes arrived of {}",
            out.stdout.len(),
            expected.len()
        );
    }

    // The app closes a kept-alive connection at the second request without
    // answering: a GET goes again on a new connection, and is answered.
    for _ in 0..2 {
        let out = curl_to(&server, &ca)
            .args(["-sS", "--fail"])
            .arg(url(&server, "/once"))
            .assert_success();
        assert_eq!(out.stdout, "one\n");
    }
    let log = app.log();
    assert_eq!(log.matches("dropped GET").count(), 1, "{log}");
    // So does a PUT with an empty body, framed as before (`Content-Length: 0`).
    let out = curl_to(&server, &ca)
        .args(["-sS", "--fail", "-X", "PUT", "--data", ""])
        .arg(url(&server, "/once"))
        .assert_success();
    assert_eq!(out.stdout, "one\n");
    let log = app.log();
    assert_eq!(log.matches("dropped PUT").count(), 1, "{log}");
    // A POST may have had its effect: it is not sent twice, and the client
    // hears why.
    let out = curl_to(&server, &ca)
        .args(["-sS", "-X", "POST", "-w", "%{http_code}"])
        .arg(url(&server, "/once"))
        .assert_success();
    assert!(
        out.stdout.contains(&format!("the app at {upstream} "))
            && out
                .stdout
                .contains("closed the connection without answering")
            && out.stdout.ends_with("502"),
        "{}",
        out.stdout
    );
    let log = app.log();
    assert_eq!(log.matches("dropped POST").count(), 1, "{log}");

    // HTTP/1.0: a connection the app did not offer to keep is not reused,
    // and an empty answer ended by the close is an empty answer, not a 502.
    for _ in 0..2 {
        let out = curl_to(&server, &ca)
            .args(["-sS", "--fail"])
            .arg(url(&server, "/http10"))
            .assert_success();
        assert_eq!(out.stdout, "hello\n");
    }
    let out = curl_to(&server, &ca)
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ])
        .arg(url(&server, "/http10-redirect"))
        .assert_success();
    assert_eq!(
        out.stdout,
        format!("301 https://localhost:{}/http10/", server.port())
    );
    let log = app.log();
    assert!(!log.contains("reused an HTTP/1.0 connection"), "{log}");
}

#[test]
fn an_app_s_early_refusal_of_an_upload_reaches_the_client_and_faulty_framing_is_a_502() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let (app, _, server) = raw_app_behind_proxy(d);
    let ca = ca_cert(d);

    // 32 MiB is more than the sockets between us and the app hold, so the
    // app's 413, sent before it reads any of the body, comes while the body
    // is still going. Whether the app then closes after a pause (Go), at
    // once (a reset, as synchronous servers do), or, as HTTP/1.0 without
    // keep-alive, holds the connection unread, the client hears the 413,
    // not a 502 or a hang; with a length, or streamed (`-T -`: chunked over
    // HTTP/1.1, no length over HTTP/2).
    let upload = d.join("upload.bin");
    write_file(&upload, vec![b'u'; 32 << 20]);
    let big = std::fs::read(&upload).unwrap();
    let mut refused = 0;
    for path in ["/too-large", "/too-large-now", "/too-large-http10"] {
        for http in ["--http1.1", "--http2"] {
            for streamed in [false, true] {
                let mut curl = curl_to(&server, &ca);
                curl.args([http, "-sS", "-w", "%{http_code}", "--max-time", "8"]);
                if streamed {
                    curl.args(["-X", "POST", "-T", "-"]).stdin(big.clone());
                } else {
                    curl.arg("--data-binary")
                        .arg(format!("@{}", upload.display()));
                }
                let out = curl.arg(url(&server, path)).assert_success();
                assert_eq!(
                    out.stdout, "too large\n413",
                    "{path} {http} streamed: {streamed}: {}",
                    out.stderr
                );
                refused += 1;
            }
        }
    }
    assert_eq!(app.log().matches("refused an upload").count(), refused);

    // Transfer-Encoding in an HTTP/1.0 answer is faulty framing (RFC 9112
    // §6.1), and an answer cut short of its length is not passed on as
    // whole: 502s that say so.
    for (path, says) in [
        ("/http10-chunked", "HTTP/1.0 answer has Transfer-Encoding"),
        ("/upgrade-short", "50 bytes short of its Content-Length"),
    ] {
        let out = curl_to(&server, &ca)
            .args(["-sS", "-w", "%{http_code}"])
            .arg(url(&server, path))
            .output();
        assert!(
            out.stdout.contains(says) && out.stdout.ends_with("502"),
            "{path}: {}",
            out.stdout
        );
    }
}

#[test]
fn idle_connections_to_the_app_are_closed_when_they_expire_or_the_app_closes_them() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let (app, _, server) = raw_app_behind_proxy(d);
    let ca = ca_cert(d);
    let get = |path: &str| {
        curl_to(&server, &ca)
            .args(["-sS", "--fail"])
            .arg(url(&server, path))
            .assert_success()
            .stdout
    };

    // Kept by the app, and idle past reuse: the proxy lets it go, unasked.
    assert_eq!(get("/kept"), "kept\n");
    app.assert_log_contains("the proxy closed a kept connection");

    // Closed by the app while idle: the proxy closes its end too, where it
    // used to hold it in CLOSE_WAIT until the next request.
    assert_eq!(get("/closes-when-idle"), "idle\n");
    app.assert_log_contains("closed an idle connection");
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let left = close_waits_to(app.port());
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} connection(s) to the app still in CLOSE_WAIT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // And the next request is answered on a new connection.
    assert_eq!(get("/kept"), "kept\n");
}

/// How many TCP connections to `port` on this machine wait in CLOSE_WAIT
/// (the peer closed, this end did not), from `/proc/net/tcp`.
fn close_waits_to(port: u16) -> usize {
    const CLOSE_WAIT: &str = "08";
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let remote = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| {
            fields.len() > 3 && fields[2].ends_with(&remote) && fields[3] == CLOSE_WAIT
        })
        .count()
}

#[test]
fn chromium_loads_the_proxied_app_without_a_certificate_error_and_the_banner_curl_works() {
    if !tools() || !require_tools(&["chromium", "certutil", "sh"]) {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let app = flask();
    // From the environment, as every flag can be; zero-config certificate.
    let server = ActixHttps::new(d)
        .env(
            "ACTIX_HTTPS_PROXY",
            format!("http://127.0.0.1:{}", app.port()),
        )
        .start();
    // The banner's own curl line, run as printed.
    let log = server.log();
    let line = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("try: "))
        .unwrap_or_else(|| panic!("no `try:` line in the banner\n{log}"));
    let printed = e2e::TestCommand::new("sh")
        .args(["-c", line])
        .current_dir(d)
        .assert_success();
    assert_eq!(printed.stdout, "the Flask app's index\n", "{line}");

    let home = e2e::nss_home(&d.join("browser"));
    e2e::TestCommand::new("certutil")
        .arg("-A")
        .arg("-d")
        .arg(format!("sql:{}", home.join(".pki/nssdb").display()))
        .args(["-n", "pki-test", "-t", "C,,", "-i"])
        .arg(ca_cert(d))
        .assert_success();
    let out = e2e::chromium_dump(&home, &url(&server, "/echo"));
    assert!(out.status.success(), "chromium failed\n{out}");
    out.assert_stdout_contains(&format!("https://localhost:{}/echo", server.port()));
    assert!(!out.stderr.contains("ERR_CERT"), "{out}");
}

#[test]
fn an_application_s_own_server_mounts_the_proxy_and_static_files_beside_its_routes() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path().to_path_buf();
    let site = d.join("site");
    std::fs::create_dir_all(&site).unwrap();
    write_file(&site.join("hello.txt"), "hello from the site\n");
    std::fs::create_dir_all(site.join(".well-known")).unwrap();
    for fifo in ["pipe", ".well-known/pipe"] {
        let made = Command::new("mkfifo").arg(site.join(fifo)).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo {fifo}");
    }
    let app = flask();
    let upstream = format!("http://127.0.0.1:{}", app.port());
    let bin = e2e::workspace_example("actix-https", "front_door");
    let server = {
        let (d, site) = (d.clone(), site.clone());
        Server::start(
            "the front_door example",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "Serving ",
            move |port| {
                let mut cmd = Command::new(&bin);
                cmd.arg(port.to_string()).arg(&d).arg(&upstream).arg(&site);
                cmd
            },
        )
    };
    let ca = d.join("ca.pem");
    let get = |path: &str, extra: &[&str]| {
        curl_to(&server, &ca)
            .args(["-sS", "--fail"])
            .args(extra)
            .current_dir(&d)
            .arg(url(&server, path))
            .assert_success()
    };
    assert_eq!(get("/own", &[]).stdout, "the program's own handler\n");
    assert_eq!(get("/files/hello.txt", &[]).stdout, "hello from the site\n");
    // What the files do not have is the program's 404, a FIFO (never read)
    // as a missing file.
    for missing in [
        "/files/nothing.txt",
        "/files/pipe",
        "/files/.well-known/pipe",
        "/nowhere",
    ] {
        let out = curl_to(&server, &ca)
            .args(["-sS", "-w", "%{http_code}"])
            .arg(url(&server, missing))
            .assert_success();
        assert_eq!(out.stdout, "the program's own 404\n404", "{missing}");
    }
    // The proxy forwards the verified client certificate; without one, none.
    let with = echo_fields(&get("/api/echo", &["-E", "alice-bundle.pem"]).stdout);
    let xfcc = &with["header:X-Forwarded-Client-Cert"];
    assert!(xfcc.contains(";DNS=alice.example.test"), "{xfcc}");
    assert_eq!(with["scheme"], "https");
    let without = echo_fields(&get("/api/echo", &[]).stdout);
    assert!(
        !without.contains_key("header:X-Forwarded-Client-Cert"),
        "{without:#?}"
    );
}
