//! keytap: a sops-compatible CLI. A thin layer over `keytap-core`.

mod args;
mod commands;
mod config_rules;
mod context;
mod error;
mod output;
mod rules;

use clap::Parser;

// The YAML store allocates many small strings; mimalloc makes a 10,000-value file
// decrypt markedly faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Usage errors exit 1 as sops's do (clap's default is 2); help and version exit 0.
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = e.message.trim_end();
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            e.code
        }
    };
    std::process::exit(code);
}
