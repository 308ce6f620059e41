//! `… export ledger | monthly | supervision`: reports written to files, for the device (its own
//! unit's records, offline) and for the relay database (every unit).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use fieldledger_core::Store;
use fieldledger_core::report::supervision::{SupervisionQuery, supervision};
use fieldledger_server::reports::{
    AsOfParams, LedgerParams, MonthlyParams, narrow, render_ledger, render_monthly, report_campaign,
};

/// Reports to export.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// The Annex 2 dispute ledger (矛盾纠纷排查化解统计表) as CSV or XLSX.
    Ledger {
        #[command(flatten)]
        params: LedgerParams,
        /// Output file.
        #[arg(short = 'o', long)]
        output: PathBuf,
    },
    /// A unit's monthly report (or, for the whole bureau, who reported on time).
    Monthly {
        #[command(flatten)]
        params: MonthlyParams,
        /// Output file.
        #[arg(short = 'o', long)]
        output: PathBuf,
    },
    /// Supervision views (overdue, no leader, uncovered targets, missing screenings, conflicts) as JSON.
    Supervision {
        #[command(flatten)]
        params: AsOfParams,
        /// Output file (default: standard output).
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
}

/// Runs an export over `store`; `allowed` are the units the caller may read (none: all) and
/// `own_unit` the unit a monthly report defaults to.
pub fn run(
    store: &Store,
    allowed: Option<Vec<String>>,
    own_unit: Option<String>,
    cmd: ExportCommand,
) -> anyhow::Result<()> {
    match cmd {
        ExportCommand::Ledger { params, output } => {
            let units = narrow(allowed, params.unit.as_deref())?;
            let r = render_ledger(store, units, &params)?;
            std::fs::write(&output, &r.bytes)
                .with_context(|| format!("writing {}", output.display()))?;
            println!("wrote {} ({} bytes)", output.display(), r.bytes.len());
        }
        ExportCommand::Monthly { params, output } => {
            let units = narrow(allowed, params.unit.as_deref())?;
            let unit = params.unit.clone().or(own_unit);
            let r = render_monthly(store, unit.as_deref(), units, &params)?;
            std::fs::write(&output, &r.bytes)
                .with_context(|| format!("writing {}", output.display()))?;
            println!("wrote {} ({} bytes)", output.display(), r.bytes.len());
        }
        ExportCommand::Supervision { params, output } => {
            let units = narrow(allowed, params.unit.as_deref())?;
            let (campaign, as_of) = report_campaign(store, &params.as_of)?;
            let v = supervision(store, &SupervisionQuery { units, as_of }, &campaign)?;
            let json = serde_json::to_string_pretty(&v)?;
            match output {
                Some(p) => {
                    std::fs::write(&p, json).with_context(|| format!("writing {}", p.display()))?
                }
                None => println!("{json}"),
            }
        }
    }
    Ok(())
}
