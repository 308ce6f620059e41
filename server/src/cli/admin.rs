//! `fieldledger admin`: units, users and devices of a relay database.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use fieldledger_server::Role;
use fieldledger_server::accounts::{ADMIN_LOGIN, DEFAULT_OFFICE_CODE, Issuer, MAX_PAGE, NewUser};
use fieldledger_server::audit::ledger_export_detail;
use fieldledger_server::database::Database;
use fieldledger_server::records::{
    RecordWrite, Written, known_users, office_identity, read_records,
};
use serde::Serialize;

/// Options of `fieldledger admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Relay database: a file (created if missing) or a PostgreSQL URL
    /// (`postgres://USER@HOST:PORT/DBNAME`).
    #[arg(long, global = true, default_value = "fieldledger.db")]
    db: PathBuf,
    /// Local copy of a PostgreSQL deployment (with `--db postgres://…`); default: a file in the
    /// temporary directory named after the database.
    #[arg(long, global = true)]
    cache: Option<PathBuf>,
    /// Code of the bureau office unit, used when the database is new.
    #[arg(long, global = true, default_value = DEFAULT_OFFICE_CODE)]
    office_code: String,
    /// Print JSON (lists, enrollment codes), before or after the subcommand.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Move a deployment from its SQLite file to PostgreSQL: records with their history,
    /// accounts, sessions and audit, as one snapshot the relays then start from. Run it with
    /// the relay stopped (a copy is taken even while one runs, but later writes to the file
    /// would not follow). An interrupted run is continued by running it again.
    Migrate {
        /// The relay database file.
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL database, `postgres://USER@HOST:PORT/DBNAME` (empty).
        #[arg(long)]
        to: String,
        /// Bytes per uploaded chunk.
        #[arg(long, default_value_t = fieldledger_server::replica::DEFAULT_CHUNK_BYTES, hide = true)]
        chunk_bytes: usize,
        /// Stop after uploading this many chunks (tests of the resumption).
        #[arg(long, hide = true)]
        stop_after_chunks: Option<u32>,
    },
    /// Compact a PostgreSQL deployment's write log into a snapshot of the current state
    /// (done after every erasure; relays that start later replay less).
    Compact,
    /// Units (单位).
    #[command(subcommand)]
    Unit(UnitCommand),
    /// Users and their roles.
    #[command(subcommand)]
    User(UserCommand),
    /// Enrolled devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Campaigns (活动) and their calendars: dates, visit rounds, due days.
    #[command(subcommand)]
    Campaign(super::campaign::CampaignCommand),
    /// Reports over every unit's records in the relay database.
    #[command(subcommand)]
    Export(super::export::ExportCommand),
    /// Show the newest entries of the audit log (enrollments, revocations, sign-offs, unit
    /// moves, erasures, refused changes, exports).
    Audit {
        /// How many entries to show (at most 1,000 a page).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only entries older than this id (the last id of the previous page).
        #[arg(long)]
        before: Option<i64>,
        /// Only actions starting with this (record., export., device., sync.refused).
        #[arg(long)]
        action: Option<String>,
    },
    /// Erase a person's data from a record and its history, on the relay and (at their next
    /// sync) on every device. The rest of the record and the ledger stay.
    Erase {
        /// Record id.
        id: String,
        /// Fields to erase (key or form label, e.g. 信访人); default: every personal field.
        #[arg(long = "field")]
        fields: Vec<String>,
        /// A string (name, phone, ID number) to mask wherever it appears in the record.
        #[arg(long = "mask")]
        masks: Vec<String>,
        /// Why (the request's reference); kept in the audit log.
        #[arg(long)]
        reason: String,
    },
    /// Records that revoked devices reported as never synced before they erased themselves.
    LostRecords {
        /// How many rows to show (at most 1,000 a page).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Only rows older than this id (the last id of the previous page).
        #[arg(long)]
        before: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
enum UnitCommand {
    /// Add a unit.
    Add {
        /// Short ASCII code, e.g. WJK.
        code: String,
        /// Full name, e.g. 疾控科.
        name: String,
    },
    /// List units.
    List,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user.
    Add {
        /// Login name (ASCII letters, digits, '.', '_', '-').
        login: String,
        /// Code of the user's unit.
        #[arg(long)]
        unit: String,
        /// Role of the user.
        #[arg(long, value_parser = role_parser())]
        role: Role,
        /// Display name, e.g. 张三.
        #[arg(long)]
        name: String,
    },
    /// List users.
    List,
    /// Set a user's dashboard password, read as one line from standard input.
    SetPassword {
        /// Login of the user.
        login: String,
    },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Create a one-time enrollment code for a new device of a user.
    Enroll {
        /// Login of the user the device is for.
        login: String,
    },
    /// Revoke a device: its token stops working at once.
    Revoke {
        /// Device id (UUID) or device code (D7).
        device: String,
    },
    /// List devices.
    List,
}

/// A page size the registry serves: 1 to [`MAX_PAGE`].
fn page_limit(limit: usize) -> anyhow::Result<usize> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        anyhow::bail!("--limit must be 1 to {MAX_PAGE}; page on with --before")
    }
}

/// Tells (on standard error, so JSON stays clean) how to read the next page.
fn more_hint(next: Option<i64>) {
    if let Some(id) = next {
        eprintln!("(more: add --before {id} for older entries)");
    }
}

fn role_parser() -> impl TypedValueParser<Value = Role> {
    PossibleValuesParser::new(Role::ALL.map(Role::code)).try_map(|s| s.parse::<Role>())
}

/// Who the audit log names for changes made from this command line: `cli:` and the
/// operating-system user running it (`$USER`, `$USERNAME`, else the user id's name).
fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .or_else(os_user_name)
        .unwrap_or_else(|| "unknown".into());
    format!("cli:{user}")
}

/// The name of the user the process runs as, from the user database (`id -un`), for when
/// the environment names none (cron, systemd units, `env -i`).
fn os_user_name() -> Option<String> {
    let out = std::process::Command::new("id").arg("-un").output().ok()?;
    let name = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !name.is_empty()).then_some(name)
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    out!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Runs an admin command.
pub fn run(args: AdminArgs) -> anyhow::Result<()> {
    if let AdminCommand::Migrate {
        from,
        to,
        chunk_bytes,
        stop_after_chunks,
    } = &args.command
    {
        let done = fieldledger_server::replica::migrate(from, to, *chunk_bytes, *stop_after_chunks)
            .with_context(|| format!("migrating {} to PostgreSQL", from.display()))?;
        if done.resumed > 0 {
            out!(
                "resumed an interrupted migration after {} chunk(s)",
                done.resumed
            );
        }
        if done.complete {
            out!(
                "migrated {} ({} bytes) to PostgreSQL; start the relays with --db {to}",
                from.display(),
                done.size
            );
        } else {
            out!(
                "stopped after {} chunk(s); run the same command again to continue",
                done.uploaded
            );
        }
        return Ok(());
    }
    let db = Database::open(&args.db, args.cache.as_deref(), "admin")
        .with_context(|| format!("opening relay database {}", args.db.display()))?;
    // On PostgreSQL the whole command holds the deployment's write turn: what it reads is
    // what it writes over.
    db.write(|| run_on(&db, args))
}

fn run_on(db: &Database, args: AdminArgs) -> anyhow::Result<()> {
    let mut store = db
        .accounts()
        .with_context(|| format!("opening relay database {}", db.display()))?;
    if let Some(code) = store.ensure_bootstrap(&args.office_code)? {
        eprintln!(
            "New relay database: created the office unit and user `{ADMIN_LOGIN}`; \
             enrollment code for {ADMIN_LOGIN} (usable once, valid 7 days): {code}"
        );
    }
    let actor = cli_actor();
    let json = args.json;
    match args.command {
        AdminCommand::Migrate { .. } => unreachable!("handled before the database is opened"),
        AdminCommand::Compact => {
            let Some(replica) = db.replica() else {
                anyhow::bail!("compact is for a PostgreSQL deployment (--db postgres://…)");
            };
            let compacted = replica.compact()?;
            out!(
                "compacted the write log: {} entries replaced by a snapshot at {} ({} bytes)",
                compacted.entries_removed,
                compacted.position,
                compacted.snapshot_bytes
            );
        }
        AdminCommand::Unit(UnitCommand::Add { code, name }) => {
            let unit = store.add_unit(&actor, &code, &name)?;
            db.record_backend()?
                .storage
                .ensure_unit_profile(&unit.code, &unit.name)?;
            out!("Added unit {} {}", unit.code, unit.name);
        }
        AdminCommand::Unit(UnitCommand::List) => {
            let units = store.list_units()?;
            if json {
                print_json(&units)?;
            } else {
                for unit in units {
                    let office = if unit.is_office {
                        "  (bureau office)"
                    } else {
                        ""
                    };
                    out!("{:<10} {}{office}", unit.code, unit.name);
                }
            }
        }
        AdminCommand::User(UserCommand::Add {
            login,
            unit,
            role,
            name,
        }) => {
            let user = store.add_user(
                &actor,
                &NewUser {
                    login,
                    name,
                    unit,
                    role,
                },
            )?;
            // Every device learns of the user with its next sync.
            db.record_backend()?
                .storage
                .set_directory(&known_users(&store)?)?;
            out!(
                "Added user {} ({}) in unit {} as {}",
                user.login,
                user.name,
                user.unit,
                user.role
            );
        }
        AdminCommand::User(UserCommand::List) => {
            let users = store.list_users()?;
            if json {
                print_json(&users)?;
            } else {
                for user in users {
                    out!(
                        "{:<16} {:<10} {:<10} {}",
                        user.login,
                        user.unit,
                        user.role,
                        user.name
                    );
                }
            }
        }
        AdminCommand::User(UserCommand::SetPassword { login }) => {
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            store.set_password(&actor, &login, password)?;
            out!("Password of {login} set");
        }
        AdminCommand::Device(DeviceCommand::Enroll { login }) => {
            let code = store.create_enrollment(Issuer::Admin(&actor), &login)?;
            if json {
                print_json(&code)?;
            } else {
                out!(
                    "Enrollment code for {}: {}\nUsable once, until {}.",
                    code.user_login,
                    code.code,
                    code.expires_at
                );
            }
        }
        AdminCommand::Device(DeviceCommand::Revoke { device }) => {
            let device = store.revoke_device(&actor, &device)?;
            out!(
                "Revoked device {} ({}) of {}",
                device.code,
                device.id,
                device.user_login
            );
        }
        AdminCommand::Device(DeviceCommand::List) => {
            let devices = store.list_devices()?;
            if json {
                print_json(&devices)?;
            } else {
                for d in devices {
                    let state = match &d.revoked_at {
                        Some(at) => format!("revoked {at}"),
                        None => format!("enrolled {}", d.enrolled_at),
                    };
                    out!(
                        "{:<6} {} {:<16} {:<10} {state} {}",
                        d.code,
                        d.id,
                        d.user_login,
                        d.unit,
                        d.label.unwrap_or_default()
                    );
                }
            }
        }
        AdminCommand::Campaign(cmd) => {
            let mut records = db.record_backend()?;
            let identity = office_identity(&cli_actor(), &cli_actor(), "cli", "CLI");
            super::campaign::run(&mut records, &identity, cmd, json)?;
        }
        AdminCommand::Export(cmd) => {
            let records = db.record_backend()?;
            let detail = match &cmd {
                super::export::ExportCommand::Ledger { params, output } => {
                    Some(ledger_export_detail(
                        params.format.as_deref(),
                        params.unit.as_ref().map(std::slice::from_ref),
                        &format!("to {}", output.display()),
                    ))
                }
                _ => None,
            };
            // Logged once it is written: a failed export is no export, and is logged as the
            // failure it is.
            let done = read_records(records.reads.as_ref(), |store| {
                super::export::run(store, None, None, cmd)
            });
            if let Some(detail) = detail {
                let action = if done.is_ok() {
                    "export.ledger"
                } else {
                    "export.ledger_failed"
                };
                store.log(&actor, action, &detail)?;
            }
            done?;
        }
        AdminCommand::Erase {
            id,
            fields,
            masks,
            reason,
        } => {
            let mut records = db.record_backend()?;
            let request = fieldledger_core::store::ErasureRequest {
                fields,
                masks,
                reason: reason.clone(),
            };
            let identity = office_identity(&actor, &actor, "cli", "CLI");
            let erase = RecordWrite::Erase { id, request };
            let Written::Erased {
                outcome: out,
                terms,
            } = records.storage.write_as(&identity, erase)?
            else {
                anyhow::bail!("the erasure wrote no erasure");
            };
            let detail = fieldledger_server::audit::erase_detail(
                &out,
                &fieldledger_server::accounts::mask_terms(&reason, &terms),
            );
            let cleared = store.erase_mentions(&actor, &out.id, &out.number, &terms, &detail)?;
            out!(
                "erased {} from {} ({} masked; also masked in {} lost-record report(s) and {} \
                 audit line(s)); devices replace their copies at their next sync",
                out.fields.join(", "),
                out.number,
                out.masked,
                cleared.lost_records,
                cleared.audit_lines,
            );
            if let Some(replica) = db.replica() {
                let compacted = replica.compact()?;
                out!(
                    "compacted the PostgreSQL write log: {} entries replaced by a snapshot at {}",
                    compacted.entries_removed,
                    compacted.position
                );
            }
            if !cleared.log_emptied {
                eprintln!(
                    "warning: the database's write-ahead log could not be emptied (a reader \
                     held it); old page images stay in the -wal file until the relay stops or \
                     the log is reused"
                );
            }
        }
        AdminCommand::LostRecords { limit, before } => {
            let limit = page_limit(limit)?;
            let lost = store.lost_records_page(before, limit)?;
            let next = (lost.len() == limit)
                .then(|| lost.last().map(|r| r.id))
                .flatten();
            if json {
                print_json(&lost)?;
            } else {
                for r in lost {
                    out!(
                        "#{:<6} {} {:<24} {:<8} {} {} (device {} of {}{})",
                        r.id,
                        r.reported_at,
                        r.number,
                        r.unit_code,
                        r.kind,
                        r.title,
                        r.device_id,
                        r.user_login,
                        if r.new_record {
                            ", never on the relay"
                        } else {
                            ""
                        }
                    );
                }
            }
            more_hint(next);
        }
        AdminCommand::Audit {
            limit,
            before,
            action,
        } => {
            let limit = page_limit(limit)?;
            let entries = store.audit_page(action.as_deref(), before, limit)?;
            let next = (entries.len() == limit)
                .then(|| entries.last().map(|e| e.id))
                .flatten();
            if json {
                print_json(&entries)?;
            } else {
                for e in entries {
                    out!(
                        "#{:<6} {} {:<20} {:<24} {}",
                        e.id,
                        e.at,
                        e.actor_login,
                        e.action,
                        e.detail
                    );
                }
            }
            more_hint(next);
        }
    }
    Ok(())
}
