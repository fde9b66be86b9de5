//! Which external tools a test needs, and skipping (or, under CI, failing)
//! when one is missing, with the Debian package to install.

use std::path::PathBuf;

/// Whether every tool is installed. A missing tool fails the test when the
/// `CI` environment variable is set (CI must have it); on a developer
/// machine the test is skipped, loudly, and should `return` at once.
pub fn require_tools(tools: &[&str]) -> bool {
    tools.iter().all(|tool| require_tool(tool))
}

/// [`require_tools`] for one tool.
pub fn require_tool(name: &str) -> bool {
    if find_in_path(name).is_some() {
        return true;
    }
    let package = debian_package(name);
    if std::env::var_os("CI").is_some() {
        panic!("{name} is not installed, and CI must run every test: apt-get install {package}");
    }
    skip(&format!(
        "{name} is not installed (Debian package {package}); this test did NOT run"
    ));
    false
}

/// [`require_tools`] for Python modules: each must import in
/// [`crate::apps_python_path`] (`.ci/run` installs them there).
pub fn require_python_modules(modules: &[&str]) -> bool {
    if !require_tool("python3") {
        return false;
    }
    modules.iter().all(|module| {
        let imports = std::process::Command::new(crate::apps_python_path())
            .args(["-c", &format!("import {module}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if imports {
            return true;
        }
        if std::env::var_os("CI").is_some() {
            panic!("the Python module {module} is missing, and CI must run every test: run .ci/run, which installs it into target/apps-venv");
        }
        skip(&format!(
            "the Python module {module} is missing (.ci/run installs it into target/apps-venv); this test did NOT run"
        ));
        false
    })
}

/// Prints a line that makes a skipped check impossible to miss.
#[expect(
    clippy::print_stderr,
    reason = "a skipped check must be visible in the test output"
)]
pub fn skip(why: &str) {
    eprintln!("\n!!!!!!!! SKIP: {why} !!!!!!!!\n");
}

fn debian_package(tool: &str) -> &'static str {
    match tool {
        "openssl" => "openssl",
        "curl" => "curl",
        "python3" => "python3",
        "sh" => "dash",
        "keytool" | "java" => "openjdk-17-jdk-headless",
        "certutil" => "libnss3-tools",
        "chromium" => "chromium",
        "unshare" | "nsenter" | "setpriv" | "mount" => "util-linux",
        "update-ca-certificates" => "ca-certificates",
        "pebble" | "pebble-challtestsrv" => "pebble",
        "certbot" => "certbot",
        "lego" => "lego",
        "dehydrated" => "dehydrated",
        _ => "(unknown: look it up with apt-file search)",
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
