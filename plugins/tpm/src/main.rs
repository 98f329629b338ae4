//! `age-plugin-tpm`: an age identity whose P-256 key lives in a TPM 2.0, wire-compatible
//! with Foxboron's age-plugin-tpm (Go): the same identities (`AGE-PLUGIN-TPM-1...`), its
//! 1.0 recipients (`age1tag1...`, stanza `p256tag`) and its 0.x ones (`age1tpm1...`,
//! stanza `tpm-ecc`), the same SRK and key templates, so a key either made keeps working
//! with the other on the same TPM.
//!
//! The TPM is reached through the TCTI named by `TPM2TOOLS_TCTI` or `TCTI` (default
//! `device:/dev/tpmrm0`, the kernel's resource manager).
#![forbid(unsafe_code)]

mod identity;
mod plugin;
mod tpm;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use zeroize::Zeroizing;

use identity::{parse_identity_file, RawIdentity, TpmIdentity, CURRENT_VERSION};

#[derive(Debug, Parser)]
#[command(
    name = "age-plugin-tpm",
    version,
    about = "age plugin: a P-256 key kept in a TPM 2.0 (compatible with Foxboron's age-plugin-tpm)",
    after_help = "Examples:
  age-plugin-tpm --generate -o age-identity.txt
  age-plugin-tpm -y age-identity.txt > age-recipient.txt
  age-plugin-tpm --status age-identity.txt

The TPM is reached through the TCTI in TPM2TOOLS_TCTI or TCTI (default device:/dev/tpmrm0).
With --pin, the PIN is read from AGE_TPM_PIN or asked twice on the terminal; at decryption
it is asked once per session through the age client (or read from AGE_TPM_PIN).
AGE_TPM_STANZA=tpm-ecc makes encryption to age1tpm1 recipients write the 0.x tpm-ecc stanza
instead of p256tag. AGE_TPM_LOG=FILE (or AGEDEBUG=1, to stderr) logs what the plugin does.",
    group(ArgGroup::new("action").args(["generate", "convert", "status", "age_plugin"]))
)]
struct Cli {
    /// Run the given age plugin state machine (used by age clients).
    #[arg(long, value_name = "STATE_MACHINE", hide = true)]
    age_plugin: Option<String>,

    /// Create a key in the TPM and print its identity (with the recipient in a comment).
    #[arg(short = 'g', long)]
    generate: bool,

    /// With --generate: protect the key with a PIN (the TPM key's auth value).
    #[arg(short = 'p', long, requires = "generate")]
    pin: bool,

    /// Print the recipient of the identities in INPUT (or standard input).
    #[arg(short = 'y', long)]
    convert: bool,

    /// Print the age1tpm1... recipient (the 0.x format) instead of age1tag1...
    #[arg(long)]
    tpm_recipient: bool,

    /// Show the TPM this plugin reaches (and whether the identities in INPUT belong to it);
    /// exits 1 if there is no TPM.
    #[arg(long)]
    status: bool,

    /// Write the result to FILE (created with mode 0600, never overwritten) instead of
    /// standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Log what the plugin does to FILE (no secrets).
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,

    /// The identity file for -y and --status ("-" or absent: standard input for -y).
    #[arg(value_name = "INPUT")]
    input: Option<PathBuf>,
}

fn main() -> ExitCode {
    // libtss2 prints its own errors on stderr; the plugin reports them in its words.
    if std::env::var_os("TSS2_LOG").is_none() {
        std::env::set_var("TSS2_LOG", "all+NONE");
    }
    let cli = Cli::parse();
    if let Some(path) = &cli.log_file {
        std::env::set_var("AGE_TPM_LOG", path);
    }
    if let Some(state_machine) = &cli.age_plugin {
        return keytap_plugin_kit::run::<plugin::TpmPlugin>("age-plugin-tpm", state_machine);
    }
    let result = if cli.generate {
        generate(&cli)
    } else if cli.convert {
        convert(&cli)
    } else if cli.status {
        status(&cli)
    } else {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return ExitCode::FAILURE;
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("age-plugin-tpm: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Standard output, or a new file (mode 0600, refused if it exists).
fn open_output(path: Option<&Path>) -> Result<Box<dyn Write>, String> {
    match path {
        None => Ok(Box::new(std::io::stdout())),
        Some(p) if p == Path::new("-") => Ok(Box::new(std::io::stdout())),
        Some(p) => {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(p)
                .map(|f| Box::new(f) as Box<dyn Write>)
                .map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}

fn read_pin() -> Result<Option<Zeroizing<Vec<u8>>>, String> {
    if let Some(pin) = std::env::var_os("AGE_TPM_PIN").filter(|p| !p.is_empty()) {
        use std::os::unix::ffi::OsStrExt;
        return Ok(Some(Zeroizing::new(pin.as_bytes().to_vec())));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(|s| Zeroizing::new(s.into_bytes()))
            .map_err(|e| format!("cannot ask for a PIN on the terminal ({e}); set AGE_TPM_PIN"))
    };
    let pin = ask("Enter pin for key: ")?;
    let confirm = ask("Confirm pin: ")?;
    if *pin != *confirm {
        return Err("the PINs do not match".into());
    }
    if pin.is_empty() {
        return Err("empty PIN".into());
    }
    Ok(Some(pin))
}

fn generate(cli: &Cli) -> Result<ExitCode, String> {
    let pin = if cli.pin { read_pin()? } else { None };
    if let Some(p) = &pin {
        if p.len() > 32 {
            return Err(
                "the PIN is longer than 32 bytes, the most a TPM key's auth value can be".into(),
            );
        }
    }
    // The output is claimed first, so an existing file is refused before the TPM works.
    let to_file = cli.output.as_deref().filter(|p| *p != Path::new("-"));
    let mut out = open_output(cli.output.as_deref())?;
    let created = (|| {
        let mut tpm = tpm::Tpm::open().map_err(|e| e.to_string())?;
        let key = tpm
            .create_key(pin.as_ref().map(|p| p.as_slice()))
            .map_err(|e| e.to_string())?;
        TpmIdentity::from_raw(RawIdentity {
            version: CURRENT_VERSION,
            pin: pin.is_some(),
            public: key.public,
            private: key.private,
            srk_name: Some(key.srk_name),
        })
    })();
    let id = match created {
        Ok(id) => id,
        Err(e) => {
            if let Some(p) = to_file {
                drop(out);
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
    };
    let recipient = if cli.tpm_recipient {
        id.tpm_recipient()
    } else {
        id.tag_recipient()
    };
    let now = time::OffsetDateTime::now_utc();
    let created = now
        .replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    write!(
        out,
        "# Created: {created}\n# Recipient: {recipient}\n\n{}\n",
        id.raw.encode()
    )
    .and_then(|()| out.flush())
    .map_err(|e| format!("writing the identity: {e}"))?;
    if to_file.is_some() {
        eprintln!("Recipient: {recipient}");
    }
    Ok(ExitCode::SUCCESS)
}

fn read_input(input: Option<&Path>) -> Result<String, String> {
    match input {
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("reading standard input: {e}"))?;
            Ok(s)
        }
        Some(p) if p == Path::new("-") => read_input(None),
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display())),
    }
}

fn convert(cli: &Cli) -> Result<ExitCode, String> {
    let ids = parse_identity_file(&read_input(cli.input.as_deref())?)?;
    let mut out = open_output(cli.output.as_deref())?;
    for id in ids {
        let r = if cli.tpm_recipient {
            id.tpm_recipient()
        } else {
            id.tag_recipient()
        };
        writeln!(out, "{r}").map_err(|e| e.to_string())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `--status`: one `key: value` line per fact, for people and for `keytap doctor`.
fn status(cli: &Cli) -> Result<ExitCode, String> {
    let ids = match &cli.input {
        Some(p) => parse_identity_file(&read_input(Some(p))?)?,
        None => Vec::new(),
    };
    let mut tpm = match tpm::Tpm::open() {
        Ok(t) => t,
        Err(e) => {
            println!("tpm: unavailable");
            println!("tcti: {}", tpm::tcti_config());
            println!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("tpm: available");
    for (k, v) in tpm.status() {
        println!("{k}: {v}");
    }
    let mut code = ExitCode::SUCCESS;
    for id in &ids {
        let r = id.tag_recipient();
        match tpm.check_identity(id) {
            Ok(()) => println!(
                "identity: {r}: usable on this TPM{}",
                if id.raw.pin { " (PIN)" } else { "" }
            ),
            Err(e) => {
                println!("identity: {r}: {e}");
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok(code)
}
