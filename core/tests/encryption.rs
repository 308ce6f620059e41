//! The device store is encrypted at rest: no field value is readable in the file, a wrong key
//! is refused clearly and leaves the file as it was, and an old plaintext store can be
//! encrypted in place.

use fieldledger_core::model::{RecordKind, Role};
use fieldledger_core::testing::identity;
use fieldledger_core::{Edit, Error, FieldValue, Store};

const KEY: [u8; 32] = [7; 32];
const NAME: &str = "张桂英医疗纠纷";
const PHONE: &str = "13912345678";
const SITUATION: &str = "家属对手术结果不满，多次到院反映。";

fn add_records(s: &mut Store) -> String {
    s.set_identity(identity("zhang", "YY1", Role::Staff, "A"))
        .unwrap();
    let mut last = String::new();
    for i in 0..50 {
        last = s
            .create(
                RecordKind::Dispute,
                None,
                &[
                    Edit::text("name", &format!("{NAME}{i}")),
                    Edit::text("category", "医疗卫生"),
                    Edit::text("situation", &format!("{SITUATION}联系电话{PHONE}")),
                    Edit::set("people_involved", FieldValue::Int(2)),
                    Edit::text("found_on", "2019-10-08"),
                ],
            )
            .unwrap();
    }
    last
}

/// The bytes of the store file and its write-ahead log.
fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut all = std::fs::read(path).unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if let Ok(w) = std::fs::read(std::path::PathBuf::from(wal)) {
        all.extend(w);
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn the_file_on_disk_holds_no_plaintext_field_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let id = {
        let mut s = Store::open_encrypted(&path, &KEY).unwrap();
        add_records(&mut s)
    };
    let bytes = file_bytes(&path);
    assert!(bytes.len() > 50_000, "the store holds the records");
    for needle in [
        NAME,
        PHONE,
        SITUATION,
        "张桂英",
        // The unit's code as a case number spells it: three bytes alone turn up in the
        // ciphertext by chance.
        "YY1-MD-",
        "zhang",
        "SQLite format 3",
    ] {
        assert!(
            !contains(&bytes, needle),
            "`{needle}` is readable in the file"
        );
    }
    // The same records in an unencrypted store are readable: the check above can fail.
    let plain = dir.path().join("plain.db");
    add_records(&mut Store::open(&plain).unwrap());
    assert!(contains(&file_bytes(&plain), PHONE));
    assert!(contains(&file_bytes(&plain), "YY1-MD-"));

    let s = Store::open_encrypted(&path, &KEY).unwrap();
    assert!(s.dispute(&id).unwrap().situation.contains(PHONE));
}

#[test]
fn a_wrong_key_is_refused_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let id = {
        let mut s = Store::open_encrypted(&path, &KEY).unwrap();
        add_records(&mut s)
    };
    let before = file_bytes(&path);
    for wrong in [[8u8; 32], [0u8; 32]] {
        let err = Store::open_encrypted(&path, &wrong).err().unwrap();
        assert!(matches!(err, Error::WrongKey), "{err}");
        assert!(err.to_string().contains("key is wrong"), "{err}");
    }
    // No key at all: the same clear error, not a confusing SQLite message.
    assert!(matches!(Store::open(&path).err().unwrap(), Error::WrongKey));
    // A key of the wrong length never reaches SQLCipher.
    assert!(matches!(
        Store::open_encrypted(&path, b"short").err().unwrap(),
        Error::InvalidValue { .. }
    ));
    assert_eq!(file_bytes(&path), before, "the file is unchanged");
    let s = Store::open_encrypted(&path, &KEY).unwrap();
    assert_eq!(s.list(RecordKind::Dispute, None).unwrap().len(), 50);
    assert!(s.dispute(&id).is_ok());
}

#[test]
fn a_plaintext_store_is_encrypted_in_place_and_keeps_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let id = add_records(&mut Store::open(&path).unwrap());
    assert!(contains(&file_bytes(&path), PHONE));
    Store::encrypt_plaintext_file(&path, &KEY).unwrap();
    assert!(!contains(&file_bytes(&path), PHONE));
    let s = Store::open_encrypted(&path, &KEY).unwrap();
    assert_eq!(s.list(RecordKind::Dispute, None).unwrap().len(), 50);
    assert!(s.dispute(&id).unwrap().situation.contains(PHONE));
    assert!(matches!(Store::open(&path).err().unwrap(), Error::WrongKey));
}
