//! `age-plugin-passphrase`: an ordinary age X25519 key kept at rest in a
//! passphrase-encrypted (scrypt) age file, unlocked with a passphrase read from a file, a
//! systemd credential (`$CREDENTIALS_DIRECTORY/<name>`) or asked once per session through
//! the age client. Anyone encrypts to the plain `age1...` recipient, without this plugin.
#![forbid(unsafe_code)]

mod identity;
mod keyfile;
mod plugin;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use age::secrecy::{ExposeSecret, SecretString};
use clap::{ArgGroup, Parser};

use identity::{absolute, valid_credential_name, PassphraseIdentity, Source};
use keyfile::{read_passphrase_file, read_secret_file, PassphraseFileError};

#[derive(Debug, Parser)]
#[command(
    name = "age-plugin-passphrase",
    version,
    about = "age plugin: an X25519 key in a passphrase-encrypted age file",
    after_help = "The identity (AGE-PLUGIN-PASSPHRASE-1...) names the key file and where its passphrase \
comes from, tried in order: --passphrase-file, the systemd credential --credential \
($CREDENTIALS_DIRECTORY/NAME), then a prompt through the age client (unless --no-prompt). \
Files encrypt to the ordinary age1... recipient.",
    group(ArgGroup::new("action").args(["generate", "rekey", "identity", "recipient", "age_plugin"]).required(true))
)]
struct Cli {
    /// Run the given age plugin state machine (used by age clients).
    #[arg(long, value_name = "STATE_MACHINE")]
    age_plugin: Option<String>,

    /// Create a key file with a new X25519 key and print its identity and recipient.
    #[arg(long)]
    generate: bool,

    /// Change the passphrase of KEYFILE in place (atomically).
    #[arg(long, value_name = "KEYFILE")]
    rekey: Option<PathBuf>,

    /// Print an identity for an existing KEYFILE, with the passphrase sources given.
    #[arg(long, value_name = "KEYFILE")]
    identity: Option<PathBuf>,

    /// Unlock KEYFILE and print its age1... recipient.
    #[arg(long, value_name = "KEYFILE")]
    recipient: Option<PathBuf>,

    /// Where --generate writes the key file [default: $XDG_CONFIG_HOME/keytap/passphrase-<N>.age].
    #[arg(short = 'o', long, value_name = "KEYFILE", requires = "generate")]
    output: Option<PathBuf>,

    /// A file holding the passphrase. With --generate/--identity it is also recorded in
    /// the identity; with --rekey it holds the current passphrase.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,

    /// With --rekey: a file holding the new passphrase (else asked twice on the terminal).
    #[arg(long, value_name = "FILE", requires = "rekey")]
    new_passphrase_file: Option<PathBuf>,

    /// Record a systemd credential name in the identity: at decryption the passphrase is
    /// read from $CREDENTIALS_DIRECTORY/NAME (LoadCredential= / LoadCredentialEncrypted=).
    #[arg(long, value_name = "NAME")]
    credential: Option<String>,

    /// Do not fall back to asking through the age client.
    #[arg(long)]
    no_prompt: bool,

    /// scrypt work factor log2(N) for the key file [default: about one second of work].
    #[arg(long, value_name = "LOG2_N", value_parser = clap::value_parser!(u8).range(10..=30))]
    work_factor: Option<u8>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(state_machine) = &cli.age_plugin {
        return keytap_plugin_kit::run::<plugin::Passphrase>(
            "age-plugin-passphrase",
            state_machine,
        );
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("age-plugin-passphrase: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    if cli.generate {
        generate(cli)
    } else if let Some(path) = &cli.rekey {
        rekey(cli, path)
    } else if let Some(path) = &cli.identity {
        let key_file = keyfile::KeyFile::open(&abs(path)?)?;
        let id = identity_for(cli, key_file.path())?;
        println!("# key file: {}", id.key_file.display());
        println!("# passphrase from: {}", id.describe_sources());
        println!("{}", id.encode()?);
        Ok(())
    } else if let Some(path) = &cli.recipient {
        let key_file = keyfile::KeyFile::open(&abs(path)?)?;
        let passphrase = current_passphrase(cli, key_file.path())?;
        println!("{}", key_file.unlock(&passphrase)?.to_public());
        Ok(())
    } else {
        unreachable!("clap requires an action")
    }
}

fn abs(path: &Path) -> Result<PathBuf, String> {
    absolute(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The identity's passphrase sources, from the command line.
fn identity_for(cli: &Cli, key_file: &Path) -> Result<PassphraseIdentity, String> {
    let mut sources = Vec::new();
    if let Some(p) = &cli.passphrase_file {
        sources.push(Source::File(abs(p)?));
    }
    if let Some(name) = &cli.credential {
        if !valid_credential_name(name) {
            return Err(format!(
                "invalid credential name '{name}': it must be a single file name"
            ));
        }
        sources.push(Source::Credential(name.clone()));
    }
    if !cli.no_prompt {
        sources.push(Source::Prompt);
    }
    if sources.is_empty() {
        return Err("--no-prompt needs --passphrase-file or --credential".into());
    }
    Ok(PassphraseIdentity {
        key_file: key_file.to_owned(),
        sources,
    })
}

fn file_passphrase(path: &Path) -> Result<SecretString, String> {
    read_passphrase_file(path, "passphrase file").map_err(|e| match e {
        PassphraseFileError::Missing => {
            format!("passphrase file {} does not exist", path.display())
        }
        PassphraseFileError::Unusable(e) => e,
    })
}

/// The passphrase given on the command line for an existing key file: --passphrase-file,
/// else the --credential in $CREDENTIALS_DIRECTORY, else the terminal.
fn current_passphrase(cli: &Cli, key_file: &Path) -> Result<SecretString, String> {
    if let Some(p) = &cli.passphrase_file {
        return file_passphrase(p);
    }
    if let Some(found) = credential_passphrase(cli)? {
        return Ok(found);
    }
    ask(&format!("Passphrase for {}: ", key_file.display()))
}

fn credential_passphrase(cli: &Cli) -> Result<Option<SecretString>, String> {
    let (Some(name), Some(dir)) = (&cli.credential, std::env::var_os("CREDENTIALS_DIRECTORY"))
    else {
        return Ok(None);
    };
    let path = Path::new(&dir).join(name);
    match read_secret_file(&path, "credential") {
        Ok(p) => Ok(Some(p)),
        Err(PassphraseFileError::Missing) => Ok(None),
        Err(PassphraseFileError::Unusable(e)) => Err(e),
    }
}

fn ask(prompt: &str) -> Result<SecretString, String> {
    let answer = rpassword::prompt_password(prompt).map_err(|e| {
        format!("cannot ask for a passphrase on the terminal ({e}); use --passphrase-file")
    })?;
    if answer.is_empty() {
        return Err("empty passphrase".into());
    }
    Ok(SecretString::from(answer))
}

/// A new passphrase from the terminal, typed twice.
fn ask_new(what: &str) -> Result<SecretString, String> {
    let first = ask(&format!("{what}: "))?;
    let second = ask(&format!("{what} (again): "))?;
    if first.expose_secret() != second.expose_secret() {
        return Err("the passphrases do not match".into());
    }
    Ok(first)
}

fn generate(cli: &Cli) -> Result<(), String> {
    // Default location: the first free passphrase-<N>.age under $XDG_CONFIG_HOME/keytap.
    let path = match &cli.output {
        Some(p) => abs(p)?,
        None => keyfile::next_default_path(&keyfile::default_dir()?),
    };
    if let Some(parent) = path.parent() {
        if !parent.is_dir() {
            return Err(format!("directory {} does not exist", parent.display()));
        }
    }
    let id = identity_for(cli, &path)?;
    let encoded = id.encode()?;
    let passphrase = match &cli.passphrase_file {
        Some(p) => file_passphrase(p)?,
        None => match credential_passphrase(cli)? {
            Some(p) => p,
            None => ask_new("New passphrase for the key file")?,
        },
    };
    let recipient = keyfile::create(&path, &passphrase, cli.work_factor)?;
    let created = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    println!("# created: {created}");
    println!("# key file: {}", path.display());
    println!("# passphrase from: {}", id.describe_sources());
    println!("# recipient: {recipient}");
    println!("{encoded}");
    Ok(())
}

fn rekey(cli: &Cli, path: &Path) -> Result<(), String> {
    let path = abs(path)?;
    // Check the key file before asking anything.
    keyfile::KeyFile::open(&path)?;
    let old = current_passphrase(cli, &path)?;
    let new = match &cli.new_passphrase_file {
        Some(p) => file_passphrase(p)?,
        None => ask_new("New passphrase")?,
    };
    let recipient = keyfile::rekey(&path, &old, &new, cli.work_factor)?;
    eprintln!(
        "age-plugin-passphrase: new passphrase set for {} ({recipient})",
        path.display()
    );
    Ok(())
}
