//! Subcommands whose arguments clap builds only when they run.

use clap::{ArgMatches, Args, Command, Error, FromArgMatches, Id};

/// A subcommand's arguments `T`, added to clap's command through [`Command::defer`]: only
/// the subcommand that runs (or whose help is shown) gets its arguments built. Building
/// all twenty commands' arguments took a tenth of a small file's decrypt (clap's vectors
/// growing argument by argument, ~80 page faults).
#[derive(Debug)]
pub struct Lazy<T>(pub T);

impl<T: Args> Args for Lazy<T> {
    fn augment_args(cmd: Command) -> Command {
        cmd.defer(|cmd| keeping_about(cmd, T::augment_args))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        cmd.defer(|cmd| keeping_about(cmd, T::augment_args_for_update))
    }

    fn group_id() -> Option<Id> {
        T::group_id()
    }
}

/// `augment(cmd)` with `cmd`'s description: the variant's doc comment set it before the
/// deferred arguments came, and the doc comments of the argument structs flattened in
/// (`CommonArgs`, ...) would replace it.
fn keeping_about(cmd: Command, augment: fn(Command) -> Command) -> Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    // A flag given twice keeps its last value, as Go's flag package (and so sops) does.
    let mut cmd = augment(cmd).args_override_self(true);
    if let Some(about) = about {
        cmd = cmd.about(about);
    }
    if let Some(long_about) = long_about {
        cmd = cmd.long_about(long_about);
    }
    cmd
}

impl<T: FromArgMatches> FromArgMatches for Lazy<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, Error> {
        T::from_arg_matches(matches).map(Lazy)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, Error> {
        T::from_arg_matches_mut(matches).map(Lazy)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    fn about(cmd: &clap::Command) -> Option<String> {
        cmd.get_about().map(ToString::to_string)
    }

    #[test]
    fn arguments_come_when_built_and_descriptions_stay() {
        let mut cli = crate::args::Cli::command();
        let has_arg = |cmd: &clap::Command, id: &str| cmd.get_arguments().any(|a| a.get_id() == id);
        let decrypt = cli.find_subcommand("decrypt").expect("decrypt");
        assert!(
            !has_arg(decrypt, "extract"),
            "decrypt's arguments are not built up front"
        );
        let before: Vec<(String, Option<String>)> = cli
            .get_subcommands()
            .map(|sc| (sc.get_name().to_string(), about(sc)))
            .collect();
        cli.build();
        for (name, about_before) in before {
            let sc = cli.find_subcommand(&name).expect("subcommand");
            assert_eq!(about(sc), about_before, "{name}'s description");
        }
        let decrypt = cli.find_subcommand("decrypt").expect("decrypt");
        assert!(has_arg(decrypt, "extract") && has_arg(decrypt, "in_place"));
        assert_eq!(about(decrypt).as_deref(), Some("Decrypt a file"));
    }
}
