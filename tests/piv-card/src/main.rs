//! `keytap-piv-card`: a software YubiKey (PIV applet) in a vpcd reader of pcscd.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use keytap_piv_card::{applet::Applet, harness, state::CardState, vpcd};

#[derive(Parser)]
#[command(
    name = "keytap-piv-card",
    version,
    about = "A software YubiKey (PIV applet) behind pcscd's vpcd driver"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// `run`: where the card's state is, which reader it goes in, and how it behaves.
#[derive(Args)]
struct RunArgs {
    /// The card's state file (created as a factory card if missing).
    #[arg(long)]
    state: PathBuf,
    /// Serial number of a new card.
    #[arg(long, default_value_t = 15_000_001)]
    serial: u32,
    /// vpcd reader index: 0 ("Virtual PCD 00 00", port 35963) or 1 (port 35964).
    #[arg(long, default_value_t = 0)]
    reader: u16,
    /// Host of the vpcd driver.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Write the VERIFY/ECDH/sign/touch counters to this file.
    #[arg(long)]
    counters: Option<PathBuf>,
    /// Remove the card right after this many ECDH operations.
    #[arg(long)]
    remove_after_ecdh: Option<u64>,
    /// How long a touch takes (touch policy always/cached), in milliseconds.
    #[arg(long, default_value_t = 0)]
    touch_delay_ms: u64,
    /// Log APDUs to stderr.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Insert the card: connect to the vpcd reader and answer APDUs until removed (killed)
    /// or pcscd stops.
    Run(RunArgs),
    /// Wait until pcscd lists the vpcd readers.
    WaitPcscd {
        #[arg(long, default_value_t = 20)]
        timeout: u64,
    },
    /// Wait until a card is present in (or, with --absent, removed from) a vpcd reader.
    WaitCard {
        #[arg(long, default_value_t = 0)]
        reader: u16,
        #[arg(long)]
        absent: bool,
        #[arg(long, default_value_t = 20)]
        timeout: u64,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Cmd::Run(args) => run(args),
        Cmd::WaitPcscd { timeout } => harness::wait_for_pcscd(Duration::from_secs(timeout)),
        Cmd::WaitCard {
            reader,
            absent,
            timeout,
        } => harness::wait_for_card(reader, !absent, Duration::from_secs(timeout)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keytap-piv-card: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> Result<(), String> {
    let state = CardState::load_or_create(&args.state, args.serial)?;
    let mut applet = Applet::new(state);
    applet.touch_delay = Duration::from_millis(args.touch_delay_ms);
    if let Some(path) = &args.counters {
        keytap_piv_card::state::write_atomic(path, applet.counters.render().as_bytes())?;
    }
    let addr = format!("{}:{}", args.host, vpcd::reader_port(args.reader));
    let stream = vpcd::connect(&addr, Duration::from_secs(20))
        .map_err(|e| format!("connect to vpcd at {addr}: {e}"))?;
    let opts = vpcd::Options {
        state_path: args.state,
        counters_path: args.counters,
        remove_after_ecdh: args.remove_after_ecdh,
        verbose: args.verbose,
    };
    let why = vpcd::serve(stream, &mut applet, &opts)?;
    eprintln!("keytap-piv-card: {why}");
    Ok(())
}
