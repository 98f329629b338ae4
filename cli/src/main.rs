//! keytap: a sops-compatible CLI. A thin layer over `keytap-core`.
#![forbid(unsafe_code)]

mod args;
mod cleanup;
mod commands;
mod config_rules;
mod context;
mod error;
mod go_flags;
mod installer_usage;
mod lazy_args;
mod open;
mod output;
mod rules;
mod run_as;
mod sops_command_flags;
mod stack_choice;

// The system allocator for a short command, mimalloc for the bulk work of the deep-stack
// thread (see keytap_alloc).
#[global_allocator]
static GLOBAL: keytap_alloc::SplitAlloc = keytap_alloc::SplitAlloc;

fn main() {
    // Plaintext and data keys live in this process's memory: keep other processes of the
    // same user (ptrace, /proc/PID/mem) and core dumps out, as ssh-agent and gpg-agent
    // do. Programs keytap starts (editor, exec-*, plugins) are dumpable again after exec.
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    let argv: Vec<_> = std::env::args_os().collect();
    if let Some(refusal) = args::installer_args(&argv).and_then(installer_usage::refusal) {
        let program = commands::install_secrets_program_name();
        std::process::exit(installer_usage::report(&refusal, &program));
    }
    // Usage errors exit 1 as sops's do (clap's default is 2); help and version exit 0.
    let cli = match args::Cli::parse_args() {
        Ok(cli) => cli,
        Err(e) => {
            let installer = args::installer_args(&argv).is_some();
            let code = match e.use_stderr() {
                false => 0,
                true if installer && manifest_argument_error(&e) => 0,
                true => 1,
            };
            if e.kind() == clap::error::ErrorKind::DisplayVersion && !installer {
                println!("{}", version_line(&argv));
                std::process::exit(0);
            }
            let _ = e.print();
            std::process::exit(code);
        }
    };
    // On a deep stack: documents may nest 10,000 levels (see keytap_core::stack), unless
    // the inputs are known to be shallow (see stack_choice); for a large file, with the
    // helper thread that takes half of its work started at once. Its threads do their
    // bulk work with mimalloc.
    keytap_core::stack::set_thread_wrapper(|work| keytap_alloc::with_mimalloc(work));
    // The thread that ran the command ends the process: handing its result back to this
    // one cost a thread exit and a wake-up (~0.2 ms of a large file's decrypt).
    let fits_main_stack = stack_choice::fits_main_stack(&cli);
    let large = !fits_main_stack && stack_choice::names_a_large_file(&cli);
    let run = move || finish(commands::run(cli));
    if fits_main_stack {
        run()
    } else if large {
        keytap_core::stack::run_deep_with_helper(run)
    } else {
        keytap_core::stack::with_deep_stack(run)
    }
}

/// `--version`: run as `sops` (a link by that name, which tools call), sops's line first,
/// as tools parse it (`^sops (\d+)\.(\d+)\.(\d+)`: the sops release whose command line
/// and file format keytap follows); as keytap, keytap's.
fn version_line(argv: &[std::ffi::OsString]) -> String {
    let keytap = env!("CARGO_PKG_VERSION");
    let sops = keytap_core::metadata::SOPS_VERSION;
    let as_sops = argv
        .first()
        .and_then(|argv0| std::path::Path::new(argv0).file_name())
        .is_some_and(|name| name == "sops");
    match as_sops {
        true => format!("sops {sops} (keytap {keytap})"),
        false => format!("keytap {keytap} (sops {sops})"),
    }
}

/// Prints a command's error, if any, and exits with its status.
fn finish(result: Result<i32, error::CliError>) -> ! {
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            // Errors quote file contents (recipients, keys, values of bad metadata) that
            // an attacker may have chosen: no escape sequence reaches the terminal.
            let msg = keytap_core::plugin::defuse(e.message.trim_end());
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            e.code
        }
    };
    std::process::exit(code);
}

/// Whether a usage error is a missing or extra manifest argument. sops-install-secrets
/// prints its usage and exits 0 then (its flag set returns `flag.ErrHelp`), where a bad
/// flag or value exits 1 like any of its errors.
fn manifest_argument_error(e: &clap::Error) -> bool {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match e.kind() {
        ErrorKind::MissingRequiredArgument => true,
        ErrorKind::UnknownArgument => matches!(
            e.get(ContextKind::InvalidArg),
            Some(ContextValue::String(arg)) if !arg.starts_with('-')
        ),
        _ => false,
    }
}
