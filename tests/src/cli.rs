//! A command-line device (`fieldledger device --store S …`) driven as a child process, the way
//! scripts use it.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

use crate::{Relay, relay_binary};

/// A command-line device: a store file in a temporary directory.
pub struct CliDevice {
    /// The device's store file.
    pub store: PathBuf,
    _dir: TempDir,
}

impl CliDevice {
    /// Enrolls a new command-line device of `login`.
    pub fn enroll(relay: &Relay, login: &str) -> CliDevice {
        let dir = tempfile::tempdir().unwrap();
        let cli = CliDevice {
            store: dir.path().join("device.db"),
            _dir: dir,
        };
        let code = relay.enrollment_code(login);
        cli.ok(&["enroll", "--relay", &relay.url(), "--code", &code]);
        cli
    }

    /// Runs `fieldledger device --store S ARGS…`.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(relay_binary())
            .arg("device")
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .output()
            .expect("run fieldledger device")
    }

    /// Runs a command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "device {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command with `--json` that must succeed; returns the JSON it printed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Runs a command that must fail with exit status 1; returns its standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "device {args:?} should fail: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }
}
