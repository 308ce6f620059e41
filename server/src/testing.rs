//! For tests and benchmarks: the database a test relay runs on, of the backend the suite
//! runs on. `FIELDLEDGER_TEST_BACKEND=postgres` with `FIELDLEDGER_TEST_POSTGRES` naming a
//! PostgreSQL server (`postgres://USER@HOST:PORT`, no database name; `.ci/test` starts one)
//! gives every test a PostgreSQL database of its own; otherwise a SQLite file.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::database::Database;

/// The PostgreSQL server the whole relay suite runs on (`FIELDLEDGER_TEST_BACKEND=postgres`):
/// `FIELDLEDGER_TEST_POSTGRES`, or none when the suite runs on SQLite files.
pub fn suite_server() -> Option<String> {
    if std::env::var("FIELDLEDGER_TEST_BACKEND").ok().as_deref() != Some("postgres") {
        return None;
    }
    Some(std::env::var("FIELDLEDGER_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "FIELDLEDGER_TEST_BACKEND=postgres needs FIELDLEDGER_TEST_POSTGRES=postgres://USER@HOST:PORT \
             (`.ci/test` starts one)"
        )
    }))
}

/// Creates a new, empty database on the server at `server_url` (no database name) and returns
/// its URL.
pub fn new_database_on(server_url: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "fl_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let mut client = postgres::Client::connect(&format!("{server_url}/postgres"), postgres::NoTls)
        .unwrap_or_else(|e| panic!("connecting to PostgreSQL at {server_url}: {e}"));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("CREATE DATABASE");
    format!("{server_url}/{name}")
}

/// A new relay database in `dir` on the suite's backend: the file `dir/relay.db`, or a new
/// PostgreSQL database whose local copy is `dir/relay.db`.
pub fn suite_database(dir: &Path) -> Database {
    let file = dir.join("relay.db");
    let db = match suite_server() {
        Some(server) => new_database_on(&server).into(),
        None => file.clone(),
    };
    Database::open(&db, Some(&file), "test")
        .unwrap_or_else(|e| panic!("opening the test database {}: {e}", db.display()))
}

/// Runs `f` on a thread of its own and returns what it returns (its panic too): the blocking
/// PostgreSQL client must not run on a thread that drives an async runtime, as a
/// `#[tokio::test]` does.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
