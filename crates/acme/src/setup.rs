//! The page at the scope's own path (`/acme`) and the root downloads
//! (`/acme/root.pem`, `/acme/root.der`): what every ACME client needs first
//! is to trust the endpoint, so the page gives the directory URL, the
//! root, and a setup for each client that works when pasted.

use actix_web::HttpResponse;
use actix_web::http::header;
use openssl::base64::encode_block;
use pki::Certificate;

/// Where a client saves the root, in the page's snippets.
const ROOT_FILE: &str = "dev-root.pem";

/// The setup of each client (certbot, lego, Caddy, Traefik,
/// cert-manager), for the page and the banner: `directory` is the
/// directory URL, `root_file` where the client finds the root,
/// `root_pem` the root itself (for cert-manager's `caBundle`).
pub fn client_setups(
    directory: &str,
    root_file: &str,
    root_pem: &str,
    http_port: u16,
) -> Vec<(&'static str, String)> {
    let bundle = encode_block(root_pem.as_bytes()).replace('\n', "");
    let root = shell_quoted(root_file);
    // The port http-01 validation connects to, when it is not 80.
    let (certbot_port, lego_port) = if http_port == 80 {
        (String::new(), String::new())
    } else {
        (
            format!(" --http-01-port {http_port}"),
            format!(" --http.port :{http_port}"),
        )
    };
    vec![
        (
            "certbot",
            format!(
                "REQUESTS_CA_BUNDLE={root} certbot certonly --standalone{certbot_port} \\\n  --server {directory} \\\n  -d app.localhost --agree-tos -m you@example.com"
            ),
        ),
        (
            "lego",
            format!(
                "LEGO_CA_CERTIFICATES={root} lego --server {directory} \\\n  --accept-tos --email you@example.com --domains app.localhost --http{lego_port} run"
            ),
        ),
        (
            "Caddy (Caddyfile global options)",
            format!(
                "{{\n  acme_ca {directory}\n  acme_ca_root {}\n}}",
                caddyfile_quoted(root_file)
            ),
        ),
        (
            "Traefik (static configuration; run Traefik with LEGO_CA_CERTIFICATES set to the root)",
            format!(
                "certificatesResolvers:\n  dev:\n    acme:\n      caServer: {directory}\n      email: you@example.com\n      storage: acme.json\n      httpChallenge:\n        entryPoint: web"
            ),
        ),
        (
            "cert-manager",
            format!(
                "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: dev-ca\nspec:\n  acme:\n    server: {directory}\n    caBundle: {bundle}\n    privateKeySecretRef:\n      name: dev-ca-account\n    solvers:\n      - http01:\n          ingress: {{}}"
            ),
        ),
    ]
}

/// A path as a shell word: as it is when that is safe, else in single quotes.
fn shell_quoted(path: &str) -> String {
    let plain = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@".contains(&b));
    if plain && !path.is_empty() {
        path.to_owned()
    } else {
        format!("'{}'", path.replace('\'', "'\\''"))
    }
}

/// A path as a Caddyfile token: in double quotes when it has a space or quote.
fn caddyfile_quoted(path: &str) -> String {
    if path.is_empty() || path.contains(|c: char| c.is_whitespace() || c == '"' || c == '`') {
        format!("\"{}\"", path.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        path.to_owned()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The setup page.
pub(crate) fn page(base: &str, root: &Certificate, http_port: u16) -> HttpResponse {
    let pem = root
        .to_pem()
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .unwrap_or_default();
    let directory = format!("{base}/directory");
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>ACME server</title></head><body>\
         <h1>ACME server of the development CA</h1>\
         <p>Directory URL: <code>{d}</code></p>\
         <p>Clients must trust the root first: \
         <a href=\"{b}/root.pem\">root.pem</a> (PEM) or <a href=\"{b}/root.der\">root.der</a> (DER). \
         Save it as <code>{ROOT_FILE}</code> for the commands below.</p>\
         <p>Root: {s}</p>",
        d = escape(&directory),
        b = escape(base),
        s = escape(&root.subject()),
    );
    for (client, setup) in client_setups(&directory, ROOT_FILE, &pem, http_port) {
        html.push_str(&format!(
            "<h2>{}</h2><pre>{}</pre>",
            escape(client),
            escape(&setup)
        ));
    }
    html.push_str("</body></html>");
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// The root, PEM or DER.
pub(crate) fn root(root: &Certificate, der: bool) -> HttpResponse {
    let (bytes, kind) = if der {
        (root.to_der(), "application/pkix-cert")
    } else {
        (root.to_pem(), "application/x-pem-file")
    };
    match bytes {
        Ok(bytes) => HttpResponse::Ok()
            .content_type(kind)
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"dev-root.{}\"",
                    if der { "der" } else { "pem" }
                ),
            ))
            .body(bytes),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_the_shell_when_needed() {
        assert_eq!(
            shell_quoted("/home/me/.local/share/pki/rootCA.pem"),
            "/home/me/.local/share/pki/rootCA.pem"
        );
        assert_eq!(shell_quoted("/tmp/my ca/root.pem"), "'/tmp/my ca/root.pem'");
        assert_eq!(shell_quoted("/tmp/it's.pem"), "'/tmp/it'\\''s.pem'");
        assert_eq!(
            caddyfile_quoted("/tmp/my ca/root.pem"),
            "\"/tmp/my ca/root.pem\""
        );
        assert_eq!(caddyfile_quoted("/a/b.pem"), "/a/b.pem");
    }
}
