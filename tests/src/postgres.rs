//! A real PostgreSQL server for tests: `initdb` and `pg_ctl` of the machine's PostgreSQL
//! (Debian `postgresql`, 15 or newer) in a temporary directory, on a free port, as the
//! `postgres` user when the tests run as root (PostgreSQL refuses to run as root). Stopped
//! when dropped.
//!
//! The relay suite runs on PostgreSQL when `FIELDLEDGER_TEST_BACKEND=postgres`: every
//! [`crate::Relay`] then gets a database of its own on the server `FIELDLEDGER_TEST_POSTGRES`
//! names (`.ci/test` starts one with [`TestPostgres::start`] through `pg-server`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub use fieldledger_server::testing::{new_database_on, suite_server};

/// A PostgreSQL server of the test's own.
pub struct TestPostgres {
    dir: TempDir,
    port: u16,
    bin: PathBuf,
}

/// The directory holding `initdb` and `pg_ctl`: the newest under `/usr/lib/postgresql`, else
/// `PATH`'s.
pub fn postgres_bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .unwrap_or_else(|| PathBuf::from(""))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root.
fn pg_command(bin: &Path, program: &str) -> Command {
    let exe = if bin.as_os_str().is_empty() {
        PathBuf::from(program)
    } else {
        bin.join(program)
    };
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(exe);
        cmd
    } else {
        Command::new(exe)
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run ({e}); install Debian's postgresql"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestPostgres {
    /// Creates a cluster in a temporary directory and starts it on a free port.
    pub fn start() -> TestPostgres {
        let dir = tempfile::Builder::new()
            .prefix("fieldledger-pg-")
            .tempdir()
            .expect("temporary directory");
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:postgres"]).arg(dir.path());
                    c
                },
                "chown the PostgreSQL directory",
            );
        }
        let bin = postgres_bin_dir();
        let mut initdb = pg_command(&bin, "initdb");
        initdb.arg("-D").arg(dir.path().join("data")).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = TestPostgres { dir, port, bin };
        server.start_server();
        server
    }

    fn start_server(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut ctl = pg_command(&self.bin, "pg_ctl");
            ctl.arg("-D")
                .arg(self.dir.path().join("data"))
                .arg("-l")
                .arg(self.dir.path().join("server.log"))
                .args(["-w", "-t", "30", "-o"])
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                     -c max_connections=200",
                    self.port,
                    self.dir.path().display()
                ))
                .arg("start");
            let out = ctl.output().expect("run pg_ctl");
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Stops the server at once (`-m immediate`: like a crash) and starts it again.
    pub fn restart(&mut self) {
        self.stop_server();
        self.start_server();
    }

    fn stop_server(&self) {
        let mut ctl = pg_command(&self.bin, "pg_ctl");
        ctl.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = ctl.output();
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's URL without a database name.
    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn new_database(&self) -> String {
        new_database_on(&self.server_url())
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop_server();
    }
}
