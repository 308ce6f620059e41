//! The phone library (`fieldledger-ffi`, the Rust that the Kotlin and Swift apps call) against
//! a real HTTPS relay whose certificate comes from the bureau's own certificate authority.

use std::path::{Path, PathBuf};

use fieldledger_e2e::{Relay, RelayOptions};
use fieldledger_ffi::{FfiError, FieldPair, FieldStore};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A certificate authority, as the bureau runs one: its PEM.
struct BureauCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn bureau_ca(name: &str) -> BureauCa {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    BureauCa {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// The relay's certificate for 127.0.0.1 and localhost, signed by `ca`, as PEM files.
fn relay_certificate(ca: &BureauCa, dir: &Path) -> (PathBuf, PathBuf) {
    let params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let (c, k) = (dir.join("relay-cert.pem"), dir.join("relay-key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

fn pair(field: &str, value: &str) -> FieldPair {
    FieldPair {
        field: field.into(),
        value: value.into(),
    }
}

#[test]
fn a_phone_enrolls_and_syncs_with_a_relay_certified_by_the_bureaus_own_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = bureau_ca("疾控局 CA");
    let relay = Relay::start_with_people(RelayOptions {
        tls: Some(relay_certificate(&ca, dir.path())),
        ..Default::default()
    });
    let url = relay.url();
    assert!(url.starts_with("https://"), "{url}");
    let path = dir.path().join("phone.db").to_string_lossy().into_owned();
    let key = vec![5u8; 32];
    let phone = FieldStore::open(path.clone(), key.clone()).unwrap();
    let code = relay.enrollment_code("zhang");

    // Without the bureau's CA, or with another one, the phone does not talk to the relay (and
    // the code is not spent); a CA that is not a certificate is the user's to fix.
    for untrusted in [None, Some(bureau_ca("another CA").pem)] {
        match phone.enroll(url.clone(), code.clone(), None, untrusted) {
            Err(FfiError::Network(message)) => {
                assert!(message.contains("cannot reach the relay"), "{message}")
            }
            other => panic!("an untrusted relay was enrolled with: {other:?}"),
        }
    }
    assert!(matches!(
        phone.enroll(
            url.clone(),
            code.clone(),
            None,
            Some("not a certificate".into())
        ),
        Err(FfiError::InvalidArgument(_))
    ));
    assert!(phone.identity().is_none());

    // With it: enrolled, and the CA is kept with the identity for every later sync, after the
    // app restarts too.
    let identity = phone
        .enroll(url, code, Some("张三的手机".into()), Some(ca.pem.clone()))
        .unwrap();
    assert_eq!(identity.user, "zhang");
    let id = phone
        .create_dispute(vec![pair("name", "供水纠纷"), pair("category", "医疗卫生")])
        .unwrap();
    drop(phone);
    let phone = FieldStore::open_existing(path, key).unwrap();
    let report = phone.sync(None).unwrap();
    assert_eq!((report.pushed, report.rejected.len()), (1, 0));
    assert!(relay.records().contains(&id).unwrap());

    // A second phone of the unit receives it over the same HTTPS.
    let other = FieldStore::in_memory().unwrap();
    other
        .enroll(
            relay.url(),
            relay.enrollment_code("li"),
            None,
            Some(ca.pem.clone()),
        )
        .unwrap();
    let received = other.sync(None).unwrap();
    assert!(
        received.rejected.is_empty() && received.received >= 1,
        "{received:?}"
    );
    assert_eq!(other.dispute(id).unwrap().name, "供水纠纷");
}
