//! A real relay: the `fieldledger` binary serving a temporary database on a loopback port.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fieldledger_core::Store;
use tempfile::TempDir;

use crate::snapshot::{Snapshot, snapshot};

/// The `fieldledger` binary, found up to date or built, once per test process.
///
/// `FIELDLEDGER_BIN` overrides it. Otherwise the binary is expected in the profile directory
/// of the running test executable (`target/debug/deps/e2e-…` → `target/debug/fieldledger`),
/// where `cargo test --workspace` or `cargo nextest run --workspace` puts it. If it is missing
/// or older than the relay's sources (as after `cargo test -p fieldledger-e2e` following an
/// edit), `cargo build -p fieldledger-server --bin fieldledger` is run first.
pub fn relay_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("FIELDLEDGER_BIN") {
            return PathBuf::from(bin);
        }
        let exe = std::env::current_exe().expect("test executable path");
        let mut profile_dir = exe.parent().expect("executable directory").to_path_buf();
        if profile_dir.ends_with("deps") {
            profile_dir.pop();
        }
        let bin = profile_dir.join(format!("fieldledger{}", std::env::consts::EXE_SUFFIX));
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        if !is_stale(&bin, workspace) {
            return bin;
        }
        let target_dir = profile_dir.parent().expect("target directory");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!("building {} (missing or older than its sources)", bin.display());
        let mut build = Command::new(cargo);
        scrub_cargo_env(&mut build, target_dir);
        build
            .args(["build", "--quiet", "-p", "fieldledger-server", "--bin", "fieldledger"])
            .arg("--manifest-path")
            .arg(workspace.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", target_dir);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        match build.output() {
            Ok(out) if out.status.success() => {}
            Ok(out) if !bin.exists() => panic!(
                "building the relay binary failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Ok(_) | Err(_) if bin.exists() => {
                eprintln!("warning: cannot rebuild {}; using it as it is", bin.display())
            }
            Ok(_) | Err(_) => panic!(
                "no relay binary at {}: run `cargo build -p fieldledger-server` or set FIELDLEDGER_BIN",
                bin.display()
            ),
        }
        bin
    })
    .clone()
}

/// Whether `bin` is missing or older than a source or manifest of the crates it is built from.
fn is_stale(bin: &Path, workspace: &Path) -> bool {
    let Ok(built) = bin.metadata().and_then(|m| m.modified()) else {
        return true;
    };
    let mut pending = vec![
        workspace.join("Cargo.toml"),
        workspace.join("Cargo.lock"),
        workspace.join("core"),
        workspace.join("server"),
    ];
    while let Some(path) = pending.pop() {
        let Ok(meta) = path.metadata() else { continue };
        if meta.is_dir() {
            let skip = ["target", "fuzz", "tests", "benches"];
            if path
                .file_name()
                .is_some_and(|n| skip.iter().any(|s| n == *s))
            {
                continue;
            }
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.flatten().map(|e| e.path()));
            }
        } else if meta.modified().is_ok_and(|m| m > built) {
            return true;
        }
    }
    false
}

/// Removes what `cargo test` adds to a test's environment, so that the nested build sees the
/// environment a build from the shell sees (build scripts that watch `CARGO_PKG_NAME` or
/// similar would otherwise rebuild on every alternation between the two).
fn scrub_cargo_env(cmd: &mut Command, target_dir: &Path) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let added_by_cargo = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| key.starts_with(p))
            || [
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
                "RUST_RECURSION_COUNT",
            ]
            .contains(&key.as_ref());
        if added_by_cargo {
            cmd.env_remove(key.as_ref());
        }
    }
    if let Some(paths) = std::env::var_os("LD_LIBRARY_PATH") {
        let kept: Vec<PathBuf> = std::env::split_paths(&paths)
            .filter(|p| !p.starts_with(target_dir) && !p.to_string_lossy().contains(".rustup"))
            .collect();
        if kept.is_empty() {
            cmd.env_remove("LD_LIBRARY_PATH");
        } else if let Ok(joined) = std::env::join_paths(kept) {
            cmd.env("LD_LIBRARY_PATH", joined);
        }
    }
}

/// The log position of a relay's local copy.
fn copy_position(cache: &Path) -> i64 {
    let store = Store::open_reader(cache).expect("open the relay's copy");
    store
        .connection()
        .query_row("SELECT pos FROM fl_replica WHERE id = 1", [], |r| r.get(0))
        .unwrap_or(0)
}

/// How the relay process is started.
#[derive(Debug, Clone, Default)]
pub struct RelayOptions {
    /// `--max-body-bytes`; the binary's default when `None`.
    pub max_body_bytes: Option<usize>,
    /// Whether the binary's default request-rate limits apply (off: unlimited).
    pub rate_limits: bool,
    /// PEM certificate and key files: serve HTTPS (`--tls-cert`, `--tls-key`).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `RUST_LOG` of the relay (default: `$FIELDLEDGER_RELAY_LOG`, else `info`).
    pub log_filter: Option<String>,
    /// Further `fieldledger serve` flags, e.g. `["--header-read-timeout-secs", "2"]`.
    pub extra_args: Vec<String>,
    /// A PostgreSQL database (URL) to run on instead of a SQLite file; several relays may
    /// share one. Default: a new database on the suite's server when the suite runs on
    /// PostgreSQL (see [`crate::postgres::suite_server`]), else a file.
    pub postgres: Option<String>,
}

/// A `fieldledger serve` child process over a database in a temporary directory.
pub struct Relay {
    dir: TempDir,
    db: PathBuf,
    postgres: Option<String>,
    options: RelayOptions,
    port: Option<u16>,
    child: Option<Child>,
    starts: u32,
}

impl Relay {
    /// A relay whose database exists (bootstrapped) but whose process is not started yet.
    pub fn new(options: RelayOptions) -> Relay {
        let dir = tempfile::Builder::new()
            .prefix("fieldledger-relay-")
            .tempdir()
            .expect("temporary directory");
        // On PostgreSQL: the relay's local copy, which tests read like the file.
        let db = dir.path().join("relay.db");
        let postgres = options.postgres.clone().or_else(|| {
            crate::postgres::suite_server().map(|server| crate::postgres::new_database_on(&server))
        });
        let relay = Relay {
            dir,
            db,
            postgres,
            options,
            port: None,
            child: None,
            starts: 0,
        };
        relay.admin(&["unit", "list"]);
        relay
    }

    /// Starts a relay with the people most tests need: units WJK (疾控科) and JKK (卫生监督所);
    /// staff zhang (张三) and li (李四) of WJK, wu (吴五) of JKK; leader wangju (王局长) and unit
    /// head wangke (王科长) of WJK; in the office unit, leader liju (李局长) and office user boss
    /// (办公室主任).
    pub fn start_with_people(options: RelayOptions) -> Relay {
        let mut relay = Relay::new(options);
        relay.add_unit("WJK", "疾控科");
        relay.add_unit("JKK", "卫生监督所");
        relay.add_user("zhang", "WJK", "staff", "张三");
        relay.add_user("li", "WJK", "staff", "李四");
        relay.add_user("wu", "JKK", "staff", "吴五");
        relay.add_user("wangju", "WJK", "leader", "王局长");
        relay.add_user("wangke", "WJK", "unit-head", "王科长");
        relay.add_user("liju", "OFFICE", "leader", "李局长");
        relay.add_user("boss", "OFFICE", "office", "办公室主任");
        relay.start();
        relay
    }

    /// Starts a relay with default options (no rate limits) on a free port.
    pub fn start_new() -> Relay {
        let mut relay = Relay::new(RelayOptions::default());
        relay.start();
        relay
    }

    /// Starts the process (on the port of the previous start, or a free one the first time)
    /// and waits until it listens.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "the relay is already running");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.try_start() {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline => {
                    // The port may still be held by a dying process; try again shortly.
                    eprintln!("relay did not start ({e}); retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("relay did not start: {e}\n{}", self.log_tail(40)),
            }
        }
    }

    fn try_start(&mut self) -> Result<(), String> {
        self.starts += 1;
        let listen = format!("127.0.0.1:{}", self.port.unwrap_or(0));
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| e.to_string())?;
        let mut cmd = Command::new(relay_binary());
        cmd.arg("serve").args(self.db_args("relay.db"));
        cmd.args(["--listen", &listen])
            .env(
                "RUST_LOG",
                self.options.log_filter.clone().unwrap_or_else(|| {
                    std::env::var("FIELDLEDGER_RELAY_LOG").unwrap_or_else(|_| "info".into())
                }),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some(max) = self.options.max_body_bytes {
            cmd.args(["--max-body-bytes", &max.to_string()]);
        }
        if let Some((cert, key)) = &self.options.tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        if !self.options.rate_limits {
            cmd.args(["--device-rate", "0", "--address-rate", "0"]);
        }
        cmd.args(&self.options.extra_args);
        let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Drains stdout for the whole life of the process, so its prints never block.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("fieldledger relay listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => {
                let port = addr
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| format!("unexpected address {addr}"))?;
                self.port = Some(port);
                self.child = Some(child);
                Ok(())
            }
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                Err(format!("no listening line; exited with {status:?}"))
            }
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        let scheme = if self.options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!(
            "{scheme}://127.0.0.1:{}",
            self.port.expect("relay was started")
        )
    }

    /// The relay's database file (on PostgreSQL: its local copy).
    pub fn db_path(&self) -> &Path {
        &self.db
    }

    /// The relay's log file (its stderr, all starts appended).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("relay.log")
    }

    /// The last `n` lines of the relay's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => c.try_wait().ok().flatten().is_none(),
            None => false,
        }
    }

    /// The process id of the running relay.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How many times the process was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// Kills the process with SIGKILL (no graceful shutdown) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL the relay");
            child.wait().expect("wait for the relay");
        }
    }

    /// Stops the process with SIGTERM and checks that it shut down gracefully (exit 0).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let ok = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .expect("run kill")
                .success();
            assert!(ok, "kill -TERM failed");
            let status = child.wait().expect("wait for the relay");
            assert!(
                status.success(),
                "graceful stop exits 0, got {status}\n{}",
                self.log_tail(20)
            );
        }
    }

    /// Stops gracefully and starts again on the same database and port.
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    /// `--db` (and `--cache`, on PostgreSQL) of a relay or admin process; `cache` names the
    /// local copy's file in the relay's directory.
    fn db_args(&self, cache: &str) -> Vec<std::ffi::OsString> {
        match &self.postgres {
            None => vec!["--db".into(), self.db.clone().into()],
            Some(url) => vec![
                "--db".into(),
                url.into(),
                "--cache".into(),
                self.dir.path().join(cache).into(),
            ],
        }
    }

    /// Waits until the running relay's local copy holds every write of the deployment (on
    /// PostgreSQL the copy follows the log within a fraction of a second; a file: at once).
    pub fn caught_up(&self) {
        let Some(url) = &self.postgres else { return };
        let mut client = postgres::Client::connect(url, postgres::NoTls).expect("PostgreSQL");
        let head: i64 = client
            .query_one(fieldledger_server::replica::LOG_HEAD_SQL, &[])
            .expect("the log's head")
            .get(0);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let at = copy_position(&self.db);
            if at >= head {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the relay stays at {at} of {head}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The PostgreSQL database the relay runs on, if not a file.
    pub fn postgres_url(&self) -> Option<&str> {
        self.postgres.as_deref()
    }

    /// `fieldledger admin --db DB` (and its `--cache` on PostgreSQL), for more arguments.
    pub fn admin_command(&self) -> Command {
        let mut cmd = Command::new(relay_binary());
        cmd.arg("admin").args(self.db_args("admin.db"));
        cmd
    }

    /// Runs `fieldledger admin --db DB ARGS…` and returns its output (whatever its status).
    pub fn try_admin(&self, args: &[&str]) -> Output {
        self.admin_command()
            .args(args)
            .output()
            .expect("run fieldledger admin")
    }

    /// Runs an admin command, panics unless it succeeds, and returns its standard output.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = self.try_admin(args);
        assert!(
            out.status.success(),
            "fieldledger admin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Sets a user's dashboard password (`admin user set-password`, read from standard input).
    pub fn set_password(&self, login: &str, password: &str) {
        use std::io::Write;
        let mut child = Command::new(relay_binary())
            .arg("admin")
            .args(self.db_args("admin.db"))
            .args(["user", "set-password", login])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run fieldledger admin user set-password");
        writeln!(child.stdin.take().expect("stdin"), "{password}").expect("write the password");
        let out = child.wait_with_output().expect("wait for set-password");
        assert!(
            out.status.success(),
            "set-password {login}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Adds a unit.
    pub fn add_unit(&self, code: &str, name: &str) {
        self.admin(&["unit", "add", code, name]);
    }

    /// Adds a user with a role (`staff`, `unit-head`, `office`, `leader`).
    pub fn add_user(&self, login: &str, unit: &str, role: &str, name: &str) {
        self.admin(&[
            "user", "add", login, "--unit", unit, "--role", role, "--name", name,
        ]);
    }

    /// A one-time enrollment code for a new device of `login`.
    pub fn enrollment_code(&self, login: &str) -> String {
        let out = self.admin(&["device", "enroll", login, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("enrollment JSON");
        v["code"].as_str().expect("code").to_owned()
    }

    /// Revokes a device by id or device code.
    pub fn revoke(&self, device: &str) {
        self.admin(&["device", "revoke", device]);
    }

    /// Opens the relay's record store (a second connection to its database file).
    pub fn records(&self) -> Store {
        Store::open(&self.db).expect("open the relay's record store")
    }

    /// Every document the relay holds, with unit and heads.
    pub fn snapshot(&self) -> Snapshot {
        snapshot(&self.records())
    }

    /// The newest feed sequence number the relay handed out (0 when it holds nothing).
    pub fn feed_head(&self) -> i64 {
        self.records()
            .connection()
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM documents", [], |r| {
                r.get(0)
            })
            .expect("read the relay's feed head")
    }

    /// Whether `GET /health` answers 200.
    pub fn healthy(&self) -> bool {
        crate::http::get(&self.url(), "/health", None).status == 200
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
