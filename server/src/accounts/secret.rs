//! Random tokens, one-time codes and password hashes; the plain secrets are never stored.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::error::{RelayError, Result};

/// Crockford's base32 alphabet: no I, L, O or U, so codes read aloud or typed survive.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Length of an enrollment code (40 random bits).
pub const ENROLLMENT_CODE_LEN: usize = 8;

/// Shortest accepted dashboard password.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// A new random device token: 32 random bytes as 64 lower-case hex chars.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// SHA-256 of a secret as lower-case hex; what the database keeps instead of the secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether a string has the shape of a device token (64 hex chars).
pub fn looks_like_token(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A new random enrollment code of [`ENROLLMENT_CODE_LEN`] characters.
pub fn new_enrollment_code() -> String {
    let mut rng = rand::rng();
    (0..ENROLLMENT_CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// Normalises a typed enrollment code: drops spaces and dashes, upper-cases, and reads the
/// look-alikes O as 0 and I/L as 1.
pub fn normalize_enrollment_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}

/// Hashes a dashboard password with Argon2id and a random salt (PHC string format).
pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(RelayError::BadRequest(format!(
            "password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| RelayError::Internal(format!("encoding password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| RelayError::Internal(format!("hashing password: {e}")))
}

/// Whether `password` matches a PHC hash made by [`hash_password`].
pub fn verify_password(password: &str, phc: &str) -> Result<bool> {
    let parsed = PasswordHash::new(phc)
        .map_err(|e| RelayError::Internal(format!("stored password hash is corrupt: {e}")))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_of_32_bytes() {
        let a = new_token();
        let b = new_token();
        assert!(looks_like_token(&a));
        assert_ne!(a, b);
        assert_eq!(hash_secret(&a).len(), 64);
        assert_ne!(hash_secret(&a), a);
    }

    #[test]
    fn enrollment_codes_survive_sloppy_typing() {
        let code = new_enrollment_code();
        assert_eq!(code.len(), ENROLLMENT_CODE_LEN);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        assert_eq!(normalize_enrollment_code(&code.to_lowercase()), code);
        assert_eq!(normalize_enrollment_code("ab-cd o1l9"), "ABCD0119");
    }

    #[test]
    fn passwords_verify_only_when_equal() {
        let hash = hash_password("correct horse").unwrap();
        assert!(!hash.contains("correct horse"));
        assert!(verify_password("correct horse", &hash).unwrap());
        assert!(!verify_password("correct hors", &hash).unwrap());
        assert!(hash_password("short").is_err());
    }
}
