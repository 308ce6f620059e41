//! Random tokens, one-time codes and password hashes; the plain secrets are never stored.

use std::sync::{Mutex, PoisonError};

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// Argon2 working memory blocks kept for reuse, at most [`SPARE_MEMORY_KEPT`] of the
/// default size. Each hash needs ~19 MiB; allocating it anew for every check left that much
/// behind per thread in the allocator's arenas, so memory grew with every concurrent sign-in.
/// With the relay's few password turns, the same few buffers serve every check.
static SPARE_MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Working memories kept by [`SPARE_MEMORY`].
pub const SPARE_MEMORY_KEPT: usize = 4;

/// Runs `f` with Argon2 working memory of `blocks` blocks, reusing a kept one when it fits.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let default_blocks = Params::DEFAULT.block_count();
    let spare = if blocks == default_blocks {
        SPARE_MEMORY
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    } else {
        None
    };
    let mut memory = spare.unwrap_or_else(|| vec![Block::default(); blocks]);
    let result = f(&mut memory);
    if memory.len() == default_blocks {
        let mut kept = SPARE_MEMORY.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < SPARE_MEMORY_KEPT {
            kept.push(memory);
        }
    }
    result
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
    let params = Params::DEFAULT;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_memory(params.block_count(), |memory| {
        argon.hash_password_into_with_memory(password.as_bytes(), &salt_bytes, &mut out, memory)
    })
    .map_err(|e| RelayError::Internal(format!("hashing password: {e}")))?;
    let output =
        Output::new(&out).map_err(|e| RelayError::Internal(format!("hashing password: {e}")))?;
    let params = argon2::password_hash::ParamsString::try_from(&params)
        .map_err(|e| RelayError::Internal(format!("hashing password: {e}")))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches a PHC hash made by [`hash_password`] (compared in constant time).
pub fn verify_password(password: &str, phc: &str) -> Result<bool> {
    let corrupt = |e: &dyn std::fmt::Display| {
        RelayError::Internal(format!("stored password hash is corrupt: {e}"))
    };
    let parsed = PasswordHash::new(phc).map_err(|e| corrupt(&e))?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| corrupt(&e))?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| corrupt(&e))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(|e| corrupt(&e))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(corrupt(&"no salt or no hash"));
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(|e| corrupt(&e))?;
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    with_memory(params.block_count(), |memory| {
        argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
    })
    .map_err(|e| corrupt(&e))?;
    let computed = Output::new(&out).map_err(|e| corrupt(&e))?;
    // `Output`'s equality is constant-time.
    Ok(computed == expected)
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

    #[test]
    fn hashes_match_the_argon2_crates_own_format_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        // A hash stored by earlier relays (the crate's own hasher) still verifies…
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let stored = Argon2::default()
            .hash_password(b"old password", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password("old password", &stored).unwrap());
        assert!(!verify_password("old passwore", &stored).unwrap());
        // …and a hash made here is one the crate verifies, in the same PHC form.
        let ours = hash_password("new password").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"new password", &parsed)
                .is_ok()
        );
        assert!(verify_password("not a hash", "garbage").is_err());
    }
}
