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
    let cli = args::Cli::parse();
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
