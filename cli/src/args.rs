//! Command-line definitions: sops's commands and flags, plus keytap's own.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::lazy_args::Lazy;

mod command_args;
pub use command_args::*;

/// keytap: sops-compatible encrypted secrets, with keys on hardware tokens via age plugins.
#[derive(Parser, Debug)]
#[command(
    name = "keytap",
    version,
    about,
    args_conflicts_with_subcommands = false,
    disable_version_flag = true,
    args_override_self = true
)]
pub struct Cli {
    /// Print the version (`-v`, as sops; `-V` too).
    #[arg(short = 'v', long, short_alias = 'V', action = clap::ArgAction::Version)]
    pub version: (),

    #[command(flatten)]
    pub global: GlobalArgs,

    /// Legacy `sops -e/-d/-r/-s FILE` and `sops FILE` (edit) forms.
    #[command(flatten)]
    pub legacy: LegacyArgs,

    /// File for the legacy forms (edit when no mode flag is given).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Further arguments of the legacy forms, which sops ignores with a warning.
    #[arg(hide = true)]
    pub ignored: Vec<OsString>,

    /// The command.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The installer's own arguments when the command line runs it: after `keytap
/// install-secrets`, or all of them when keytap runs as `sops-install-secrets` (a link of
/// that name drops in for sops-nix's installer; the package's wrapper passes
/// `install-secrets` itself).
pub fn installer_args(args: &[OsString]) -> Option<&[OsString]> {
    if args.get(1).is_some_and(|arg| arg == "install-secrets") {
        return Some(&args[2..]);
    }
    let named = args.first().is_some_and(|argv0| {
        std::path::Path::new(argv0).file_name() == Some("sops-install-secrets".as_ref())
    });
    named.then(|| args.get(1..).unwrap_or_default())
}

impl Cli {
    /// Parses the process's arguments. When the first names a command, without the
    /// legacy form's arguments: clap would build them on every run (a tenth of a small
    /// file's decrypt), and after a command's name they cannot appear.
    pub fn parse_args() -> Result<Cli, clap::Error> {
        Cli::parse_from_args(std::env::args_os().collect())
    }

    fn parse_from_args(mut args: Vec<OsString>) -> Result<Cli, clap::Error> {
        spell_help_alias(&mut args);
        if installer_args(&args).is_some() {
            if args.get(1).is_none_or(|arg| arg != "install-secrets") {
                args.insert(1, "install-secrets".into());
            }
            args = crate::go_flags::rewrite(args, &crate::go_flags::INSTALL_SECRETS);
        } else {
            args = crate::sops_command_flags::read_as_sops(args)?;
            args = crate::go_flags::rewrite_go_spellings(
                args,
                <Cli as clap::CommandFactory>::command,
            )?;
        }
        let names_a_command = args
            .get(1)
            .and_then(|arg| arg.to_str())
            .is_some_and(<Command as Subcommand>::has_subcommand);
        if !names_a_command {
            let args = crate::go_flags::end_flags_at_first_argument(
                args,
                <Cli as clap::CommandFactory>::command,
            );
            return Cli::try_parse_from(args);
        }
        let line = CommandLine::try_parse_from(args)?;
        Ok(Cli {
            version: (),
            global: line.global,
            legacy: LegacyArgs::default(),
            file: None,
            ignored: Vec::new(),
            command: Some(line.command),
        })
    }
}

/// sops (urfave/cli) takes `h` for `help` where a command name goes: `sops h`,
/// `sops h decrypt`, `sops groups h`.
fn spell_help_alias(args: &mut [OsString]) {
    let at = match args.get(1) {
        Some(first) if first == "groups" => 2,
        _ => 1,
    };
    if let Some(arg) = args.get_mut(at).filter(|arg| *arg == "h") {
        *arg = "help".into();
    }
}

/// [`Cli`] when the first argument names a command.
#[derive(Parser, Debug)]
#[command(
    name = "keytap",
    version,
    disable_version_flag = true,
    args_override_self = true
)]
struct CommandLine {
    #[arg(short = 'v', long, short_alias = 'V', action = clap::ArgAction::Version)]
    version: (),
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// The options of every command.
#[derive(Args, Debug, Default)]
pub struct GlobalArgs {
    /// Path to the .sops.yaml config file (no upward search when set).
    #[arg(long, global = true, env = "SOPS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Say which identity unwrapped the data key and other details on stderr.
    #[arg(long, global = true)]
    pub verbose: bool,

    /// Accepted for sops compatibility; keytap never checks for updates.
    #[arg(long, global = true, hide = true)]
    pub disable_version_check: bool,

    /// Accepted for sops compatibility (`sops --version --check-for-updates`); keytap
    /// never checks for updates.
    #[arg(long, global = true, hide = true)]
    pub check_for_updates: bool,
}

/// Mode flags of the legacy single-command form.
#[derive(Args, Debug, Default)]
pub struct LegacyArgs {
    /// Encrypt FILE (legacy form of `encrypt`).
    #[arg(short = 'e', long = "encrypt")]
    pub encrypt: bool,
    /// Decrypt FILE (legacy form of `decrypt`).
    #[arg(short = 'd', long = "decrypt")]
    pub decrypt: bool,
    /// Generate a new data key and re-encrypt FILE (legacy form of `rotate`).
    #[arg(short = 'r', long = "rotate")]
    pub rotate: bool,
    /// Show the sops metadata in the editor beside the values (edit).
    #[arg(short = 's', long = "show-master-keys")]
    pub show_master_keys: bool,
    /// Extract a value (legacy decrypt).
    #[arg(long)]
    pub extract: Option<String>,
    /// Set a value: `'["key"] <json>'` (legacy).
    #[arg(long)]
    pub set: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub key_changes: KeyChangeArgs,
    /// Ignore the MAC when decrypting.
    #[arg(long)]
    pub ignore_mac: bool,
}

/// sops's flags (and their environment variables) for key types other than age: PGP keys,
/// which keytap wraps through GnuPG, and the cloud KMSes, which it cannot wrap a data key
/// to. Those are hidden, and refused with a one-line error when given: a team's KMS key
/// named in `SOPS_KMS_ARN` must not be silently left out of a new file.
#[derive(Args, Debug, Default, Clone)]
pub struct ForeignKeyArgs {
    /// Comma-separated PGP fingerprints to encrypt to (through GnuPG: `gpg`, or SOPS_GPG_EXEC).
    #[arg(short = 'p', long = "pgp", env = "SOPS_PGP_FP")]
    pub pgp: Option<String>,
    /// AWS KMS ARNs.
    #[arg(short = 'k', long = "kms", env = "SOPS_KMS_ARN", hide = true)]
    pub kms: Option<String>,
    /// GCP KMS resource IDs.
    #[arg(long = "gcp-kms", env = "SOPS_GCP_KMS_IDS", hide = true)]
    pub gcp_kms: Option<String>,
    /// Azure Key Vault key URLs.
    #[arg(long = "azure-kv", env = "SOPS_AZURE_KEYVAULT_URLS", hide = true)]
    pub azure_kv: Option<String>,
    /// Vault transit key URIs.
    #[arg(long = "hc-vault-transit", env = "SOPS_VAULT_URIS", hide = true)]
    pub hc_vault_transit: Option<String>,
    /// HuaweiCloud KMS key IDs.
    #[arg(long = "hckms", env = "SOPS_HUAWEICLOUD_KMS_IDS", hide = true)]
    pub hckms: Option<String>,
    #[command(flatten)]
    pub kms_options: KmsOptionArgs,
}

/// sops's options of AWS KMS keys, accepted wherever sops takes KMS keys; they matter only
/// to keys keytap refuses (or, for `--rm-kms`, not at all: sops ignores them there too).
#[derive(Args, Debug, Default, Clone)]
pub struct KmsOptionArgs {
    /// AWS profile.
    #[arg(long, hide = true)]
    pub aws_profile: Option<String>,
    /// KMS encryption context.
    #[arg(long, hide = true)]
    pub encryption_context: Option<String>,
}

impl ForeignKeyArgs {
    /// Each key type keytap cannot wrap to, named by its flag and variable, with the keys
    /// given for it.
    pub fn given(&self) -> [(&'static str, Option<&str>); 5] {
        [
            ("AWS KMS keys (--kms, SOPS_KMS_ARN)", self.kms.as_deref()),
            (
                "GCP KMS keys (--gcp-kms, SOPS_GCP_KMS_IDS)",
                self.gcp_kms.as_deref(),
            ),
            (
                "Azure Key Vault keys (--azure-kv, SOPS_AZURE_KEYVAULT_URLS)",
                self.azure_kv.as_deref(),
            ),
            (
                "Vault transit keys (--hc-vault-transit, SOPS_VAULT_URIS)",
                self.hc_vault_transit.as_deref(),
            ),
            (
                "HuaweiCloud KMS keys (--hckms, SOPS_HUAWEICLOUD_KMS_IDS)",
                self.hckms.as_deref(),
            ),
        ]
    }
}

/// Master keys `rotate` (and the legacy `-r`) adds or removes; each a comma-separated
/// list, as in sops. Keys of types keytap cannot use can be removed, not added.
#[derive(Args, Debug, Default)]
pub struct KeyChangeArgs {
    /// Comma-separated age recipients to add.
    #[arg(long)]
    pub add_age: Option<String>,
    /// Comma-separated age recipients to remove.
    #[arg(long)]
    pub rm_age: Option<String>,
    /// Comma-separated PGP fingerprints to remove.
    #[arg(long)]
    pub rm_pgp: Option<String>,
    /// Comma-separated AWS KMS ARNs (`ARN+ROLE_ARN` for a role) to remove.
    #[arg(long)]
    pub rm_kms: Option<String>,
    /// Comma-separated GCP KMS resource IDs to remove.
    #[arg(long)]
    pub rm_gcp_kms: Option<String>,
    /// Comma-separated Azure Key Vault key URLs to remove.
    #[arg(long)]
    pub rm_azure_kv: Option<String>,
    /// Comma-separated Vault transit key URIs to remove.
    #[arg(long)]
    pub rm_hc_vault_transit: Option<String>,
    /// Comma-separated HuaweiCloud KMS key IDs to remove.
    #[arg(long)]
    pub rm_hckms: Option<String>,
    /// Comma-separated PGP fingerprints to add (wrapped through GnuPG).
    #[arg(long)]
    pub add_pgp: Option<String>,
    /// AWS KMS ARNs to add: refused, keytap cannot wrap a data key to a cloud KMS.
    #[arg(long, hide = true)]
    pub add_kms: Option<String>,
    /// Refused, as `--add-kms`.
    #[arg(long, hide = true)]
    pub add_gcp_kms: Option<String>,
    /// Refused, as `--add-kms`.
    #[arg(long, hide = true)]
    pub add_azure_kv: Option<String>,
    /// Refused, as `--add-kms`.
    #[arg(long, hide = true)]
    pub add_hc_vault_transit: Option<String>,
    /// Refused, as `--add-kms`.
    #[arg(long, hide = true)]
    pub add_hckms: Option<String>,
}

/// Key services (sops's `--keyservice` and `--enable-local-keyservice`).
#[derive(Args, Debug, Default, Clone)]
pub struct KeyServiceArgs {
    /// A key service to use besides the local one: unix:///path or tcp://host:port
    /// (repeatable; replaces SOPS_KEYSERVICE, a comma-separated list).
    #[arg(long = "keyservice", value_name = "URI")]
    pub keyservice: Vec<String>,
    /// Use the local key service, i.e. your own identities (default true; env
    /// SOPS_ENABLE_LOCAL_KEYSERVICE). To disable: --enable-local-keyservice=false.
    #[arg(
        long = "enable-local-keyservice",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub enable_local_keyservice: Option<String>,
    /// Comma-separated key types in the order each key group tries them (env
    /// SOPS_DECRYPTION_ORDER; default age,pgp): e.g. kms,age asks a key service for a KMS
    /// key before touching a token.
    #[arg(long, value_name = "TYPES")]
    pub decryption_order: Option<String>,
}

/// Input/output options shared by most commands.
#[derive(Args, Debug, Default, Clone)]
pub struct CommonArgs {
    /// Write the result back to the input file (atomically).
    #[arg(short = 'i', long = "in-place")]
    pub in_place: bool,
    /// Write the result to this file instead of stdout (atomically; empty: stdout, as in
    /// sops).
    #[arg(long, value_name = "PATH", value_parser = clap::builder::TypedValueParser::map(clap::builder::OsStringValueParser::new(), PathBuf::from))]
    pub output: Option<PathBuf>,
    /// Input format: yaml, json, dotenv, ini or binary (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Output format (default: the input format).
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Use this path instead of FILE's to choose formats and the .sops.yaml rule.
    #[arg(long, value_name = "PATH")]
    pub filename_override: Option<PathBuf>,
    /// Spaces of indentation in YAML/JSON output (negative values are sops's: -1 is a
    /// tab in JSON; YAML refuses any negative value when writing).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = crate::go_flags::parse_go_int)]
    pub indent: Option<i64>,
    #[command(flatten)]
    pub keyservice: KeyServiceArgs,
}

/// Recipients and encryption rules for new files.
#[derive(Args, Debug, Default, Clone)]
pub struct KeyArgs {
    /// Comma-separated age recipients (age1..., age1<plugin>1..., ssh-ed25519/ssh-rsa keys).
    #[arg(
        short = 'a',
        long = "age",
        env = "SOPS_AGE_RECIPIENTS",
        value_name = "RECIPIENTS"
    )]
    pub age: Option<String>,
    #[command(flatten)]
    pub foreign: ForeignKeyArgs,
    /// Groups needed to recover the key when there are several key groups.
    #[arg(long = "shamir-secret-sharing-threshold", value_name = "N", value_parser = crate::go_flags::parse_go_count)]
    pub shamir_threshold: Option<usize>,
    /// Keys ending in this suffix stay unencrypted.
    #[arg(long)]
    pub unencrypted_suffix: Option<String>,
    /// Only keys ending in this suffix are encrypted.
    #[arg(long)]
    pub encrypted_suffix: Option<String>,
    /// Keys matching this regex stay unencrypted.
    #[arg(long)]
    pub unencrypted_regex: Option<String>,
    /// Only keys matching this regex are encrypted.
    #[arg(long)]
    pub encrypted_regex: Option<String>,
    /// Items below a comment matching this regex stay unencrypted.
    #[arg(long)]
    pub unencrypted_comment_regex: Option<String>,
    /// Only items below a comment matching this regex are encrypted.
    #[arg(long)]
    pub encrypted_comment_regex: Option<String>,
    /// Compute the MAC only over encrypted values.
    #[arg(long)]
    pub mac_only_encrypted: bool,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Encrypt a file.
    Encrypt(Lazy<EncryptArgs>),
    /// Decrypt a file.
    Decrypt(Lazy<DecryptArgs>),
    /// Edit a file in $SOPS_EDITOR / $EDITOR (creates it if it does not exist).
    Edit(Lazy<EditArgs>),
    /// Set one value: FILE '["key"]' '<json value>'.
    Set(Lazy<SetArgs>),
    /// Remove one value: FILE '["key"]'.
    Unset(Lazy<UnsetArgs>),
    /// Generate a new data key and re-encrypt the file.
    Rotate(Lazy<RotateArgs>),
    /// Re-wrap the data key to the recipients .sops.yaml now lists.
    Updatekeys(Lazy<UpdatekeysArgs>),
    /// Print {"encrypted":true|false}.
    Filestatus(Lazy<FilestatusArgs>),
    /// sops's upload to S3, GCS or Vault: checked as sops checks it, not done by keytap.
    Publish(Lazy<PublishArgs>),
    /// Run a command with the file's values in its environment.
    ExecEnv(Lazy<ExecEnvArgs>),
    /// Run a command with the decrypted file at '{}' (a FIFO by default).
    ExecFile(Lazy<ExecFileArgs>),
    /// Add or delete key groups (the data key is split again across the groups).
    Groups(GroupsArgs),
    /// Print a shell completion script.
    Completion(Lazy<CompletionArgs>),
    /// Print the man page (roff).
    Man,
    /// Show which identities, plugins and recipients keytap finds; with FILE, which of
    /// your identities can open it. Prints no secret.
    Doctor(Lazy<DoctorArgs>),
    /// Generate an age identity (like age-keygen).
    Keygen(Lazy<KeygenArgs>),
    /// Print an SSH RSA private key as the OpenPGP key sops-nix's sops.gnupg.sshKeyPaths
    /// makes of it (like ssh-to-pgp); its fingerprint goes to stderr.
    SshToPgp(Lazy<SshToPgpArgs>),
    /// Serve sops's key-service protocol with your identities (hardware tokens included),
    /// keeping PINs and passphrases for a while: one PIN for many commands, also over ssh.
    Keyservice(Lazy<ServeKeysArgs>),
    /// Merge three versions of a sops file (a git merge driver: `keytap merge %O %A %B %P`),
    /// writing the result over OURS; exit 1 on conflicts, listed by key path.
    Merge(Lazy<MergeArgs>),
    /// Write the git configuration for sops files: the merge driver, the textconv for
    /// plaintext diffs, and `.gitattributes` lines for the files .sops.yaml covers.
    GitSetup(Lazy<GitSetupArgs>),
    /// Install the secrets of a NixOS module manifest (sops-nix's sops-install-secrets):
    /// decrypt every sops file once, write a new generation, switch the symlink atomically.
    InstallSecrets(Lazy<InstallSecretsArgs>),
}

/// `groups add` / `groups delete`.
#[derive(Subcommand, Debug)]
pub enum GroupsAction {
    /// Add a key group made of the given recipients.
    Add(Lazy<GroupsAddArgs>),
    /// Delete the key group at INDEX (0-based).
    Delete(Lazy<GroupsDeleteArgs>),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own consistency checks (unique names, valid short flags, ...), which
    /// otherwise run only when a debug build parses a command line that reaches them.
    #[test]
    fn the_command_line_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    /// As sops reads them: `-v` is the version, and a flag given twice keeps its last
    /// value (Go's flag package), in a command and in the legacy form alike.
    #[test]
    fn v_is_the_version_and_the_last_of_a_repeated_flag_wins() {
        let parse = |line: &[&str]| {
            Cli::parse_from_args(
                std::iter::once("keytap")
                    .chain(line.iter().copied())
                    .map(OsString::from)
                    .collect(),
            )
        };
        for line in [
            &["-v"][..],
            &["--version"],
            &["-V"],
            &["--version", "--check-for-updates"],
        ] {
            let err = parse(line).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::DisplayVersion,
                "{line:?}"
            );
        }
        for line in [
            &[
                "decrypt",
                "--output-type",
                "json",
                "--output-type",
                "yaml",
                "f",
            ][..],
            &[
                "-d",
                "--output-type",
                "json",
                "-d",
                "--output-type",
                "yaml",
                "f",
            ],
        ] {
            let cli = format!("{:?}", parse(line).unwrap());
            assert!(
                cli.contains("output_type: Some(\"yaml\")"),
                "{line:?}: {cli}"
            );
        }
        assert!(parse(&["decrypt", "-v", "f"]).is_err());
    }

    /// ssh-to-pgp's own spellings (Go's) reach `ssh-to-pgp`'s arguments.
    #[test]
    fn ssh_to_pgp_takes_its_go_spellings() {
        let parse = |line: &[&str]| {
            let all = ["keytap", "ssh-to-pgp"].iter().chain(line);
            format!(
                "{:?}",
                Cli::parse_from_args(all.map(OsString::from).collect()).unwrap()
            )
        };
        let cli = parse(&[
            "-format=binary",
            "-private-key",
            "-i",
            "id_rsa",
            "-o",
            "out",
        ]);
        for field in [
            "format: \"binary\"",
            "private_key: true",
            "input: \"id_rsa\"",
            "output: \"out\"",
        ] {
            assert!(cli.contains(field), "{field}: {cli}");
        }
        let cli = parse(&["--private-key=false", "-name", "host", "-i", "-"]);
        for field in ["private_key: false", "name: \"host\"", "input: \"-\""] {
            assert!(cli.contains(field), "{field}: {cli}");
        }
        let missing =
            Cli::parse_from_args(["keytap", "ssh-to-pgp", "-o"].map(OsString::from).to_vec());
        assert!(missing.is_err());
    }

    /// Parsing without the legacy arguments gives what the whole command line gives:
    /// the same values, or the same error.
    #[test]
    fn a_named_command_parses_as_with_every_argument() {
        let lines: &[&[&str]] = &[
            &["decrypt", "f.yaml"],
            &["-v", "decrypt", "f.yaml"],
            &["decrypt", "--ignore-mac", "--ignore-mac", "f.yaml"],
            &[
                "decrypt",
                "--input-type",
                "yaml",
                "--extract",
                "[\"a\"]",
                "f.yaml",
            ],
            &["encrypt", "--age", "age1x", "-i", "f.yaml"],
            &["set", "f.yaml", "[\"a\"]", "1"],
            &["groups", "add", "-f", "f.yaml", "--age", "age1x"],
            &["groups"],
            &["exec-env", "f.yaml", "env"],
            &["install-secrets", "--check-mode", "x", "m.json"],
            &["rotate"],
            &["keyservice", "--cache-ttl", "x"],
        ];
        for line in lines {
            let args: Vec<OsString> = std::iter::once("keytap")
                .chain(line.iter().copied())
                .map(OsString::from)
                .collect();
            let whole = Cli::try_parse_from(args.clone());
            let named = Cli::parse_from_args(args);
            match (whole, named) {
                (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{line:?}"),
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string(), "{line:?}");
                    assert_eq!(a.exit_code(), b.exit_code(), "{line:?}");
                }
                (a, b) => panic!("{line:?}: {a:?} but {b:?}"),
            }
        }
    }
}
