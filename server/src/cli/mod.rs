//! The `fieldledger` command line: `serve`, `admin` (and later the `device` client).

mod admin;
mod serve;
// DEVICE: the lead adds `mod device;` (the phone-side client commands) here.

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
    // DEVICE: the lead adds `Device(device::DeviceArgs)` here.
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args),
        Command::Admin(args) => admin::run(args),
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
