//! One module per command; `run` dispatches.

mod decrypt;
mod doctor;
mod edit;
mod encrypt;
mod exec;
mod filestatus;
mod git_setup;
mod groups;
mod install_secrets;
mod keygen;
mod keyservice;
mod merge;
mod publish;
mod rotate;
mod set;
mod ssh_to_pgp;
mod updatekeys;

pub use install_secrets::program_name as install_secrets_program_name;

use std::ffi::OsString;
use std::path::PathBuf;

use crate::args::*;
use crate::error::CliError;
use keytap_core::error::exit_code;

/// Runs the parsed command line; returns the exit code on success.
pub fn run(cli: Cli) -> Result<i32, CliError> {
    crate::config_rules::set_config_flag(cli.global.config.clone());
    crate::context::set_verbose(cli.global.verbose);
    if let Some(args) = key_service_args(&cli) {
        crate::context::set_key_services(args)?;
    }
    match cli.command {
        Some(Command::Encrypt(Lazy(EncryptArgs {
            common,
            keys,
            file,
            ignored,
        }))) => {
            warn_ignored_positionals(&ignored);
            let file = match file {
                Some(f) => f,
                None if common.filename_override.is_some() => crate::context::STDIN.into(),
                None => {
                    return Err(CliError::new(
                        exit_code::CONFLICTING_PARAMETERS,
                        "Error: must specify --filename-override when reading from stdin",
                    ))
                }
            };
            encrypt::run(&common, &keys, &file)
        }
        Some(Command::Decrypt(Lazy(DecryptArgs {
            common,
            extract,
            ignore_mac,
            output_dir,
            files,
        }))) => decrypt::run(
            &common,
            extract.as_deref(),
            ignore_mac,
            output_dir.as_deref(),
            &files,
        ),
        Some(Command::Edit(Lazy(EditArgs {
            common,
            keys,
            ignore_mac,
            show_master_keys,
            file,
            ignored,
        }))) => {
            let Some(file) = file else {
                return Err(CliError::new(
                    exit_code::NO_FILE_SPECIFIED,
                    "Error: no file specified",
                ));
            };
            warn_ignored_positionals(&ignored);
            edit::run(&common, &keys, ignore_mac, show_master_keys, &file)
        }
        Some(Command::Set(Lazy(SetArgs {
            common,
            value_file,
            value_stdin,
            idempotent,
            ignore_mac,
            file,
            path,
            value,
            extra,
            ..
        }))) => {
            if value_file && value_stdin {
                return Err(CliError::new(
                    exit_code::GENERIC,
                    "Error: cannot use both --value-file and --value-stdin",
                ));
            }
            let given = usize::from(value.is_some()) + extra.len();
            let (Some(file), Some(path), true) = (file, path, given == usize::from(!value_stdin))
            else {
                let message = if value_stdin {
                    "Error: file specified, or index and value are missing. Need precisely 2 positional arguments since --value-stdin is used."
                } else {
                    "Error: no file specified, or index and value are missing. Need precisely 3 positional arguments."
                };
                return Err(CliError::new(exit_code::NO_FILE_SPECIFIED, message));
            };
            set::run_set(
                &common,
                &file,
                &path,
                value.as_deref(),
                value_file,
                idempotent,
                ignore_mac,
            )
        }
        Some(Command::Unset(Lazy(UnsetArgs {
            common,
            idempotent,
            ignore_mac,
            file,
            path,
            extra,
            ..
        }))) => {
            let (Some(file), Some(path), true) = (file, path, extra.is_empty()) else {
                return Err(CliError::new(
                    exit_code::NO_FILE_SPECIFIED,
                    "Error: no file specified, or index is missing",
                ));
            };
            set::run_unset(&common, &file, &path, idempotent, ignore_mac)
        }
        Some(Command::Rotate(Lazy(RotateArgs {
            common,
            key_changes,
            ignore_mac,
            files,
            ..
        }))) if !files.is_empty() => rotate::run(
            &common,
            &key_changes,
            ignore_mac,
            &files,
            rotate::Form::Command,
        ),
        Some(Command::Updatekeys(Lazy(UpdatekeysArgs {
            yes,
            dry_run,
            input_type,
            files,
            ..
        }))) => updatekeys::run(yes, dry_run, input_type.as_deref(), &files),
        Some(Command::Rotate(_)) => Err(CliError::new(
            exit_code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        )),
        Some(Command::Publish(Lazy(args))) => publish::run(&args),
        Some(Command::Filestatus(Lazy(FilestatusArgs {
            input_type, file, ..
        }))) => match file {
            Some(file) => filestatus::run(input_type.as_deref(), &file),
            None => Err(CliError::new(
                exit_code::NO_FILE_SPECIFIED,
                "Error: no file specified",
            )),
        },
        Some(Command::ExecEnv(Lazy(ExecEnvArgs {
            pristine,
            background,
            same_process,
            user,
            file,
            command,
            extra,
            ..
        }))) => {
            let (file, command) = exec_arguments(file, command, &extra)?;
            let launch = exec::Launch {
                // sops: an empty user is no user.
                user: user.as_deref().filter(|u| !u.is_empty()),
                background,
                same_process,
            };
            exec::run_env(&file, &command, pristine, &launch)
        }
        Some(Command::ExecFile(Lazy(ExecFileArgs {
            no_fifo,
            background,
            user,
            input_type,
            output_type,
            filename,
            file,
            command,
            extra,
            ..
        }))) => {
            let (file, command) = exec_arguments(file, command, &extra)?;
            exec::run_file(
                input_type.as_deref(),
                output_type.as_deref(),
                filename.as_deref(),
                &file,
                &command,
                no_fifo,
                &exec::Launch {
                    user: user.as_deref().filter(|u| !u.is_empty()),
                    background,
                    same_process: false,
                },
            )
        }
        Some(Command::Groups(GroupsArgs {
            action: Some(action),
            ..
        })) => groups::run(action),
        Some(Command::Groups(GroupsArgs {
            action: None,
            topic,
        })) => match topic.first() {
            Some(topic) => Err(CliError::new(
                3,
                format!("No help topic for '{}'", topic.to_string_lossy()),
            )),
            None => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                cmd.build();
                let help = cmd
                    .find_subcommand_mut("groups")
                    .map(|g| g.render_help().to_string())
                    .unwrap_or_default();
                crate::output::write_stdout(help.as_bytes())?;
                Ok(0)
            }
        },
        Some(Command::Completion(Lazy(CompletionArgs { shell }))) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "keytap", &mut out);
            crate::output::write_stdout(&out)?;
            Ok(0)
        }
        Some(Command::Man) => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| CliError::new(exit_code::GENERIC, e.to_string()))?;
            crate::output::write_stdout(&out)?;
            Ok(0)
        }
        Some(Command::Doctor(Lazy(DoctorArgs { file }))) => doctor::run(file.as_deref()),
        Some(Command::Keygen(Lazy(KeygenArgs {
            output,
            to_recipient,
            pq,
            input,
        }))) => keygen::run(output.as_deref(), to_recipient, pq, input.as_deref()),
        Some(Command::SshToPgp(Lazy(SshToPgpArgs {
            input,
            output,
            private_key,
            format,
            name,
            comment,
            email,
        }))) => ssh_to_pgp::run(ssh_to_pgp::Flags {
            input: &input,
            output: &output,
            private_key,
            armor: format == "armor",
            name: &name,
            comment: &comment,
            email: &email,
        }),
        Some(Command::Keyservice(Lazy(ServeKeysArgs {
            network,
            address,
            prompt,
            cache_ttl,
            cache_max_ttl,
            allow_remote,
            lock,
        }))) => keyservice::run(keyservice::Flags {
            network,
            address,
            prompt,
            cache_ttl,
            cache_max_ttl,
            allow_remote,
            lock,
            verbose: cli.global.verbose,
        }),
        Some(Command::Merge(Lazy(MergeArgs {
            input_type,
            base,
            ours,
            theirs,
            path,
            ..
        }))) => merge::run(
            input_type.as_deref(),
            &base,
            &ours,
            &theirs,
            path.as_deref(),
        ),
        Some(Command::GitSetup(Lazy(GitSetupArgs { dry_run }))) => git_setup::run(dry_run),
        Some(Command::InstallSecrets(Lazy(InstallSecretsArgs {
            check_mode,
            ignore_passwd,
            manifest,
            ..
        }))) => install_secrets::run(&check_mode, ignore_passwd, &manifest),
        None => legacy(cli),
    }
}

/// exec-env's and exec-file's file and command: exactly two arguments, as sops takes them.
fn exec_arguments(
    file: Option<PathBuf>,
    command: Option<OsString>,
    extra: &[OsString],
) -> Result<(PathBuf, OsString), CliError> {
    match (file, command) {
        (Some(file), Some(command)) if extra.is_empty() => Ok((file, command)),
        _ => Err(CliError::new(
            exit_code::GENERIC,
            "error: missing file to decrypt",
        )),
    }
}

/// The key-service flags of the command, for the commands sops gives them to.
fn key_service_args(cli: &Cli) -> Option<&KeyServiceArgs> {
    Some(match cli.command.as_ref() {
        None => &cli.legacy.common.keyservice,
        Some(Command::Encrypt(Lazy(EncryptArgs { common, .. })))
        | Some(Command::Decrypt(Lazy(DecryptArgs { common, .. })))
        | Some(Command::Edit(Lazy(EditArgs { common, .. })))
        | Some(Command::Set(Lazy(SetArgs { common, .. })))
        | Some(Command::Unset(Lazy(UnsetArgs { common, .. })))
        | Some(Command::Rotate(Lazy(RotateArgs { common, .. }))) => &common.keyservice,
        Some(Command::Updatekeys(Lazy(UpdatekeysArgs { keyservice, .. })))
        | Some(Command::ExecEnv(Lazy(ExecEnvArgs { keyservice, .. })))
        | Some(Command::ExecFile(Lazy(ExecFileArgs { keyservice, .. })))
        | Some(Command::InstallSecrets(Lazy(InstallSecretsArgs { keyservice, .. })))
        | Some(Command::Merge(Lazy(MergeArgs { keyservice, .. }))) => keyservice,
        Some(Command::Groups(GroupsArgs {
            action: Some(action),
            ..
        })) => match action {
            GroupsAction::Add(Lazy(GroupsAddArgs { keyservice, .. }))
            | GroupsAction::Delete(Lazy(GroupsDeleteArgs { keyservice, .. })) => keyservice,
        },
        _ => return None,
    })
}

/// `keytap -e|-d|-r FILE` and `keytap FILE` (edit), as sops accepts them.
fn legacy(cli: Cli) -> Result<i32, CliError> {
    let l = cli.legacy;
    let Some(file) = cli.file else {
        return Err(CliError::new(
            exit_code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        ));
    };
    warn_ignored_positionals(&cli.ignored);
    // sops 3.11's checks, in its order, before any mode runs.
    let files = std::slice::from_ref(&file);
    crate::context::check_target(&l.common, &file, false)?;
    rotate::refuse_key_changes_on_missing_files(&l.key_changes, files, rotate::Form::Legacy)?;
    if l.encrypt || l.decrypt || l.rotate {
        crate::context::refuse_missing(&file)?;
    }
    // Several modes: sops runs each in turn (encrypt, decrypt, rotate, set) and only the
    // last one's result is written or shown; the earlier ones change nothing.
    let modes = [l.encrypt, l.decrypt, l.rotate, l.set.is_some()];
    let several = modes.iter().filter(|m| **m).count() > 1;
    if several {
        eprintln!("More than one command (--encrypt, --decrypt, --rotate, --set) has been specified. Only the changes made by the last one will be visible. Note that this behavior is deprecated and will cause an error eventually.");
    }
    if several && l.encrypt {
        // sops settles the encryption's keys and rules before any mode runs: with none,
        // the line fails even though a later mode's result is the one shown.
        let rules_path = l.common.filename_override.as_deref().unwrap_or(&file);
        let formats = crate::context::formats(&l.common, &file, crate::rules::store_options()?)?;
        let binary = formats.input == keytap_core::stores::Format::Binary;
        crate::rules::resolve(&l.keys, rules_path, binary)?;
    }
    if let Some(set) = l.set {
        set::run_legacy_set(&l.common, &file, &set, l.ignore_mac)
    } else if l.rotate {
        rotate::run(
            &l.common,
            &l.key_changes,
            l.ignore_mac,
            files,
            rotate::Form::Legacy,
        )
    } else if l.decrypt {
        decrypt::run(&l.common, l.extract.as_deref(), l.ignore_mac, None, files)
    } else if l.encrypt {
        encrypt::run(&l.common, &l.keys, &file)
    } else {
        edit::run(&l.common, &l.keys, l.ignore_mac, l.show_master_keys, &file)
    }
}

/// The first of a command's file arguments, with sops's warning when there are more
/// (sops uses the first and ignores the rest).
pub(crate) fn first_positional<T: AsRef<std::ffi::OsStr>>(files: &[T]) -> &[T] {
    warn_ignored_positionals(files.get(1..).unwrap_or_default());
    &files[..files.len().min(1)]
}

/// sops's warnings for positional arguments past the first, which it ignores: one, and
/// another naming the last of them that looks like a flag (given after the file, or
/// after `--`).
pub(crate) fn warn_ignored_positionals<T: AsRef<std::ffi::OsStr>>(ignored: &[T]) {
    if ignored.is_empty() {
        return;
    }
    eprintln!("More than one positional argument provided. Only the first one will be used!");
    let looks_like_a_flag = ignored
        .iter()
        .map(|arg| arg.as_ref().as_encoded_bytes())
        .filter(|arg| arg.starts_with(b"-"))
        .last();
    if let Some(flag) = looks_like_a_flag {
        eprintln!(
            "Note that one of the ignored positional argument is {}, which looks like a flag. Flags must always be provided before the first positional argument!",
            keytap_core::goerr::quote(flag)
        );
    }
}
