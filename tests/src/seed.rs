//! Seeds for randomized tests: from `FIELDLEDGER_SEED` or random, printed so a failure can be
//! replayed.

/// A seed that prints how to replay it when the test that holds it fails.
pub struct Seed {
    /// The seed value.
    pub value: u64,
    name: &'static str,
}

impl Seed {
    /// Reads `FIELDLEDGER_SEED` (decimal or 0x-hex) or picks a random seed, and prints it.
    pub fn from_env(name: &'static str) -> Seed {
        let value = match std::env::var("FIELDLEDGER_SEED") {
            Ok(s) => {
                let s = s.trim();
                match s.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => s.parse(),
                }
                .unwrap_or_else(|_| panic!("FIELDLEDGER_SEED={s} is not a number"))
            }
            Err(_) => rand::random(),
        };
        eprintln!("{name}: seed {value} (replay with FIELDLEDGER_SEED={value})");
        Seed { value, name }
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "{} FAILED with seed {}: replay with FIELDLEDGER_SEED={} cargo test -p fieldledger-e2e {}",
                self.name, self.value, self.value, self.name
            );
        }
    }
}
