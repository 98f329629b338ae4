//! Every CLI behaviour and error message, pinned by whole-invocation snapshots
//! (`tests/cmd/*.toml`; regenerate with `TRYCMD=overwrite cargo test -p keytap --test cli`).

#[test]
fn cli_snapshots() {
    // The cases must not see the developer's keys or config.
    for var in [
        "SOPS_AGE_KEY_FILE",
        "SOPS_AGE_KEY",
        "SOPS_AGE_KEY_CMD",
        "SOPS_AGE_RECIPIENTS",
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
        "SOPS_CONFIG",
        "XDG_CONFIG_HOME",
        "SOPS_EDITOR",
        "EDITOR",
        "KEYTAP_ASKPASS",
    ] {
        std::env::remove_var(var);
    }
    trycmd::TestCases::new()
        .env("HOME", "/nonexistent-keytap-home")
        .case("tests/cmd/*.toml");
}
