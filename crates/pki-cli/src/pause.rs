//! `PKI_TEST_PAUSE_AT=STEP`, a test hook: at the named step of a multi-file
//! change (`ca-key-written`, `crl-pem-written`, …) `pki` says `paused at
//! STEP` on stderr and waits to be killed, so the end-to-end tests can check
//! what the next run makes of a directory a crash left halfway. Unset, it
//! costs one environment lookup.

use std::time::Duration;

/// Installs the hook in `pki` if `PKI_TEST_PAUSE_AT` names a step.
pub fn install_from_env() {
    let Some(wanted) = std::env::var_os("PKI_TEST_PAUSE_AT") else {
        return;
    };
    let wanted = wanted.to_string_lossy().into_owned();
    pki::fs::set_pause_hook(move |step| {
        if step != wanted {
            return;
        }
        eprintln!("paused at {step}");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    });
}
