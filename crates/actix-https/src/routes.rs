//! What the binary serves where: `--static [PATH=]DIR` directories and
//! `--proxy [PATH=]URL` apps by URL prefix (the longest prefix wins), and
//! its own pages (`/`, `/whoami`, `/health`), which step aside to
//! `/_actix-https/` when the app owns `/`, so the app's own `/health` is
//! the app's.

use std::path::PathBuf;

use actix_https::proxy::Upstream;
use actix_web::web;
use anyhow::{Result, bail};

/// Where the server's own pages go when `/` belongs to the app.
pub const PAGES_ASIDE: &str = "/_actix-https";

/// One `--static` or `--proxy` entry.
#[derive(Debug, Clone)]
pub struct Mount {
    /// The URL prefix: `/`, or `/docs` (no trailing slash).
    pub prefix: String,
    /// What answers under it.
    pub target: Target,
}

/// What answers under a prefix.
#[derive(Debug, Clone)]
pub enum Target {
    /// The files of this directory, as given.
    Dir(PathBuf),
    /// The app at this URL.
    Proxy(Upstream),
}

/// Every route, in the order they are matched.
#[derive(Debug, Clone)]
pub struct Routes {
    mounts: Vec<Mount>,
}

impl Routes {
    /// From the `--static` values (`[PATH=]DIR`, each directory existing
    /// and readable) and the `--proxy` values (`[PATH=]URL`).
    pub fn from_args(statics: &[String], proxies: &[String]) -> Result<Self> {
        let mut mounts: Vec<Mount> = Vec::new();
        let entries = statics
            .iter()
            .map(|e| ("--static", e))
            .chain(proxies.iter().map(|e| ("--proxy", e)));
        for (flag, entry) in entries {
            let (prefix, value) = parse_mount(flag, entry)?;
            let target = if flag == "--static" {
                let dir = PathBuf::from(value);
                if let Err(why) = actix_https::files::check_dir(&dir) {
                    bail!("--static {entry:?}: {why}; give a directory to serve");
                }
                Target::Dir(dir)
            } else {
                match Upstream::parse(value) {
                    Ok(upstream) => Target::Proxy(upstream),
                    Err(why) => bail!("--proxy {entry:?}: {why}"),
                }
            };
            if let Some(other) = mounts.iter().find(|m| m.prefix == prefix) {
                bail!(
                    "{flag} {entry:?}: {prefix} is already served by {}; give each its own PATH",
                    describe_target(&other.target)
                );
            }
            mounts.push(Mount { prefix, target });
        }
        // actix-web tries services in order: the longest prefix first.
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        Ok(Routes { mounts })
    }

    /// The prefix of the server's own pages: `""` (they are at `/`) or
    /// [`PAGES_ASIDE`] when a directory is served at `/`.
    pub fn pages_prefix(&self) -> &'static str {
        if self.mounts.iter().any(|m| m.prefix == "/") {
            PAGES_ASIDE
        } else {
            ""
        }
    }

    /// Registers everything on an `App`.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        match self.pages_prefix() {
            "" => {
                cfg.configure(actix_https::pages::routes);
            }
            prefix => {
                cfg.service(web::scope(prefix).configure(actix_https::pages::routes));
            }
        }
        for mount in &self.mounts {
            match &mount.target {
                Target::Dir(dir) => {
                    cfg.service(actix_https::files::static_files(&mount.prefix, dir));
                }
                Target::Proxy(upstream) => {
                    cfg.service(actix_https::proxy::reverse_proxy(
                        &mount.prefix,
                        upstream.clone(),
                    ));
                }
            }
        }
    }

    /// Lines for the banner: what is served where, under `base` (`https://localhost:8443`).
    pub fn describe(&self, base: &str) -> Vec<String> {
        let mut lines: Vec<String> = self
            .mounts
            .iter()
            .map(|m| {
                format!(
                    "{base}{} → {}",
                    slash_form(&m.prefix),
                    describe_target(&m.target)
                )
            })
            .collect();
        let pages = self.pages_prefix();
        if !pages.is_empty() {
            lines.push(format!(
                "server pages moved aside: {base}{pages}/, {base}{pages}/whoami, {base}{pages}/health"
            ));
        }
        lines
    }

    /// The URL path the banner's example request asks for: the app's
    /// root if it has one, else the first mount, else the server's page.
    pub fn example_path(&self) -> String {
        match self.mounts.iter().find(|m| m.prefix != "/") {
            Some(m) if self.pages_prefix().is_empty() => slash_form(&m.prefix),
            _ => "/".to_owned(),
        }
    }
}

/// `files in /abs/site` or `the app at http://127.0.0.1:5000`.
fn describe_target(target: &Target) -> String {
    match target {
        Target::Dir(dir) => {
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
            format!("files in {}", dir.display())
        }
        Target::Proxy(upstream) => format!("the app at {}", upstream.url()),
    }
}

/// `/docs` as a directory URL: `/docs/`.
fn slash_form(prefix: &str) -> String {
    if prefix == "/" {
        "/".to_owned()
    } else {
        format!("{prefix}/")
    }
}

/// `[PATH=]VALUE`: a PATH starts with `/`; without one, VALUE is served at `/`.
fn parse_mount<'a>(flag: &str, entry: &'a str) -> Result<(String, &'a str)> {
    let (prefix, value) = match entry.split_once('=') {
        Some((path, value)) if path.starts_with('/') => (path, value),
        _ => ("/", entry),
    };
    if value.is_empty() {
        bail!(
            "{flag} {entry:?}: give what to serve after the PATH, as {} (e.g. {})",
            if flag == "--static" {
                "[PATH=]DIR"
            } else {
                "[PATH=]URL"
            },
            if flag == "--static" {
                "/docs=./site"
            } else {
                "/api=http://127.0.0.1:8000"
            }
        );
    }
    let trimmed = prefix.trim_end_matches('/');
    let prefix = if trimmed.is_empty() { "/" } else { trimmed };
    // RFC 3986 path characters only (no `%`, and none of actix-router's
    // pattern syntax, `{` `}`, which would turn a prefix into a pattern).
    let path_char = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c);
    let bad_segment = prefix
        .split('/')
        .skip(1)
        .find(|s| s.is_empty() || *s == "." || *s == ".." || !s.chars().all(path_char));
    if let (true, Some(segment)) = (prefix != "/", bad_segment) {
        bail!(
            "{flag} {entry:?}: the path {prefix} has a segment {segment:?} no URL prefix can have; \
             write it as /name or /name/sub"
        );
    }
    if prefix == PAGES_ASIDE || prefix.starts_with(&format!("{PAGES_ASIDE}/")) {
        bail!(
            "{flag} {entry:?}: {PAGES_ASIDE} is where the server keeps its own pages; choose another PATH"
        );
    }
    Ok((prefix.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_parse_with_and_without_a_path() {
        let m = parse_mount("--static", "./site").unwrap();
        assert_eq!(m, ("/".to_owned(), "./site"));
        let m = parse_mount("--static", "/docs/=./a=b").unwrap();
        assert_eq!(m, ("/docs".to_owned(), "./a=b"));
        let m = parse_mount("--static", "dir=with=equals").unwrap();
        assert_eq!(m, ("/".to_owned(), "dir=with=equals"));
        let m = parse_mount("--proxy", "http://127.0.0.1:5000/?a=b").unwrap();
        assert_eq!(m, ("/".to_owned(), "http://127.0.0.1:5000/?a=b"));
        let m = parse_mount("--proxy", "/api=http://127.0.0.1:8000").unwrap();
        assert_eq!(m, ("/api".to_owned(), "http://127.0.0.1:8000"));
        for bad in [
            "/a/../b=d",
            "/a//b=d",
            "/%2e=d",
            "/_actix-https=d",
            "/docs=",
            "/a{=d",
            "/{x}=d",
        ] {
            let err = parse_mount("--static", bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
