//! The `pail` binary: the command line of the library's `cli` module, which parses
//! arguments, runs one command and maps the outcome to an exit code.

fn main() {
    std::process::exit(pail::cli::run());
}
