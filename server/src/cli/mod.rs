//! The `fieldledger` command line: `serve`, `admin` (and later the `device` client).

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

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
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
    }
}
