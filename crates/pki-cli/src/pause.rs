//! `PKI_TEST_PAUSE_AT=STEP`, a test hook: at the named step of a multi-file
//! change (`ca-key-written`, `crl-pem-written`, …) `pki` says `paused at
//! STEP` on stderr and waits to be killed, so the end-to-end tests can check
//! what the next run makes of a directory a crash left halfway. Unset, it
//! costs one environment lookup. Also the message a run prints when it has
//! to wait for another's CA-directory lock.

/// Installs the hooks in `pki`: one that says why a run waits for a CA
/// directory's lock, and the pause if `PKI_TEST_PAUSE_AT` names a step.
pub fn install_from_env() {
    pki::fs::set_lock_wait_hook(|lock| {
        eprintln!(
            "waiting for another pki run that is changing this CA directory (it holds {}); \
             if none is running, a stopped one (Ctrl-Z) may hold it: resume or end it",
            lock.display()
        );
    });
    if let Some(wanted) = std::env::var_os("PKI_TEST_PAUSE_AT") {
        pki::fs::pause_at(wanted.to_string_lossy().into_owned());
    }
}
