//! `fieldledger`: run the relay and administer its accounts.

mod cli;

fn main() -> anyhow::Result<()> {
    cli::run()
}
