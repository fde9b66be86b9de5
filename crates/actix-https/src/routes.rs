//! What the binary serves where: `--static [PATH=]DIR` directories by URL
//! prefix (the longest prefix wins), and its own pages (`/`, `/whoami`,
//! `/health`), which step aside to `/_actix-https/` when a directory is
//! served at `/`, so the app's own `/health` is the app's.

use std::path::PathBuf;

use actix_web::web;
use anyhow::{Result, bail};

/// Where the server's own pages go when `/` belongs to the app.
pub const PAGES_ASIDE: &str = "/_actix-https";

/// One `--static` entry.
#[derive(Debug, Clone)]
pub struct Mount {
    /// The URL prefix: `/`, or `/docs` (no trailing slash).
    pub prefix: String,
    /// The directory, as given.
    pub dir: PathBuf,
}

/// Every route, in the order they are matched.
#[derive(Debug, Clone)]
pub struct Routes {
    mounts: Vec<Mount>,
}

impl Routes {
    /// From the `--static` values, each `[PATH=]DIR`; every directory must
    /// exist and be readable.
    pub fn from_args(statics: &[String]) -> Result<Self> {
        let mut mounts: Vec<Mount> = Vec::new();
        for entry in statics {
            let mount = parse_mount(entry)?;
            if let Err(why) = actix_https::files::check_dir(&mount.dir) {
                bail!("--static {entry:?}: {why}; give a directory to serve");
            }
            if let Some(other) = mounts.iter().find(|m| m.prefix == mount.prefix) {
                bail!(
                    "--static {entry:?}: {} is already served from {}; give each directory its own PATH",
                    mount.prefix,
                    other.dir.display()
                );
            }
            mounts.push(mount);
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
            cfg.service(actix_https::files::static_files(&mount.prefix, &mount.dir));
        }
    }

    /// Lines for the banner: what is served where, under `base` (`https://localhost:8443`).
    pub fn describe(&self, base: &str) -> Vec<String> {
        let mut lines: Vec<String> = self
            .mounts
            .iter()
            .map(|m| {
                let dir = std::fs::canonicalize(&m.dir).unwrap_or_else(|_| m.dir.clone());
                format!(
                    "{base}{} → files in {}",
                    slash_form(&m.prefix),
                    dir.display()
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

    /// The URL path the banner's example request asks for.
    pub fn example_path(&self) -> String {
        match self.mounts.iter().find(|m| m.prefix != "/") {
            Some(m) if self.pages_prefix().is_empty() => slash_form(&m.prefix),
            _ => "/".to_owned(),
        }
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

/// `[PATH=]DIR`: a PATH starts with `/`; without one the directory is served at `/`.
fn parse_mount(entry: &str) -> Result<Mount> {
    let (prefix, dir) = match entry.split_once('=') {
        Some((path, dir)) if path.starts_with('/') => (path, dir),
        _ => ("/", entry),
    };
    if dir.is_empty() {
        bail!("--static {entry:?}: give the directory to serve, as [PATH=]DIR (e.g. /docs=./site)");
    }
    let trimmed = prefix.trim_end_matches('/');
    let prefix = if trimmed.is_empty() { "/" } else { trimmed };
    let bad_segment = prefix
        .split('/')
        .skip(1)
        .find(|s| s.is_empty() || *s == "." || *s == ".." || s.contains(['?', '#', '%', '*']));
    if let (true, Some(segment)) = (prefix != "/", bad_segment) {
        bail!(
            "--static {entry:?}: the path {prefix} has a segment {segment:?} no URL prefix can have; \
             write it as /name or /name/sub"
        );
    }
    if prefix == PAGES_ASIDE || prefix.starts_with(&format!("{PAGES_ASIDE}/")) {
        bail!(
            "--static {entry:?}: {PAGES_ASIDE} is where the server keeps its own pages; choose another PATH"
        );
    }
    Ok(Mount {
        prefix: prefix.to_owned(),
        dir: PathBuf::from(dir),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_parse_with_and_without_a_path() {
        let m = parse_mount("./site").unwrap();
        assert_eq!((m.prefix.as_str(), m.dir.to_str()), ("/", Some("./site")));
        let m = parse_mount("/docs/=./a=b").unwrap();
        assert_eq!(
            (m.prefix.as_str(), m.dir.to_str()),
            ("/docs", Some("./a=b"))
        );
        let m = parse_mount("dir=with=equals").unwrap();
        assert_eq!(
            (m.prefix.as_str(), m.dir.to_str()),
            ("/", Some("dir=with=equals"))
        );
        for bad in [
            "/a/../b=d",
            "/a//b=d",
            "/%2e=d",
            "/_actix-https=d",
            "/docs=",
        ] {
            let err = parse_mount(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
