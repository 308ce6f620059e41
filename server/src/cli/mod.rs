//! The `fieldledger` command line: `serve`, `admin` and the `device` client.

/// `println!` for command output: when the reader has gone (`fieldledger … | head`), the
/// command stops quietly instead of panicking on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!($($arg)*))
    };
}

mod admin;
mod campaign;
mod device;
mod export;
mod serve;

use clap::{Parser, Subcommand};

/// fieldledger: offline-first records for the bureau's field campaigns.
#[derive(Debug, Parser)]
#[command(name = "fieldledger", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the relay that devices sync with.
    Serve(serve::ServeArgs),
    /// Manage units, users and devices in a relay database.
    Admin(admin::AdminArgs),
    /// The phone-side client: a local store, offline edits, sync with a relay.
    Device(device::DeviceArgs),
}

/// Writes one line of command output to standard output; exits quietly (status 0: the
/// reader took what it wanted) when the pipe is closed.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: writing the output: {e}");
            std::process::exit(1);
        }
    }
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
    use clap::{CommandFactory, FromArgMatches};
    let command = Cli::command().mut_subcommand("device", device::document_fields);
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Admin(args) => admin::run(args),
        Command::Device(args) => device::run(args),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
        Cli::command()
            .mut_subcommand("device", device::document_fields)
            .debug_assert();
    }
}
