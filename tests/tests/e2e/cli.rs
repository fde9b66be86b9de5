//! The `pki` command, run as a user runs it: files, modes, messages, exit codes.

use e2e::*;

#[test]
fn no_arguments_say_where_the_ca_is() {
    let dir = tempdir();
    pki(dir.path())
        .assert_success()
        .assert_stdout_contains(&dir.path().join("ca").display().to_string())
        .assert_stdout_contains("pki cert localhost");
}
