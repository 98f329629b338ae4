//! The arguments of each command, added to clap's command only when that command runs
//! (see [`super::Lazy`]). None has a doc comment: clap would show it in the command's help in
//! place of the variant's.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Args;

use super::{CommonArgs, GroupsAction, KeyArgs, KeyChangeArgs, KeyServiceArgs, KmsOptionArgs};

// `keytap encrypt`.
#[derive(Args, Debug)]
pub struct EncryptArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// The file to encrypt (stdin when omitted; then --filename-override is required).
    pub file: Option<PathBuf>,
    /// Further arguments, which sops ignores with a warning.
    #[arg(hide = true)]
    pub ignored: Vec<OsString>,
}

// `keytap decrypt`.
#[derive(Args, Debug)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Print only the value at this path, e.g. '["a"][0]'.
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    /// Do not check the MAC.
    #[arg(long)]
    pub ignore_mac: bool,
    /// Decrypt several files into DIR (one session per plugin for all of them).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// The file(s) to decrypt (stdin when omitted).
    pub files: Vec<PathBuf>,
}

// `keytap edit`.
#[derive(Args, Debug)]
pub struct EditArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Show the sops metadata in the editor beside the values.
    #[arg(short = 's', long = "show-master-keys")]
    pub show_master_keys: bool,
    /// Do not check the MAC.
    #[arg(long)]
    pub ignore_mac: bool,
    /// The file to edit (without it, sops's "no file specified").
    pub file: Option<PathBuf>,
    /// Further arguments, which sops ignores with a warning.
    #[arg(hide = true)]
    pub ignored: Vec<OsString>,
}

// `keytap set`.
#[derive(Args, Debug)]
pub struct SetArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Read the value from this file.
    #[arg(long)]
    pub value_file: bool,
    /// Read the value from stdin.
    #[arg(long)]
    pub value_stdin: bool,
    /// Do nothing (exit 0) when the value is already set.
    #[arg(long)]
    pub idempotent: bool,
    /// sops defines it here and never reads it; keytap accepts it the same way.
    #[arg(long = "shamir-secret-sharing-threshold", hide = true, value_parser = crate::go_flags::parse_go_count)]
    pub shamir_threshold: Option<usize>,
    /// Do not check the MAC.
    #[arg(long)]
    pub ignore_mac: bool,
    /// The file.
    pub file: Option<PathBuf>,
    /// The path, e.g. '["a"]["b"]'.
    pub path: Option<String>,
    /// The JSON value (or the file holding it with --value-file). Once the file and path
    /// are given, a word starting with `-` is the value, not a flag (`set f '["n"]' -1`),
    /// as in sops (whose flags end at the first positional argument).
    #[arg(allow_hyphen_values = true)]
    pub value: Option<OsString>,
    /// Arguments past the value: sops refuses the line (exit 100).
    #[arg(hide = true, allow_hyphen_values = true, trailing_var_arg = true)]
    pub extra: Vec<OsString>,
}

// `keytap unset`.
#[derive(Args, Debug)]
pub struct UnsetArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Do nothing (exit 0) when the path does not exist.
    #[arg(long)]
    pub idempotent: bool,
    /// sops defines it here and never reads it; keytap accepts it the same way.
    #[arg(long = "shamir-secret-sharing-threshold", hide = true, value_parser = crate::go_flags::parse_go_count)]
    pub shamir_threshold: Option<usize>,
    /// Do not check the MAC.
    #[arg(long)]
    pub ignore_mac: bool,
    /// The file.
    pub file: Option<PathBuf>,
    /// The path.
    pub path: Option<String>,
    /// Arguments past the path: sops refuses the line (exit 100).
    #[arg(hide = true, allow_hyphen_values = true, trailing_var_arg = true)]
    pub extra: Vec<OsString>,
}

// `keytap rotate`.
#[derive(Args, Debug)]
pub struct RotateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub key_changes: KeyChangeArgs,
    #[command(flatten)]
    pub kms_options: KmsOptionArgs,
    /// Do not check the MAC.
    #[arg(long)]
    pub ignore_mac: bool,
    /// The file (with -i, several: their keys are unwrapped in one plugin session).
    pub files: Vec<PathBuf>,
}

// `keytap updatekeys`.
#[derive(Args, Debug)]
pub struct UpdatekeysArgs {
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Only list what would change in each file (recipients added and removed).
    #[arg(long)]
    pub dry_run: bool,
    /// Input format.
    #[arg(long)]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub keyservice: KeyServiceArgs,
    /// The files.
    pub files: Vec<PathBuf>,
}

// `keytap publish`.
#[derive(Args, Debug)]
pub struct PublishArgs {
    /// Pre-approve all changes and run non-interactively.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Omit file extensions in the destination path.
    #[arg(long)]
    pub omit_extensions: bool,
    /// Publish a directory's files recursively.
    #[arg(long)]
    pub recursive: bool,
    #[command(flatten)]
    pub keyservice: KeyServiceArgs,
    /// The file or directory (sops uses the first).
    pub files: Vec<PathBuf>,
}

// `keytap filestatus`.
#[derive(Args, Debug)]
pub struct FilestatusArgs {
    /// Input format.
    #[arg(long)]
    pub input_type: Option<String>,
    /// The file.
    pub file: Option<PathBuf>,
    /// Further arguments, which sops ignores (silently, here).
    #[arg(hide = true)]
    pub ignored: Vec<OsString>,
}

// `keytap exec-env`.
#[derive(Args, Debug)]
pub struct ExecEnvArgs {
    /// Do not inherit keytap's environment.
    #[arg(long)]
    pub pristine: bool,
    #[command(flatten)]
    pub keyservice: KeyServiceArgs,
    /// Start the command and return without waiting for it (deprecated, as in sops).
    #[arg(long)]
    pub background: bool,
    /// Replace keytap with the command instead of running it as a child.
    #[arg(long)]
    pub same_process: bool,
    /// Run the command as this user (keytap switches to it after decrypting; needs root).
    #[arg(long)]
    pub user: Option<String>,
    /// The file (it and the command are checked as sops checks them: two arguments).
    pub file: Option<PathBuf>,
    /// The command (run with `sh -c`).
    pub command: Option<OsString>,
    /// Arguments past the command, which sops refuses.
    #[arg(hide = true)]
    pub extra: Vec<OsString>,
}

// `keytap exec-file`.
#[derive(Args, Debug)]
pub struct ExecFileArgs {
    /// Use a 0600 temporary file instead of a FIFO.
    #[arg(long)]
    pub no_fifo: bool,
    #[command(flatten)]
    pub keyservice: KeyServiceArgs,
    /// Return once the command has read the FIFO, without waiting for it to end (deprecated,
    /// as in sops; with --no-fifo keytap still waits, so the file outlives its reader).
    #[arg(long)]
    pub background: bool,
    /// Run the command as this user (keytap switches to it after decrypting; needs root).
    #[arg(long)]
    pub user: Option<String>,
    /// Input format.
    #[arg(long)]
    pub input_type: Option<String>,
    /// Output format of the plaintext given to the command.
    #[arg(long)]
    pub output_type: Option<String>,
    /// File name of the plaintext inside its private directory.
    #[arg(long)]
    pub filename: Option<OsString>,
    /// The file (it and the command are checked as sops checks them: two arguments).
    pub file: Option<PathBuf>,
    /// The command; `{}` is replaced by the plaintext's path.
    pub command: Option<OsString>,
    /// Arguments past the command, which sops refuses.
    #[arg(hide = true)]
    pub extra: Vec<OsString>,
}

// `keytap groups`.
#[derive(Args, Debug)]
#[command(args_override_self = true, args_conflicts_with_subcommands = true)]
pub struct GroupsArgs {
    /// What to do (without it, the help, as sops prints it: on stdout, exit 0).
    #[command(subcommand)]
    pub action: Option<GroupsAction>,
    /// Anything else: sops's "No help topic" (exit 3).
    #[arg(hide = true)]
    pub topic: Vec<OsString>,
}

// `keytap completion`.
#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// bash, zsh or fish.
    pub shell: clap_complete::Shell,
}

// `keytap doctor`.
#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// A sops file to check.
    pub file: Option<PathBuf>,
}

// `keytap keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Write the identity to FILE (mode 0600; never overwritten).
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Print the recipient of the identity in FILE (or stdin).
    #[arg(short = 'y')]
    pub to_recipient: bool,
    /// Generate a post-quantum (ML-KEM-768 + X25519) identity, like `age-keygen -pq`.
    #[arg(long)]
    pub pq: bool,
    /// The identity file for -y.
    pub input: Option<PathBuf>,
}

// `keytap ssh-to-pgp`.
#[derive(Args, Debug)]
pub struct SshToPgpArgs {
    /// The SSH private key file ('-': stdin).
    #[arg(short = 'i', value_name = "FILE", default_value = "-")]
    pub input: PathBuf,
    /// Where to write the key ('-': stdout). A secret key goes to a new file of mode 0600.
    #[arg(short = 'o', value_name = "FILE", default_value = "-")]
    pub output: PathBuf,
    /// Export the secret key instead of the public key.
    #[arg(long)]
    pub private_key: bool,
    /// The encoding: armor or binary.
    #[arg(long, value_parser = ["armor", "binary"], default_value = "armor")]
    pub format: String,
    /// The user ID's name.
    #[arg(long, default_value = "root")]
    pub name: String,
    /// The user ID's comment.
    #[arg(long, default_value = "Imported from SSH")]
    pub comment: String,
    /// The user ID's email.
    #[arg(long, default_value = "root@localhost")]
    pub email: String,
}

// `keytap keyservice`.
#[derive(Args, Debug)]
pub struct ServeKeysArgs {
    /// Network to listen on: tcp or unix.
    #[arg(long, alias = "net", default_value = "tcp")]
    pub network: String,
    /// Address to listen on: host:port for tcp, a socket path for unix.
    #[arg(long, alias = "addr", default_value = "127.0.0.1:5000")]
    pub address: String,
    /// Ask the user to confirm every request (through KEYTAP_ASKPASS, pinentry or the
    /// terminal).
    #[arg(long)]
    pub prompt: bool,
    /// Seconds a PIN or passphrase is kept unused (0: never keep one).
    #[arg(long, value_name = "SECONDS", default_value = "600")]
    pub cache_ttl: u64,
    /// Seconds a PIN or passphrase is kept at most, used or not.
    #[arg(long, value_name = "SECONDS", default_value = "7200")]
    pub cache_max_ttl: u64,
    /// Serve whoever connects: listen on a TCP address that is not loopback, and serve
    /// other users too (anyone who can reach the socket can use your keys).
    #[arg(long)]
    pub allow_remote: bool,
    /// Tell the service at --network/--address to forget every cached secret, and exit.
    #[arg(long)]
    pub lock: bool,
}

// `keytap merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Input format (default: from PATH's extension, else OURS's).
    #[arg(long)]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub keyservice: KeyServiceArgs,
    /// The common ancestor (git's %O; empty when both sides added the file).
    pub base: PathBuf,
    /// Our version (git's %A): the merged file is written here.
    pub ours: PathBuf,
    /// Their version (git's %B).
    pub theirs: PathBuf,
    /// The file's path in the repository (git's %P): its name in messages and format.
    pub path: Option<PathBuf>,
}

// `keytap git-setup`.
#[derive(Args, Debug)]
pub struct GitSetupArgs {
    /// Only print what would be written.
    #[arg(long)]
    pub dry_run: bool,
}

// `keytap install-secrets`.
#[derive(Args, Debug)]
pub struct InstallSecretsArgs {
    /// Validate without installing: `manifest` (the manifest alone), `sopsfile` (also
    /// the sops files and keys, without decrypting) or `off` (install).
    #[arg(long, value_name = "MODE", default_value = "off")]
    pub check_mode: String,
    /// Look up no user or group: everything is owned by root (secrets for users).
    #[arg(long)]
    pub ignore_passwd: bool,
    #[command(flatten)]
    pub keyservice: KeyServiceArgs,
    /// The manifest JSON. (More than one is a usage error that exits 0, as in
    /// sops-install-secrets, whose flags end at the first argument.)
    #[arg(required = true, num_args = 1..)]
    pub manifest: Vec<PathBuf>,
}

// `keytap groups add`.
#[derive(Args, Debug)]
pub struct GroupsAddArgs {
    /// The sops file (without it, sops fails reading a file named "").
    #[arg(short = 'f', long)]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub keyservice: KeyServiceArgs,
    /// age recipients of the new group (repeatable, each may be a comma list).
    #[arg(long)]
    pub age: Vec<String>,
    /// PGP fingerprints of the new group (repeatable, wrapped through GnuPG).
    #[arg(long)]
    pub pgp: Vec<String>,
    /// Keys of types keytap cannot wrap to: refused.
    #[arg(long, hide = true)]
    pub kms: Vec<String>,
    /// Refused, as `--kms`.
    #[arg(long, hide = true)]
    pub gcp_kms: Vec<String>,
    /// Refused, as `--kms`.
    #[arg(long, hide = true)]
    pub azure_kv: Vec<String>,
    /// Refused, as `--kms`.
    #[arg(long, hide = true)]
    pub hc_vault_transit: Vec<String>,
    /// Refused, as `--kms`.
    #[arg(long, hide = true)]
    pub hckms: Vec<String>,
    #[command(flatten)]
    pub kms_options: KmsOptionArgs,
    /// Write back to the file instead of stdout.
    #[arg(short = 'i', long = "in-place")]
    pub in_place: bool,
    /// Groups needed to recover the key.
    #[arg(long = "shamir-secret-sharing-threshold", value_parser = crate::go_flags::parse_go_count)]
    pub shamir_threshold: Option<usize>,
}

// `keytap groups delete`.
#[derive(Args, Debug)]
pub struct GroupsDeleteArgs {
    /// The sops file (without it, sops fails reading a file named "").
    #[arg(short = 'f', long)]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub keyservice: KeyServiceArgs,
    /// Write back to the file instead of stdout.
    #[arg(short = 'i', long = "in-place")]
    pub in_place: bool,
    /// Groups needed to recover the key.
    #[arg(long = "shamir-secret-sharing-threshold", value_parser = crate::go_flags::parse_go_count)]
    pub shamir_threshold: Option<usize>,
    /// The group's index.
    pub index: Option<String>,
    /// Arguments past the index, which sops refuses.
    #[arg(hide = true)]
    pub extra: Vec<OsString>,
}
