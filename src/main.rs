//! The `pail` binary: parse arguments, run one command, map the outcome to an exit code.
//! All printing and all reading of the environment happen here, never in the library.

mod cli;

fn main() {
    std::process::exit(cli::run());
}
