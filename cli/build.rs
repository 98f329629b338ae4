//! Links libgcc's unwinder into keytap statically, as `-static-libgcc` does for C.
//!
//! Rust's std on linux-gnu needs libgcc's unwinder and links it as the shared
//! `libgcc_s.so.1`, whose load-time constructor probes the CPU with a dozen or more `cpuid`
//! instructions. In a virtual machine each one traps to the hypervisor (5-7 µs here), so
//! loading libgcc_s was ~10% of decrypting a small file at a shell prompt. With the
//! archive's unwinder linked in whole, nothing is left for libgcc_s to provide and the
//! linker (`--as-needed`) drops it. Panics and backtraces unwind as before.
//!
//! Skipped where std links the archive itself (`crt-static`) or it cannot be found; keytap
//! then uses libgcc_s as usual.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let static_crt = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" || static_crt {
        return;
    }
    let Ok(compiler) = cc::Build::new().cargo_metadata(false).try_get_compiler() else {
        return;
    };
    let Ok(output) = compiler
        .to_command()
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    let archive = std::path::PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    // The compiler echoes the bare name when it has no such file.
    if let (true, Some(dir)) = (archive.is_absolute() && archive.is_file(), archive.parent()) {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=static:+whole-archive=gcc_eh");
    }
}
