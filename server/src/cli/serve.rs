//! `fieldledger serve`: run the relay.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use fieldledger_server::accounts::{ADMIN_LOGIN, DEFAULT_OFFICE_CODE};
use fieldledger_server::app::{
    AppConfig, AppState, DEFAULT_MAX_BODY_BYTES, serve_tls, shutdown_signal, tls_config,
};
use fieldledger_server::connections::{ConnectionLimits, raise_open_file_limit};
use fieldledger_server::database::Database;
use fieldledger_server::rate_limit::Rate;
use fieldledger_server::records::{RecordStorage, known_users};
use tracing_subscriber::EnvFilter;

/// Options of `fieldledger serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Relay database: a file (created if missing), or a PostgreSQL URL
    /// (`postgres://USER@HOST:PORT/DBNAME`) that any number of relays share.
    #[arg(long, default_value = "fieldledger.db")]
    db: PathBuf,
    /// Local copy of a PostgreSQL deployment (with `--db postgres://…`), rebuilt when missing;
    /// default: a file in the temporary directory named after the database and the port.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// On PostgreSQL: compact the write log into a snapshot once this many entries follow
    /// the last one (0: only after erasures and `admin compact`).
    #[arg(long, default_value_t = fieldledger_server::replica::DEFAULT_COMPACT_AFTER)]
    compact_after_entries: u64,
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Largest accepted request body in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Seconds a request may take before it is answered 408.
    #[arg(long, default_value_t = 60)]
    request_timeout_secs: u64,
    /// Requests per second allowed per device (0: unlimited).
    #[arg(long, default_value_t = 50.0)]
    device_rate: f64,
    /// Burst of requests allowed per device.
    #[arg(long, default_value_t = 100)]
    device_burst: u32,
    /// Requests per second allowed per client address (0: unlimited).
    #[arg(long, default_value_t = 200.0)]
    address_rate: f64,
    /// Burst of requests allowed per client address.
    #[arg(long, default_value_t = 400)]
    address_burst: u32,
    /// PEM certificate chain: serve HTTPS (with --tls-key). Without it the relay serves
    /// plain HTTP, for a reverse proxy that terminates TLS in front of it (see README).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Address of a reverse proxy in front of the relay (repeatable): its `X-Forwarded-For`
    /// then names the client for the per-address rate limit.
    #[arg(long = "trusted-proxy")]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Seconds a connection may take to send a complete request head (also the keep-alive
    /// wait between requests, and the TLS handshake's limit).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_secs: u64,
    /// Seconds without a byte moving either way after which a connection is closed (raised to
    /// the request timeout + 5 s when lower).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_secs: u64,
    /// Connections open at once (lowered to fit the open-file limit).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Connections open at once from one client address (an IPv6 client: its /64); a
    /// trusted proxy is held only to --max-connections.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections_per_address: u64,
    /// Code of the bureau office unit created on first start.
    #[arg(long, default_value = DEFAULT_OFFICE_CODE)]
    office_code: String,
}

fn rate(per_second: f64, burst: u32) -> Option<Rate> {
    (per_second > 0.0).then_some(Rate::new(per_second, burst))
}

/// Runs the relay until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(limit) = raise_open_file_limit() {
        tracing::info!(open_file_limit = limit, "open-file limit");
    }

    let database = Database::open(
        &args.db,
        args.cache.as_deref(),
        &args.listen.port().to_string(),
    )
    .with_context(|| format!("opening relay database {}", args.db.display()))?;
    let mut accounts = database
        .accounts()
        .with_context(|| format!("opening relay database {}", database.display()))?;
    let first_start = database.write(|| accounts.ensure_bootstrap(&args.office_code))?;
    if let Some(code) = &first_start {
        println!(
            "New relay database: created the office unit and user `{ADMIN_LOGIN}`.\n\
             Enrollment code for {ADMIN_LOGIN} (usable once, valid 7 days): {code}"
        );
    }
    // On the first start, once the address is known: where the dashboard is and how its
    // administrator gets a password (the dashboard has no other way in).
    let welcome = |url: String| {
        if first_start.is_some() {
            println!(
                "Dashboard: {url}/ui/ — sign in as `{ADMIN_LOGIN}` once it has a password:\n  \
                 fieldledger admin --db {} user set-password {ADMIN_LOGIN}   \
                 (reads the password from standard input)",
                args.db.display()
            );
        }
    };
    let config = AppConfig {
        max_body_bytes: args.max_body_bytes,
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        device_rate: rate(args.device_rate, args.device_burst),
        address_rate: rate(args.address_rate, args.address_burst),
        trusted_proxies: args.trusted_proxies.clone(),
        connections: ConnectionLimits {
            header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(args.idle_timeout_secs),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            max_connections_per_address: usize::try_from(args.max_connections_per_address)
                .unwrap_or(usize::MAX),
        },
        ..AppConfig::default()
    };
    let mut records = database
        .records()
        .with_context(|| format!("opening records in {}", database.display()))?;
    database.write(|| {
        // Every unit supervised gets a profile (its categories and visit targets); the bureau
        // office itself is not supervised.
        for unit in accounts.list_units()?.into_iter().filter(|u| !u.is_office) {
            records.ensure_unit_profile(&unit.code, &unit.name)?;
        }
        records.set_directory(&known_users(&accounts)?)?;
        anyhow::Ok(())
    })?;
    if let Some(replica) = database.replica() {
        replica.follow((args.compact_after_entries > 0).then_some(args.compact_after_entries));
    }
    let state = AppState::on_database(&database, accounts, records, config);

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
            let tls = tls_config(cert, key).await.with_context(|| {
                format!(
                    "loading the TLS certificate {} and key {}",
                    cert.display(),
                    key.display()
                )
            })?;
            let listener = std::net::TcpListener::bind(args.listen)
                .with_context(|| format!("listening on {}", args.listen))?;
            let address = listener.local_addr()?;
            println!("fieldledger relay listening on https://{address}");
            welcome(format!("https://{address}"));
            tracing::info!(%address, db = %database.display(), "relay started (HTTPS)");
            serve_tls(listener, tls, state, shutdown_signal())
                .await
                .context("serving")?;
            println!("fieldledger relay stopped");
            return anyhow::Ok(());
        }
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let address = listener.local_addr()?;
        println!("fieldledger relay listening on http://{address}");
        welcome(format!("http://{address}"));
        tracing::info!(%address, db = %database.display(), "relay started");
        fieldledger_server::serve(listener, state, shutdown_signal())
            .await
            .context("serving")?;
        println!("fieldledger relay stopped");
        anyhow::Ok(())
    })
}
