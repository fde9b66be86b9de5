//! `actix-https --static [PATH=]DIR`, judged by curl and Python as a
//! browser-like client sees it: index files, listings (HTML and JSON),
//! MIME types, ETag and Last-Modified with 304, Range with 206 and 416,
//! precompressed siblings, hidden files and traversal refused, directories
//! redirected to their slash form, the longest prefix winning, and the
//! server's own pages moving aside when the app owns `/`.

use std::fs;
use std::path::{Path, PathBuf};

use e2e::{ActixHttps, Output, Server, ca_cert, curl_to, python, read_file, url, write_file};

use crate::server::tools;

/// What the site's index page says.
const INDEX: &str = "<h1>the app's own index</h1>\n";

/// A small site in `dir/site`: an index, a stylesheet with precompressed
/// siblings (each with a body of its own, to tell them apart), a script,
/// a 64 KiB file for ranges, a subdirectory without index, a file with a
/// space in its name, hidden files and a `.well-known` one.
fn site(dir: &Path) -> PathBuf {
    let site = dir.join("site");
    for (name, body) in [
        ("index.html", INDEX.as_bytes().to_vec()),
        ("style.css", b"body { color: green }\n".to_vec()),
        ("style.css.br", b"pretend brotli".to_vec()),
        ("style.css.gz", b"pretend gzip".to_vec()),
        ("app.js", b"console.log('hi')\n".to_vec()),
        (
            "data.bin",
            (0..65_536u32).map(|i| (i % 251) as u8).collect(),
        ),
        ("sub/a b.txt", b"spaced\n".to_vec()),
        ("sub/deeper/x.txt", b"x\n".to_vec()),
        (".env", b"SECRET=1\n".to_vec()),
        (".git/config", b"[core]\n".to_vec()),
        (
            ".well-known/security.txt",
            b"Contact: mailto:a@example.test\n".to_vec(),
        ),
        ("api/only-here.txt", b"from the site\n".to_vec()),
    ] {
        let path = site.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_file(&path, body);
    }
    site
}

/// `curl -sS -D - -o FILE` of `path` with `extra` options: the headers
/// as sent and the body.
fn fetch(server: &Server, dir: &Path, path: &str, extra: &[&str]) -> (Output, String, Vec<u8>) {
    let body = dir.join("body.out");
    let _ = fs::remove_file(&body);
    let out = curl_to(server, &ca_cert(dir))
        .args(["--path-as-is", "-D", "-", "-o"])
        .arg(&body)
        .args(extra)
        .arg(url(server, path))
        .output();
    assert!(out.status.success(), "curl failed for {path}\n{out}");
    let headers = out.stdout.clone();
    let bytes = if body.exists() {
        read_file(&body)
    } else {
        Vec::new()
    };
    (out, headers, bytes)
}

/// The status code of the last response in `headers`.
fn status(headers: &str) -> u16 {
    headers
        .lines()
        .rfind(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in\n{headers}"))
}

/// One header's value (the first), its name matched without case.
fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

#[test]
fn files_index_and_mime_types_are_served_at_the_root() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let root = site(d);
    let server = ActixHttps::new(d).args(["--static"]).args([&root]).start();
    let (_, h, body) = fetch(&server, d, "/", &[]);
    assert_eq!(
        (status(&h), body.as_slice()),
        (200, INDEX.as_bytes()),
        "{h}"
    );
    assert_eq!(header(&h, "content-type"), Some("text/html; charset=utf-8"));
    for (path, mime) in [
        ("/style.css", "text/css"),
        ("/app.js", "text/javascript"),
        ("/data.bin", "application/octet-stream"),
    ] {
        let (_, h, _) = fetch(&server, d, path, &[]);
        assert_eq!(status(&h), 200, "{path}\n{h}");
        let got = header(&h, "content-type").unwrap_or_default();
        assert!(
            got.starts_with(mime),
            "{path}: content-type {got:?}, want {mime}"
        );
    }
    let (_, h, body) = fetch(&server, d, "/sub/a%20b.txt", &[]);
    assert_eq!(
        (status(&h), body.as_slice()),
        (200, &b"spaced\n"[..]),
        "{h}"
    );
    // No file: 404, and the server's own pages are not in the app's way.
    for path in ["/missing.txt", "/whoami", "/health"] {
        let (_, h, _) = fetch(&server, d, path, &[]);
        assert_eq!(status(&h), 404, "{path} belongs to the app now\n{h}");
    }
}

#[test]
fn etag_and_last_modified_answer_304_and_a_change_answers_200() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let root = site(d);
    let server = ActixHttps::new(d).args(["--static"]).args([&root]).start();
    let (_, h, _) = fetch(&server, d, "/style.css", &[]);
    let etag = header(&h, "etag").expect("an ETag").to_owned();
    let modified = header(&h, "last-modified")
        .expect("a Last-Modified")
        .to_owned();
    let (_, h, body) = fetch(
        &server,
        d,
        "/style.css",
        &["-H", &format!("If-None-Match: {etag}")],
    );
    assert_eq!((status(&h), body.len()), (304, 0), "{h}");
    let (_, h, _) = fetch(
        &server,
        d,
        "/style.css",
        &["-H", &format!("If-Modified-Since: {modified}")],
    );
    assert_eq!(status(&h), 304, "{h}");
    // The file changes (size and time): the old ETag no longer matches.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write_file(&root.join("style.css"), "body { color: red; margin: 0 }\n");
    let (_, h, body) = fetch(
        &server,
        d,
        "/style.css",
        &["-H", &format!("If-None-Match: {etag}")],
    );
    assert_eq!(status(&h), 200, "{h}");
    assert_eq!(body, b"body { color: red; margin: 0 }\n");
    assert_ne!(header(&h, "etag"), Some(etag.as_str()));
}

#[test]
fn single_ranges_answer_206_and_unsatisfiable_ones_416() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let root = site(d);
    let whole = read_file(&root.join("data.bin"));
    let server = ActixHttps::new(d).args(["--static"]).args([&root]).start();
    let (_, h, body) = fetch(&server, d, "/data.bin", &["-r", "1000-1999"]);
    assert_eq!(status(&h), 206, "{h}");
    assert_eq!(header(&h, "content-range"), Some("bytes 1000-1999/65536"));
    assert_eq!(body, whole[1000..2000]);
    let (_, h, body) = fetch(&server, d, "/data.bin", &["-r", "-100"]);
    assert_eq!(
        (status(&h), body.as_slice()),
        (206, &whole[65_436..]),
        "{h}"
    );
    let (_, h, _) = fetch(&server, d, "/data.bin", &["-r", "70000-80000"]);
    assert_eq!(status(&h), 416, "{h}");
    assert_eq!(header(&h, "content-range"), Some("bytes */65536"));
}

#[test]
fn precompressed_siblings_are_chosen_by_accept_encoding() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let root = site(d);
    let server = ActixHttps::new(d).args(["--static"]).args([&root]).start();
    for (accept, encoding, body) in [
        ("br, gzip", Some("br"), &b"pretend brotli"[..]),
        ("gzip", Some("gzip"), &b"pretend gzip"[..]),
        ("identity", None, &b"body { color: green }\n"[..]),
    ] {
        let (_, h, got) = fetch(
            &server,
            d,
            "/style.css",
            &["-H", &format!("Accept-Encoding: {accept}")],
        );
        assert_eq!(status(&h), 200, "{accept}\n{h}");
        assert_eq!(header(&h, "content-encoding"), encoding, "{accept}\n{h}");
        assert!(
            header(&h, "content-type").is_some_and(|t| t.starts_with("text/css")),
            "{accept}: the type is the original file's\n{h}"
        );
        assert_eq!(got, body, "{accept}");
        if encoding.is_some() {
            assert!(
                header(&h, "vary").is_some_and(|v| v.eq_ignore_ascii_case("accept-encoding")),
                "{h}"
            );
        }
    }
}

#[test]
fn hidden_files_and_traversal_are_refused_and_well_known_is_served() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let root = site(d);
    // A file beside the site that traversal would reach.
    write_file(&d.join("outside.txt"), "must not be served\n");
    let server = ActixHttps::new(d).args(["--static"]).args([&root]).start();
    for (path, code) in [
        ("/.env", 404),
        ("/.git/config", 404),
        ("/sub/../.env", 404),
        ("/../outside.txt", 404),
        ("/%2e%2e/outside.txt", 404),
        ("/sub/%2e%2e/%2e%2e/outside.txt", 404),
        ("/..%2foutside.txt", 400),
        ("/sub%2f..%2f..%2foutside.txt", 400),
    ] {
        let (_, h, body) = fetch(&server, d, path, &[]);
        assert_eq!(status(&h), code, "{path}\n{h}");
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("SECRET") && !text.contains("must not be served"),
            "{path} leaked {text:?}"
        );
    }
    let (_, h, body) = fetch(&server, d, "/.well-known/security.txt", &[]);
    assert_eq!(status(&h), 200, "{h}");
    assert!(String::from_utf8_lossy(&body).starts_with("Contact:"));
    // The listing leaves hidden entries out.
    let (_, _, body) = fetch(&server, d, "/sub/", &[]);
    let listing = String::from_utf8_lossy(&body);
    assert!(
        !listing.contains(".env") && !listing.contains(".git"),
        "{listing}"
    );
}

#[test]
fn directories_redirect_to_their_slash_form_and_list_as_html_or_json() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let root = site(d);
    let server = ActixHttps::new(d).args(["--static"]).args([&root]).start();
    let (_, h, _) = fetch(&server, d, "/sub", &[]);
    assert_eq!(status(&h), 307, "{h}");
    assert_eq!(header(&h, "location"), Some("/sub/"));
    let (_, h, body) = fetch(&server, d, "/sub", &["-L"]);
    assert_eq!(status(&h), 200, "{h}");
    let html = String::from_utf8_lossy(&body);
    assert!(
        html.contains("<a href=\"a%20b.txt\">a b.txt</a>")
            && html.contains("<a href=\"deeper/\">deeper/</a>"),
        "{html}"
    );
    let (_, h, body) = fetch(&server, d, "/sub/", &["-H", "Accept: application/json"]);
    assert!(
        header(&h, "content-type").is_some_and(|t| t.starts_with("application/json")),
        "{h}"
    );
    let listed = python(
        "import json,sys; d=json.load(sys.stdin); print(d['path']); [print(e['type'], e['name'], e['size']) for e in d['entries']]",
        [""; 0],
    )
    .stdin(body)
    .assert_success();
    assert_eq!(listed.stdout, "/sub/\ndirectory deeper 0\nfile a b.txt 7\n");
}

#[test]
fn the_longest_prefix_wins_and_the_server_pages_stay_when_the_app_has_no_root() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let root = site(d);
    let api = d.join("api-files");
    fs::create_dir_all(&api).unwrap();
    write_file(&api.join("only-here.txt"), "from the api directory\n");
    let server = ActixHttps::new(d)
        .args(["--static".to_owned(), format!("/docs={}", root.display())])
        .args([
            "--static".to_owned(),
            format!("/docs/api={}", api.display()),
        ])
        .start();
    let (_, h, body) = fetch(&server, d, "/docs/api/only-here.txt", &[]);
    assert_eq!(status(&h), 200, "{h}");
    assert_eq!(body, b"from the api directory\n");
    let (_, h, body) = fetch(&server, d, "/docs/", &[]);
    assert_eq!(
        (status(&h), body.as_slice()),
        (200, INDEX.as_bytes()),
        "{h}"
    );
    // `/` is not the app's: the server's own pages stay where they were.
    let (_, h, body) = fetch(&server, d, "/whoami", &[]);
    assert_eq!(status(&h), 200, "{h}");
    assert!(String::from_utf8_lossy(&body).contains("\"version\""));
    server.assert_log_contains("/docs/api/ → files in");
    server.assert_log_contains("/docs/ → files in");
}

#[test]
fn server_pages_move_aside_when_the_app_owns_the_root_and_the_banner_says_where() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let root = site(d);
    // From the environment, as every flag can be.
    let server = ActixHttps::new(d)
        .env("ACTIX_HTTPS_STATIC", root.as_os_str())
        .start();
    server.assert_log_contains("server pages moved aside: ");
    server.assert_log_contains("/_actix-https/whoami");
    let (_, h, body) = fetch(&server, d, "/_actix-https/whoami", &[]);
    assert_eq!(status(&h), 200, "{h}");
    assert!(String::from_utf8_lossy(&body).contains("\"version\""));
    let (_, h, body) = fetch(&server, d, "/_actix-https/health", &[]);
    assert_eq!((status(&h), body.as_slice()), (200, &b"ok\n"[..]), "{h}");
    let (_, _, body) = fetch(&server, d, "/", &[]);
    assert_eq!(body, INDEX.as_bytes());
}

#[test]
fn a_static_directory_that_is_not_one_is_refused_at_start_naming_it() {
    let dir = e2e::tempdir();
    let d = dir.path();
    write_file(&d.join("file.txt"), "x");
    for (value, needle) in [
        ("./no-such-dir", "no-such-dir does not exist"),
        ("/docs=./file.txt", "file.txt is not a directory"),
        ("/a/../b=.", "no URL prefix can have"),
        ("/_actix-https=.", "where the server keeps its own pages"),
    ] {
        ActixHttps::new(d)
            .args(["--static", value])
            .refused()
            .assert_stderr_contains(needle)
            .assert_stderr_contains(&format!("--static {value:?}"));
    }
}

#[test]
fn a_file_is_answered_alike_whether_or_not_compression_is_on_offer_and_fifos_are_never_read() {
    if !tools() {
        return;
    }
    let dir = e2e::tempdir();
    let d = dir.path();
    let root = site(d);
    // Over 64 KiB: sent in more than one piece, on either road.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    write_file(&root.join("big.bin"), &big);
    // FIFOs where a file, an index file and a precompressed sibling go,
    // with and without the sibling's original; and siblings without theirs.
    for sub in ["piped", "listed", "packed"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    write_file(&root.join("b.txt"), "plain b\n");
    write_file(&root.join("only.js.gz"), "pretend gzip js");
    write_file(&root.join("piped.js.gz"), "pretend gzip of a FIFO");
    write_file(&root.join("packed/index.html.gz"), "pretend gzip html");
    for fifo in [
        "pipe",
        "piped/index.html",
        "b.txt.gz",
        "lost.txt.gz",
        "listed/index.html.gz",
        "piped.js",
    ] {
        let made = std::process::Command::new("mkfifo")
            .arg(root.join(fifo))
            .status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo {fifo}");
    }
    let server = ActixHttps::new(d).args(["--static"]).args([&root]).start();
    // With Accept-Encoding the server looks for a precompressed sibling
    // first; app.js and big.bin have none, so the answer must be the one
    // sent without the header, 304s and ranges included.
    let without_date = |headers: &str| -> Vec<String> {
        headers
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("date:"))
            .map(str::to_owned)
            .collect()
    };
    for (path, extra, whole) in [
        ("/app.js", &[][..], Some(&b"console.log('hi')\n"[..])),
        ("/app.js", &["-H", "Range: bytes=2-5"][..], None),
        ("/app.js", &["-I"][..], None),
        ("/big.bin", &[][..], Some(&big[..])),
        ("/big.bin", &["-H", "Range: bytes=131000-140000"][..], None),
        ("/big.bin", &["-H", "Range: bytes=-5"][..], None),
        ("/big.bin", &["-I"][..], None),
        (
            "/big.bin",
            &["-H", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT"][..],
            None,
        ),
    ] {
        let (_, direct, direct_body) = fetch(&server, d, path, extra);
        let offered: Vec<&str> = [extra, &["-H", "Accept-Encoding: gzip, br"]].concat();
        let (_, via_files, files_body) = fetch(&server, d, path, &offered);
        assert_eq!(
            without_date(&direct),
            without_date(&via_files),
            "{path} {extra:?}\n{direct}\n{via_files}"
        );
        assert!(
            direct_body == files_body,
            "{path} {extra:?}: the bodies differ"
        );
        assert!(
            matches!(status(&direct), 200 | 206 | 304) && header(&direct, "etag").is_some(),
            "{direct}"
        );
        if let Some(whole) = whole {
            assert!(direct_body == whole, "{path}: not the file's bytes");
        }
    }
    let (_, h, part) = fetch(
        &server,
        d,
        "/big.bin",
        &["-H", "Range: bytes=131000-140000"],
    );
    assert_eq!(status(&h), 206, "{h}");
    assert!(
        part == big[131_000..=140_000],
        "the range's bytes are wrong"
    );
    let (_, h, _) = fetch(&server, d, "/app.js", &[]);
    let etag = header(&h, "etag").unwrap_or_default().to_owned();
    let (_, h, body) = fetch(
        &server,
        d,
        "/app.js",
        &["-H", &format!("If-None-Match: {etag}")],
    );
    assert_eq!((status(&h), body.len()), (304, 0), "{h}");
    // A FIFO is never read (reading would wait for a writer and stall the
    // worker): as the file, 404 at once; as an index file, 404; as a
    // sibling, passed over for the plain file, for nothing (404) or for
    // the directory's listing.
    let gzip = &["-H", "Accept-Encoding: gzip"][..];
    for (path, extra, code, expected) in [
        ("/pipe", &[][..], 404, ""),
        ("/pipe", gzip, 404, ""),
        ("/piped/", &[][..], 404, ""),
        ("/b.txt", gzip, 200, "plain b\n"),
        ("/lost.txt", gzip, 404, ""),
        ("/listed/", gzip, 200, "Index of /listed/"),
    ] {
        let timed: Vec<&str> = [extra, &["--max-time", "5"]].concat();
        let (_, h, body) = fetch(&server, d, path, &timed);
        assert_eq!(status(&h), code, "{path} {extra:?}\n{h}");
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains(expected), "{path}: {body}");
        assert_eq!(header(&h, "content-encoding"), None, "{h}");
    }
    // A sibling without its original, or in place of a FIFO, is served, as
    // the original's type, when the client takes its encoding; otherwise
    // the file is missing or a FIFO (404) or the directory has no index
    // file (its listing).
    let (_, plain_js, _) = fetch(&server, d, "/app.js", &[]);
    for (path, kind, pretend, otherwise) in [
        (
            "/only.js",
            header(&plain_js, "content-type"),
            "pretend gzip js",
            404,
        ),
        (
            "/piped.js",
            header(&plain_js, "content-type"),
            "pretend gzip of a FIFO",
            404,
        ),
        (
            "/packed/",
            Some("text/html; charset=utf-8"),
            "pretend gzip html",
            200,
        ),
    ] {
        let (_, h, body) = fetch(&server, d, path, gzip);
        assert_eq!(status(&h), 200, "{path}\n{h}");
        assert_eq!(body, pretend.as_bytes(), "{path}\n{h}");
        assert_eq!(header(&h, "content-encoding"), Some("gzip"), "{h}");
        assert_eq!(header(&h, "vary"), Some("accept-encoding"), "{h}");
        assert!(kind.is_some() && header(&h, "content-type") == kind, "{h}");
        let (_, h, body) = fetch(&server, d, path, &[]);
        assert_eq!(status(&h), otherwise, "{path} without Accept-Encoding\n{h}");
        assert_ne!(body, pretend.as_bytes(), "{path} without Accept-Encoding");
    }
    let (_, h, body) = fetch(&server, d, "/app.js", &[]);
    assert_eq!((status(&h), body.len()), (200, 18), "{h}");
}
