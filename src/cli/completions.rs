//! `pail completions SHELL`: the shell completion script, generated from the same clap
//! definition as the parser, so it cannot drift from the commands.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, CliError, output};

#[derive(Debug, clap::Args)]
#[command(after_help = "Install it where your shell looks for completions, e.g.:
  bash: pail completions bash > ~/.local/share/bash-completion/completions/pail
  zsh:  pail completions zsh > ~/.zfunc/_pail   (with fpath+=~/.zfunc before compinit)
  fish: pail completions fish > ~/.config/fish/completions/pail.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for
    pub shell: Shell,
}

pub fn cmd_completions(args: CompletionsArgs) -> Result<(), CliError> {
    // clap_complete panics if its writer fails; render to memory, then write, so that a
    // closed pipe stays the quiet error every command gives.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "pail", &mut script);
    let mut out = output::stdout_exact();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}
