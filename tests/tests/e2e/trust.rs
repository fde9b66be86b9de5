//! `pki trust`: every store changed by its own real tool and judged by its
//! own real client, never on this machine's own trust.
//!
//! - System: `update-ca-certificates` runs inside a private mount namespace
//!   whose `/etc/ssl/certs` and `/usr/local/share/ca-certificates` are temp
//!   copies, and a plain `curl` (no `--cacert`, no `-k`) in the same
//!   namespace is the judge. The real files are compared before and after.
//! - NSS: temp NSS databases under a temp HOME, judged by headless Chromium.
//! - Java: a temp copy of the runtime's `cacerts`, judged by `java Client.java`.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use e2e::{
    Output, Server, TestCommand, chromium_dump, mode, nss_db, nss_home, pki, read_file, read_text,
    require_tools, skip, tempdir, workspace_bin, write_file,
};
use pki::ca::{CA_CERT_FILE, CA_KEY_FILE};
use tempfile::TempDir;

/// What the server's `/` says.
const HTTPS_PAGE: &str = "This page is served over HTTPS.";

/// What Java says when no trusted CA vouches for the server.
const PKIX_FAILURE: &str = "PKIX path building failed";

/// The zero-config `actix-https` in `dir`: it makes the CA in `dir/ca` and
/// serves a localhost certificate from it.
fn start_server(dir: &Path) -> Server {
    let bin = workspace_bin("actix-https", "actix-https");
    let dir = dir.to_path_buf();
    Server::start(
        "actix-https",
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        "Serving ",
        move |port| {
            let mut cmd = Command::new(&bin);
            cmd.current_dir(&dir)
                .arg("--bind")
                .arg(format!("127.0.0.1:{port}"))
                .args(["--workers", "1"])
                .env("CAROOT", dir.join("ca"))
                .env_remove("XDG_DATA_HOME");
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("ACTIX_HTTPS_") {
                    cmd.env_remove(key);
                }
            }
            cmd
        },
    )
}

/// `pki trust ARGS…` for the CA in `dir/ca`, with HOME set to `home`.
fn trust(dir: &Path, home: &Path, args: &[&str]) -> TestCommand {
    let mut cmd = pki(dir);
    cmd.env("HOME", home).arg("trust").args(args);
    cmd
}

/// Asserts that `needle` occurs exactly `n` times on stdout.
fn assert_count(out: &Output, needle: &str, n: usize) {
    assert_eq!(
        out.stdout.matches(needle).count(),
        n,
        "expected {n} × {needle:?}\n{out}"
    );
}

// ---------------------------------------------------------------------------
// System store, in a private mount namespace
// ---------------------------------------------------------------------------

/// The files of the real system store, to prove the tests never changed them.
fn real_system_store() -> (Vec<u8>, Vec<String>, Vec<String>) {
    let names = |dir: &str| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    (
        fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default(),
        names("/etc/ssl/certs"),
        names("/usr/local/share/ca-certificates"),
    )
}

/// A private mount namespace in which `/etc/ssl/certs`,
/// `/usr/local/share/ca-certificates`, `/etc/ca-certificates.conf` and the
/// update hooks are temp copies: `update-ca-certificates` run inside changes
/// only those. A `sleep` holds the namespace; commands enter it with `nsenter`.
struct IsolatedSystem {
    holder: Child,
    pid: String,
    root: TempDir,
    /// Not root: the namespace comes with a user namespace mapping us to root.
    rootless: bool,
}

impl IsolatedSystem {
    /// The namespace, or `None` (after a loud skip) where this machine cannot
    /// make one; on CI that is a failure.
    fn new() -> Option<IsolatedSystem> {
        if !require_tools(&["unshare", "nsenter", "mount", "update-ca-certificates"]) {
            return None;
        }
        // Only Debian's directories are swapped for temp copies: elsewhere
        // pki would pick another distribution's real directories.
        let release = fs::read_to_string("/etc/os-release").unwrap_or_default();
        if pki_trust::Distro::from_os_release(&release) != Some(pki_trust::Distro::Debian) {
            if std::env::var_os("CI").is_some() {
                panic!("the system-store tests need a Debian-like CI machine");
            }
            skip("not a Debian-like system: the system-store tests did NOT run");
            return None;
        }
        let root = tempdir();
        let r = root.path();
        let copy = |from: &str, to: &Path| {
            let status = Command::new("cp")
                .arg("-a")
                .arg(from)
                .arg(to)
                .status()
                .unwrap();
            assert!(status.success(), "cp -a {from} {}", to.display());
        };
        copy("/etc/ssl/certs", &r.join("certs"));
        fs::create_dir(r.join("local")).unwrap();
        fs::create_dir(r.join("hooks")).unwrap();
        copy("/etc/ca-certificates.conf", &r.join("ca-certificates.conf"));

        let rootless = !e2e::is_root();
        let mut holder = Command::new("unshare")
            .args(rootless.then_some("--map-root-user"))
            .args(["--mount", "--propagation", "private", "sleep", "600"])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = holder.id().to_string();
        // Only once `sleep` runs has unshare made the namespace: entering
        // the pid earlier would mount over the real directories.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = holder.try_wait() {
                let mut why = String::new();
                if let Some(mut err) = holder.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut err, &mut why);
                }
                if std::env::var_os("CI").is_some() {
                    panic!("cannot make a private mount namespace ({status}): {why}");
                }
                skip(&format!(
                    "cannot make a private mount namespace (run as root): {why}; the system-store test did NOT run"
                ));
                return None;
            }
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                break;
            }
            assert!(Instant::now() < deadline, "unshare did not start sleep");
            thread::sleep(Duration::from_millis(10));
        }
        let ours = fs::read_link("/proc/self/ns/mnt").unwrap();
        let theirs = fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
        assert_ne!(ours, theirs, "the holder is not in a namespace of its own");

        let isolated = IsolatedSystem {
            holder,
            pid,
            root,
            rootless,
        };
        let mut mounts = vec![
            ("certs", "/etc/ssl/certs"),
            ("local", "/usr/local/share/ca-certificates"),
            ("ca-certificates.conf", "/etc/ca-certificates.conf"),
        ];
        if Path::new("/etc/ca-certificates/update.d").is_dir() {
            mounts.push(("hooks", "/etc/ca-certificates/update.d"));
        }
        for (from, to) in mounts {
            isolated
                .enter("mount")
                .arg("--bind")
                .arg(isolated.root.path().join(from))
                .arg(to)
                .assert_success();
        }
        // Prove the isolation before anything writes: a marker in each temp
        // directory shows inside the namespace and not outside.
        for (dir, real) in [
            ("local", "/usr/local/share/ca-certificates"),
            ("certs", "/etc/ssl/certs"),
        ] {
            let marker = ".pki-isolation-marker";
            write_file(&isolated.root.path().join(dir).join(marker), "x");
            isolated
                .enter("test")
                .arg("-e")
                .arg(format!("{real}/{marker}"))
                .assert_success();
            assert!(
                !Path::new(real).join(marker).exists(),
                "{real} is not isolated"
            );
            fs::remove_file(isolated.root.path().join(dir).join(marker)).unwrap();
        }
        Some(isolated)
    }

    /// `program` run inside the namespace, with no CA file or proxy from the
    /// caller's environment that would change what curl trusts.
    fn enter(&self, program: impl AsRef<std::ffi::OsStr>) -> TestCommand {
        let mut cmd = TestCommand::new("nsenter");
        cmd.args(["--target", &self.pid])
            .args(self.rootless.then_some("--user"))
            .args(["--mount", "--"])
            .arg(program)
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .env_remove("CURL_CA_BUNDLE")
            .env_remove("TRUST_STORES")
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY");
        cmd
    }

    /// `pki trust ARGS…` inside the namespace, for the CA in `dir/ca`.
    fn pki_trust(&self, dir: &Path, args: &[&str]) -> TestCommand {
        let mut cmd = self.enter(workspace_bin("pki-cli", "pki"));
        cmd.env("CAROOT", dir.join("ca"))
            .env("HOME", dir)
            .arg("trust")
            .args(args);
        cmd
    }

    /// A plain `curl URL` inside the namespace: the system bundle is all it trusts.
    fn curl(&self, url: &str) -> Output {
        self.enter("curl")
            .args(["--silent", "--show-error", "--max-time", "20"])
            .arg(url)
            .output()
    }

    /// The anchors directory as the namespace sees it.
    fn anchors(&self) -> PathBuf {
        self.root.path().join("local")
    }
}

impl Drop for IsolatedSystem {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The file names in `dir`.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn system_store_install_makes_plain_curl_trust_and_uninstall_undoes_it() {
    if !require_tools(&["curl", "python3"]) {
        return;
    }
    let before = real_system_store();
    let Some(ns) = IsolatedSystem::new() else {
        return;
    };
    let dir = tempdir();
    let d = dir.path();
    let server = start_server(d);
    let url = server.url("localhost");
    let root_pem = read_file(&d.join("ca").join(CA_CERT_FILE));
    // Someone else's local CA, already trusted: it must stay so.
    let other = pki::Ca::generate(&pki::CaParams::new().common_name("someone else's CA")).unwrap();
    let other_pem = String::from_utf8(other.certificate().to_pem().unwrap()).unwrap();
    write_file(&ns.anchors().join("someone-else.crt"), &other_pem);
    ns.enter("update-ca-certificates").assert_success();
    let bundle = || read_text(&ns.root.path().join("certs/ca-certificates.crt"));
    assert!(bundle().contains(other_pem.trim()));

    // Before: curl refuses (60: the peer's certificate is not trusted).
    let out = ns.curl(&url);
    assert_eq!(
        out.code(),
        Some(60),
        "curl should not trust the CA yet\n{out}"
    );
    let out = ns.pki_trust(d, &["status", "--store", "system"]).output();
    out.assert_code(1)
        .assert_stdout_contains("system: not installed in the system store (/usr/local/share/ca-certificates, update-ca-certificates)")
        .assert_stdout_contains("Not trusted by: system. To trust it: pki trust install");

    // Install: an anchor file in the distribution's place, the bundle rebuilt.
    let out = ns.pki_trust(d, &["install", "--store", "system"]).output();
    out.assert_code(0)
        .assert_stdout_contains("system: installed now in /usr/local/share/ca-certificates/pki-")
        .assert_stdout_contains("curl, Python and OpenSSL now trust");
    let mut anchors = listing(&ns.anchors());
    anchors.retain(|name| name != "someone-else.crt");
    assert_eq!(anchors.len(), 1, "{anchors:?}");
    let anchor = ns.anchors().join(&anchors[0]);
    assert!(
        anchors[0].starts_with("pki-") && anchors[0].ends_with(".crt"),
        "{anchors:?}"
    );
    assert_eq!(mode(&anchor), 0o644);
    assert_eq!(read_file(&anchor), root_pem);
    let root_text = String::from_utf8(root_pem.clone()).unwrap();
    assert!(
        bundle().contains(root_text.trim()),
        "the rebuilt bundle lacks the CA"
    );

    // After: plain curl and Python's default context trust the server.
    let out = ns.curl(&url);
    assert_eq!(out.code(), Some(0), "curl should trust the CA now\n{out}");
    out.assert_stdout_contains(HTTPS_PAGE);
    ns.enter("python3")
        .arg("-c")
        .arg("import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())")
        .arg(&url)
        .assert_success()
        .assert_stdout_contains(HTTPS_PAGE);

    // Twice is once.
    ns.pki_trust(d, &["install", "--store", "system"])
        .output()
        .assert_code(0)
        .assert_stdout_contains(
            "system: already installed in /usr/local/share/ca-certificates/pki-",
        );
    assert_eq!(listing(&ns.anchors()).len(), 2);
    ns.pki_trust(d, &["status", "--store", "system"])
        .output()
        .assert_code(0)
        .assert_stdout_contains("system: installed in the system store")
        .assert_stdout_contains("Trusted by every store present.");

    // Uninstall: the anchor goes, curl refuses again, the CA files stay.
    let out = ns
        .pki_trust(d, &["uninstall", "--store", "system"])
        .output();
    out.assert_code(0).assert_stdout_contains(&format!(
        "system: removed from {}",
        Path::new("/usr/local/share/ca-certificates")
            .join(&anchors[0])
            .display()
    ));
    assert_eq!(listing(&ns.anchors()), ["someone-else.crt"]);
    assert!(!bundle().contains(root_text.trim()));
    assert!(
        bundle().contains(other_pem.trim()),
        "someone else's CA was removed too"
    );
    let out = ns.curl(&url);
    assert_eq!(
        out.code(),
        Some(60),
        "curl should not trust the CA after uninstall\n{out}"
    );
    ns.pki_trust(d, &["uninstall", "--store", "system"])
        .output()
        .assert_code(0)
        .assert_stdout_contains("system: was not installed in the system store");
    assert!(d.join("ca").join(CA_CERT_FILE).is_file());
    assert!(d.join("ca").join(CA_KEY_FILE).is_file());

    drop(ns);
    assert!(
        before == real_system_store(),
        "the machine's own system store changed"
    );
}

/// A `sudo` for tests: it logs its arguments, then refuses when
/// `$FAKE_SUDO_REFUSE` is set, else runs the command as the caller (who, in
/// the namespace, owns the temp copies of the store).
const FAKE_SUDO: &str = r#"#!/bin/sh
echo "$*" >> "$FAKE_SUDO_LOG"
if [ -n "$FAKE_SUDO_REFUSE" ]; then
    echo 'sudo: a password is required' >&2
    exit 1
fi
[ "$1" = "--" ] && shift
exec "$@"
"#;

#[test]
fn without_root_pki_announces_sudo_and_works_through_it_or_reports_a_refusal() {
    if !require_tools(&["setpriv", "curl"]) {
        return;
    }
    let Some(ns) = IsolatedSystem::new() else {
        return;
    };
    // What an unprivileged user needs: the CA certificate alone, pki, and
    // a `sudo` (see FAKE_SUDO), all readable by anyone.
    let dir = tempdir();
    let d = dir.path();
    fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir(d.join("server")).unwrap();
    let server = start_server(&d.join("server"));
    let url = server.url("localhost");
    fs::create_dir(d.join("ca")).unwrap();
    fs::copy(
        d.join("server/ca").join(CA_CERT_FILE),
        d.join("ca").join(CA_CERT_FILE),
    )
    .unwrap();
    let bin = d.join("bin");
    fs::create_dir(&bin).unwrap();
    let log = d.join("sudo.log");
    write_file(&log, "");
    fs::set_permissions(&log, fs::Permissions::from_mode(0o666)).unwrap();
    write_file(&bin.join("sudo"), FAKE_SUDO);
    fs::set_permissions(bin.join("sudo"), fs::Permissions::from_mode(0o755)).unwrap();
    let pki_bin = bin.join("pki");
    fs::copy(workspace_bin("pki-cli", "pki"), &pki_bin).unwrap();
    fs::set_permissions(&pki_bin, fs::Permissions::from_mode(0o755)).unwrap();
    let root = e2e::is_root();
    if root {
        // nobody owns the namespace's copies, as root owns the real ones.
        let status = Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(ns.root.path().join("local"))
            .arg(ns.root.path().join("certs"))
            .status()
            .unwrap();
        assert!(status.success());
    }
    // As root: nobody, inside the namespace. Otherwise we already are an
    // unprivileged user, and nothing of root's can change.
    let pki_as_user = |args: &[&str], refuse: bool| -> Output {
        let mut cmd = if root {
            let mut cmd = ns.enter("setpriv");
            cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(&pki_bin);
            cmd
        } else {
            TestCommand::new(&pki_bin)
        };
        // No sbin on PATH, as for most users: pki must find
        // update-ca-certificates there by itself.
        cmd.arg("trust")
            .args(args)
            .env("CAROOT", d.join("ca"))
            .env("HOME", d)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("FAKE_SUDO_LOG", &log)
            .env_remove("FAKE_SUDO_REFUSE");
        if refuse {
            cmd.env("FAKE_SUDO_REFUSE", "1");
        }
        cmd.output()
    };

    // sudo refuses: said before it ran, reported, nothing written.
    let out = pki_as_user(&["install", "--store", "system"], true);
    out.assert_code(1)
        .assert_stderr_contains(
            "pki is not root; running: sudo /usr/bin/install -m 0644 /dev/stdin /usr/local/share/ca-certificates/pki-",
        )
        .assert_stdout_contains("system: failed in /usr/local/share/ca-certificates/pki-")
        .assert_stdout_contains("sudo: a password is required")
        .assert_stdout_contains("1 store could not be installed");
    let asked = read_text(&log);
    assert!(
        asked.starts_with(
            "-- /usr/bin/install -m 0644 /dev/stdin /usr/local/share/ca-certificates/pki-"
        ),
        "sudo was asked: {asked:?}"
    );
    assert_eq!(
        asked.lines().count(),
        1,
        "nothing more after a refusal: {asked:?}"
    );
    assert!(listing(&ns.anchors()).is_empty());
    if !root {
        skip("not root: the accepted-sudo half of this test did NOT run");
        return;
    }

    // sudo accepts: the anchor and the rebuild go through it, and curl trusts.
    write_file(&log, "");
    let out = pki_as_user(&["install", "--store", "system"], false);
    out.assert_code(0)
        .assert_stdout_contains("system: installed now in /usr/local/share/ca-certificates/pki-")
        .assert_stderr_contains("pki is not root; running: sudo /usr/sbin/update-ca-certificates");
    let asked = read_text(&log);
    let lines: Vec<&str> = asked.lines().collect();
    assert_eq!(lines.len(), 2, "{asked}");
    assert!(
        lines[0].starts_with("-- /usr/bin/install -m 0644 /dev/stdin "),
        "{asked}"
    );
    assert_eq!(lines[1], "-- /usr/sbin/update-ca-certificates");
    let anchors = listing(&ns.anchors());
    assert_eq!(anchors.len(), 1, "{anchors:?}");
    assert_eq!(mode(&ns.anchors().join(&anchors[0])), 0o644);
    let out = ns.curl(&url);
    assert_eq!(out.code(), Some(0), "curl should trust the CA now\n{out}");

    write_file(&log, "");
    pki_as_user(&["uninstall", "--store", "system"], false)
        .assert_code(0)
        .assert_stdout_contains("system: removed from /usr/local/share/ca-certificates/pki-");
    let asked = read_text(&log);
    assert!(
        asked.starts_with("-- /usr/bin/rm -f -- /usr/local/share/ca-certificates/pki-"),
        "{asked}"
    );
    assert!(
        asked.ends_with("-- /usr/sbin/update-ca-certificates --fresh\n"),
        "{asked}"
    );
    assert!(listing(&ns.anchors()).is_empty());
    let out = ns.curl(&url);
    assert_eq!(
        out.code(),
        Some(60),
        "curl should not trust the CA after uninstall\n{out}"
    );
}

// ---------------------------------------------------------------------------
// NSS: Chromium, Chrome and Firefox profiles
// ---------------------------------------------------------------------------

/// Asserts that Chromium refused the page for an unknown authority.
fn assert_chromium_refuses(out: &Output) {
    out.assert_stdout_lacks(HTTPS_PAGE);
    assert!(
        out.stderr.contains("ERR_CERT_AUTHORITY_INVALID")
            || out.stdout.contains("ERR_CERT_AUTHORITY_INVALID"),
        "chromium should refuse the certificate as from an unknown authority\n{out}"
    );
}

/// `certutil -L` of the database in `dir`.
fn certutil_list(dir: &Path) -> String {
    TestCommand::new("certutil")
        .arg("-L")
        .arg("-d")
        .arg(format!("sql:{}", dir.display()))
        .assert_success()
        .stdout
}

/// `certutil -A`: `cert` into the database in `dir` under `nickname`, as a
/// CA trusted for TLS servers (what browsers need and `pki` sets).
fn certutil_add(dir: &Path, nickname: &str, cert: &Path) {
    TestCommand::new("certutil")
        .arg("-A")
        .arg("-d")
        .arg(format!("sql:{}", dir.display()))
        .args(["-n", nickname, "-t", "C,,", "-i"])
        .arg(cert)
        .assert_success();
}

#[test]
fn nss_install_lets_chromium_load_the_page_and_uninstall_takes_it_back() {
    if !require_tools(&["chromium", "certutil"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let server = start_server(d);
    let url = server.url("localhost");
    let home = nss_home(d);
    let firefox = home.join(".mozilla/firefox/a1b2c3.default-release");
    nss_db(&firefox);
    let snap = home.join("snap/chromium/current/.pki/nssdb");
    nss_db(&snap);
    let flatpak = home.join(".var/app/org.chromium.Chromium/.pki/nssdb");
    nss_db(&flatpak);
    let places = [
        home.join(".pki/nssdb"),
        snap.clone(),
        flatpak.clone(),
        firefox.clone(),
    ];
    // Someone else's trusted CA in Chromium's database: it must stay.
    let other = pki::Ca::generate(&pki::CaParams::new().common_name("someone else's CA")).unwrap();
    let other_file = d.join("other.pem");
    write_file(&other_file, other.certificate().to_pem().unwrap());
    certutil_add(&home.join(".pki/nssdb"), "someone else", &other_file);

    assert_chromium_refuses(&chromium_dump(&home, &url));
    let out = trust(d, &home, &["status", "--store", "nss"]).output();
    out.assert_code(1);
    for place in &places {
        out.assert_stdout_contains(&format!("nss: not installed in {}", place.display()));
    }

    let out = trust(d, &home, &["install", "--store", "nss"]).output();
    out.assert_code(0)
        .assert_stdout_contains("Restart Chromium, Chrome or Firefox");
    for place in &places {
        out.assert_stdout_contains(&format!("nss: installed now in {}", place.display()));
    }
    let out = chromium_dump(&home, &url);
    assert!(out.status.success(), "chromium failed\n{out}");
    out.assert_stdout_contains(HTTPS_PAGE);
    let listed = certutil_list(&firefox);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("pki-") && l.trim_end().ends_with("C,,")),
        "the Firefox profile should hold the CA as trusted for TLS\n{listed}"
    );

    let out = trust(d, &home, &["install", "--store", "nss"]).output();
    out.assert_code(0).assert_stdout_lacks("installed now");
    assert_count(&out, "nss: already installed in ", 4);
    trust(d, &home, &["status", "--store", "nss"])
        .output()
        .assert_code(0)
        .assert_stdout_contains("Trusted by every store present.");

    let out = trust(d, &home, &["uninstall", "--store", "nss"]).output();
    out.assert_code(0);
    for place in &places {
        out.assert_stdout_contains(&format!("nss: removed from {}", place.display()));
    }
    assert_chromium_refuses(&chromium_dump(&home, &url));
    for place in &places {
        let listed = certutil_list(place);
        assert!(!listed.contains("pki-"), "{}\n{listed}", place.display());
    }
    let out = trust(d, &home, &["uninstall", "--store", "nss"]).output();
    out.assert_code(0);
    assert_count(&out, "nss: was not installed in ", 4);
    assert!(
        certutil_list(&home.join(".pki/nssdb")).contains("someone else"),
        "someone else's CA was removed too"
    );
}

// ---------------------------------------------------------------------------
// Java
// ---------------------------------------------------------------------------

/// A JAVA_HOME under `parent` whose `bin/keytool` is the real one and whose
/// `lib/security/cacerts` is a copy of the real runtime's trust store.
fn java_home_copy(parent: &Path) -> PathBuf {
    let real_home = real_java_home();
    let home = parent.join("jdk");
    fs::create_dir_all(home.join("bin")).unwrap();
    fs::create_dir_all(home.join("lib/security")).unwrap();
    std::os::unix::fs::symlink(real_home.join("bin/keytool"), home.join("bin/keytool")).unwrap();
    // A `java` that is a file of its own (not a link into the real runtime),
    // so that pki, finding it on PATH, takes this directory for JAVA_HOME.
    write_file(&home.join("bin/java"), "#!/bin/sh\nexit 1\n");
    fs::set_permissions(home.join("bin/java"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::copy(
        real_home.join("lib/security/cacerts"),
        home.join("lib/security/cacerts"),
    )
    .unwrap();
    home
}

/// The home of the Java runtime whose `java` is on PATH.
fn real_java_home() -> PathBuf {
    let java = fs::canonicalize(which("java")).unwrap();
    java.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

/// A Java HTTPS client: prints the status and body of a GET.
const JAVA_CLIENT: &str = r#"
import java.io.InputStream;
import java.net.URL;
import javax.net.ssl.HttpsURLConnection;

public class Client {
    public static void main(String[] args) throws Exception {
        HttpsURLConnection c = (HttpsURLConnection) new URL(args[0]).openConnection();
        c.setConnectTimeout(20000);
        c.setReadTimeout(20000);
        try (InputStream in = c.getInputStream()) {
            System.out.println(c.getResponseCode());
            System.out.println(new String(in.readAllBytes(), "UTF-8"));
        }
    }
}
"#;

/// `java Client.java url` trusting only the keystore `cacerts`.
fn java_get(dir: &Path, cacerts: &Path, url: &str) -> Output {
    let source = dir.join("Client.java");
    if !source.exists() {
        write_file(&source, JAVA_CLIENT);
    }
    TestCommand::new("java")
        .env_remove("JAVA_TOOL_OPTIONS")
        .env_remove("JDK_JAVA_OPTIONS")
        .arg(format!("-Djavax.net.ssl.trustStore={}", cacerts.display()))
        .arg("-Djavax.net.ssl.trustStorePassword=changeit")
        .arg(&source)
        .arg(url)
        .timeout(Duration::from_secs(90))
        .output()
}

#[test]
fn java_install_lets_a_java_client_connect_and_uninstall_takes_it_back() {
    if !require_tools(&["java", "keytool"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let server = start_server(d);
    let url = server.url("localhost");
    let java_home = java_home_copy(d);
    let cacerts = java_home.join("lib/security/cacerts");
    let real_cacerts = real_java_home().join("lib/security/cacerts");
    let real_before = read_file(&real_cacerts);
    let java_trust = |args: &[&str]| -> Output {
        let mut cmd = trust(d, d, args);
        cmd.env("JAVA_HOME", &java_home);
        cmd.output()
    };

    let out = java_get(d, &cacerts, &url);
    assert!(
        !out.status.success(),
        "java should not trust the CA yet\n{out}"
    );
    out.assert_stderr_contains(PKIX_FAILURE);
    java_trust(&["status", "--store", "java"])
        .assert_code(1)
        .assert_stdout_contains(&format!("java: not installed in {}", cacerts.display()));

    java_trust(&["install", "--store", "java"])
        .assert_code(0)
        .assert_stdout_contains(&format!("java: installed now in {}", cacerts.display()));
    let out = java_get(d, &cacerts, &url);
    assert!(out.status.success(), "java should trust the CA now\n{out}");
    out.assert_stdout_contains("200")
        .assert_stdout_contains(HTTPS_PAGE);

    java_trust(&["install", "--store", "java"])
        .assert_code(0)
        .assert_stdout_contains(&format!("java: already installed in {}", cacerts.display()));
    java_trust(&["status", "--store", "java"])
        .assert_code(0)
        .assert_stdout_contains(&format!("java: installed in {}", cacerts.display()));

    java_trust(&["uninstall", "--store", "java"])
        .assert_code(0)
        .assert_stdout_contains(&format!("java: removed from {}", cacerts.display()));
    let out = java_get(d, &cacerts, &url);
    assert!(
        !out.status.success(),
        "java should not trust the CA after uninstall\n{out}"
    );
    out.assert_stderr_contains(PKIX_FAILURE);
    java_trust(&["uninstall", "--store", "java"])
        .assert_code(0)
        .assert_stdout_contains("java: was not installed in ");
    assert_eq!(
        read_file(&real_cacerts),
        real_before,
        "the real cacerts changed"
    );
}

// ---------------------------------------------------------------------------
// Stores are independent; absence and failure are reported
// ---------------------------------------------------------------------------

#[test]
fn each_store_is_handled_on_its_own_and_failures_are_reported() {
    if !require_tools(&["certutil", "keytool"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let home = nss_home(d);
    let java_home = java_home_copy(d);
    let no_tools = d.join("empty-bin");
    fs::create_dir(&no_tools).unwrap();

    // No CA yet: status and uninstall refuse; install makes one, as mkcert does.
    trust(d, &home, &["status", "--store", "nss"])
        .output()
        .assert_code(2)
        .assert_stderr_contains(&format!("there is no CA in {}", d.join("ca").display()));
    trust(d, &home, &["uninstall", "--store", "nss"])
        .output()
        .assert_code(2);

    // No certutil: NSS fails and says which package has it; Java is still done.
    let out = trust(d, &home, &["install", "--store", "nss,java"])
        .env("JAVA_HOME", &java_home)
        .env("PATH", &no_tools)
        .output();
    out.assert_code(1)
        .assert_stdout_contains("Created a new local CA")
        .assert_stdout_contains("nss: failed: certutil is not installed; install libnss3-tools")
        .assert_stdout_contains("java: installed now in ")
        .assert_stdout_contains(
            "1 store could not be installed (see above); the others were handled.",
        );

    // A JAVA_HOME without Java: Java fails, NSS is still done.
    let bad = d.join("no-such-jdk");
    let out = trust(d, &home, &["install", "--store", "nss,java"])
        .env("JAVA_HOME", &bad)
        .output();
    out.assert_code(1)
        .assert_stdout_contains(&format!(
            "nss: installed now in {}",
            home.join(".pki/nssdb").display()
        ))
        .assert_stdout_contains(&format!(
            "java: failed: JAVA_HOME is {} but there is no {}",
            bad.display(),
            bad.join("bin/keytool").display()
        ));

    // A damaged Firefox profile fails on its own; TRUST_STORES picks the stores.
    let broken = home.join(".mozilla/firefox/broken.default");
    fs::create_dir_all(&broken).unwrap();
    write_file(&broken.join("cert9.db"), "this is not a database");
    let out = trust(d, &home, &["install"])
        .env("TRUST_STORES", "nss")
        .output();
    out.assert_code(1)
        .assert_stdout_contains(&format!(
            "nss: already installed in {}",
            home.join(".pki/nssdb").display()
        ))
        .assert_stdout_contains(&format!("nss: failed in {}: `", broken.display()))
        .assert_stdout_contains("certutil")
        .assert_stdout_lacks("system:")
        .assert_stdout_lacks("java:");
    fs::remove_dir_all(&broken).unwrap();

    // Status covers every store present; one absent store is reported as such.
    let bare_home = d.join("bare-home");
    fs::create_dir(&bare_home).unwrap();
    let out = trust(d, &bare_home, &["status", "--store", "nss,java"])
        .env_remove("JAVA_HOME")
        .env("PATH", &no_tools)
        .output();
    out.assert_code(1)
        .assert_stdout_contains(&format!(
            "nss: absent (no NSS database in {}/.pki/nssdb",
            bare_home.display()
        ))
        .assert_stdout_contains("java: absent (JAVA_HOME is not set and there is no java on PATH)");
    let out = trust(d, &home, &["status"])
        .env("TRUST_STORES", "java,nss")
        .env("JAVA_HOME", &java_home)
        .output();
    out.assert_code(0)
        .assert_stdout_contains("nss: installed in ")
        .assert_stdout_contains("java: installed in ");
    assert!(
        out.stdout.find("nss:") < out.stdout.find("java:"),
        "stores are reported in a fixed order\n{out}"
    );

    // TRUST_STORES as mkcert reads it: spaces allowed, absence is no failure.
    let out = trust(d, &bare_home, &["install"])
        .env("TRUST_STORES", " nss, java")
        .env_remove("JAVA_HOME")
        .env("PATH", &no_tools)
        .output();
    out.assert_code(0)
        .assert_stdout_contains("nss: absent (")
        .assert_stdout_contains("java: absent (");

    // Java found through the `java` on PATH when JAVA_HOME is unset.
    let out = trust(d, &home, &["status", "--store", "java"])
        .env_remove("JAVA_HOME")
        .env("PATH", java_home.join("bin"))
        .output();
    out.assert_code(0).assert_stdout_contains(&format!(
        "java: installed in {}",
        java_home.join("lib/security/cacerts").display()
    ));

    // Unknown store names are usage errors, from the flag or the variable.
    trust(d, &home, &["status", "--store", "nss,keychain"])
        .output()
        .assert_code(2)
        .assert_stderr_contains("unknown trust store \"keychain\"");
    trust(d, &home, &["install"])
        .env("TRUST_STORES", "nss,keychain")
        .output()
        .assert_code(2)
        .assert_stderr_contains(
            "TRUST_STORES is \"nss,keychain\": unknown trust store \"keychain\"",
        );
}

#[test]
fn a_ca_installed_by_other_tools_is_found_by_fingerprint_and_removed() {
    if !require_tools(&["mkcert", "certutil", "keytool"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let home = nss_home(d);
    let java_home = java_home_copy(d);
    let cacerts = java_home.join("lib/security/cacerts");
    // An mkcert CA, filed as `mkcert -install` files it in NSS (by hand:
    // mkcert itself would also look at /etc/pki/nssdb where one exists),
    // and in Java under an alias pki did not choose.
    TestCommand::new("mkcert")
        .arg("localhost")
        .current_dir(d)
        .env("CAROOT", d.join("ca"))
        .env("HOME", &home)
        .env("TRUST_STORES", "none")
        .assert_success();
    certutil_add(
        &home.join(".pki/nssdb"),
        "mkcert development CA 123456789",
        &d.join("ca").join(CA_CERT_FILE),
    );
    TestCommand::new("keytool")
        .args([
            "-importcert",
            "-noprompt",
            "-alias",
            "installed-by-hand",
            "-storepass",
            "changeit",
            "-keystore",
        ])
        .arg(&cacerts)
        .arg("-file")
        .arg(d.join("ca").join(CA_CERT_FILE))
        .assert_success();

    let with_java = |args: &[&str]| -> Output {
        let mut cmd = trust(d, &home, args);
        cmd.env("JAVA_HOME", &java_home);
        cmd.output()
    };
    with_java(&["status", "--store", "nss,java"])
        .assert_code(0)
        .assert_stdout_contains("nss: installed in ")
        .assert_stdout_contains("java: installed in ");
    with_java(&["install", "--store", "nss,java"])
        .assert_code(0)
        .assert_stdout_contains("nss: already installed in ")
        .assert_stdout_contains("java: already installed in ");
    with_java(&["uninstall", "--store", "nss,java"])
        .assert_code(0)
        .assert_stdout_contains("nss: removed from ")
        .assert_stdout_contains("java: removed from ");
    assert!(!certutil_list(&home.join(".pki/nssdb")).contains("mkcert development CA"));
    TestCommand::new("keytool")
        .args([
            "-list",
            "-alias",
            "installed-by-hand",
            "-storepass",
            "changeit",
            "-keystore",
        ])
        .arg(&cacerts)
        .assert_failure();
    // Only our CA went: the runtime's own roots are all still there.
    let count = |path: &Path| {
        TestCommand::new("keytool")
            .args(["-list", "-storepass", "changeit", "-keystore"])
            .arg(path)
            .assert_success()
            .stdout
            .matches("trustedCertEntry")
            .count()
    };
    let original = real_java_home().join("lib/security/cacerts");
    assert_eq!(count(&cacerts), count(&original));
}
