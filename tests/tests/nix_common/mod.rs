//! Shared by the Nix tests (the NixOS and home-manager modules): `nix-instantiate` on the
//! dummy store, and the nixpkgs and home-manager libraries, from `NIX_PATH` or extracted
//! once from the vendored tarballs (`../shared/vendor`, see its README).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Evaluates a Nix expression strictly to JSON; the error is nix's stderr.
pub fn eval_json(expr: &str) -> Result<serde_json::Value, String> {
    let out = nix_instantiate()
        .args(["--eval", "--strict", "--json", "-E", expr])
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("nix printed JSON"))
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn nix_instantiate() -> Command {
    let ok = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .map(|o| o.status.success());
    assert!(
        matches!(ok, Ok(true)),
        "nix-instantiate is needed (apt-get install nix-bin; see scripts/install-deps.sh)"
    );
    let mut c = Command::new("nix-instantiate");
    c.arg("--store").arg("dummy://");
    c
}

/// The nixpkgs `lib` directory: `<nixpkgs/lib>` when NIX_PATH has nixpkgs, else the
/// vendored tarball (`../shared/vendor/nixpkgs-lib.tgz`) extracted once per test binary.
pub fn nixpkgs_lib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        if std::env::var("NIX_PATH")
            .map(|p| p.contains("nixpkgs"))
            .unwrap_or(false)
        {
            let out = nix_instantiate()
                .args(["--find-file", "nixpkgs/lib"])
                .output()
                .unwrap();
            if out.status.success() {
                return PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
            }
        }
        vendored("nixpkgs-lib.tgz", "lib/default.nix").join("lib")
    })
}

/// home-manager's `modules/lib/stdlib-extended.nix` (nixpkgs' lib extended with `lib.hm`),
/// from the vendored tarball.
pub fn home_manager_stdlib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        vendored(
            "home-manager-lib.tgz",
            "home-manager-lib/modules/lib/stdlib-extended.nix",
        )
        .join("home-manager-lib/modules/lib/stdlib-extended.nix")
    })
}

/// The vendored tarball `name` extracted once into the target directory (complete or not at
/// all: renamed into place after extraction); `marker` is a file it must contain.
fn vendored(name: &str, marker: &str) -> PathBuf {
    let tarball = repo().join("../shared/vendor").join(name);
    assert!(
        tarball.exists(),
        "{} is missing (see its README)",
        tarball.display()
    );
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name.trim_end_matches(".tgz"));
    if !cache.join(marker).exists() {
        let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let st = Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(tmp.path())
            .status()
            .unwrap();
        assert!(st.success(), "cannot extract {}", tarball.display());
        let _ = std::fs::rename(tmp.keep(), &cache);
    }
    assert!(
        cache.join(marker).exists(),
        "{} has no {marker}",
        tarball.display()
    );
    cache
}
