//! Local operators: people at the lane who may release a held vehicle while
//! the uplink is down (degraded operation), each with their own credential.
//!
//! The configuration stores only a salted PBKDF2-HMAC-SHA256 hash,
//! `pbkdf2-sha256$<iterations>$<salt, base64>$<hash, base64>`, made by
//! `edge-agent operator hash`; never the password. Checking one costs the
//! iterations on purpose, so it runs off the lane loop, and failed attempts
//! lock the operator out for a while ([`Attempts`]): a guessed password needs
//! more tries than anyone gets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use sha2::Sha256;

/// What `edge-agent operator hash` uses unless told otherwise (OWASP 2023
/// advice for PBKDF2-HMAC-SHA256).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Fewer than this is refused in a configuration: too cheap to guess.
pub const MIN_ITERATIONS: u32 = 10_000;
const SALT_BYTES: usize = 16;
const HASH_BYTES: usize = 32;
const PREFIX: &str = "pbkdf2-sha256";

/// Wrong passwords in a row before an operator is locked out.
pub const MAX_FAILURES: u32 = 3;
/// How long the lock lasts.
pub const LOCKOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("not a credential hash (expected pbkdf2-sha256$ITERATIONS$SALT$HASH, as `edge-agent operator hash` prints)")]
    Format,
    #[error("{0} iterations is too few; make the hash again with at least {MIN_ITERATIONS}")]
    TooCheap(u32),
}

impl std::str::FromStr for Credential {
    type Err = CredentialError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('$').collect();
        let [PREFIX, iterations, salt, hash] = parts[..] else { return Err(CredentialError::Format) };
        let iterations: u32 = iterations.parse().map_err(|_| CredentialError::Format)?;
        let salt = B64.decode(salt).map_err(|_| CredentialError::Format)?;
        let hash = B64.decode(hash).map_err(|_| CredentialError::Format)?;
        if salt.len() < 8 || hash.len() != HASH_BYTES {
            return Err(CredentialError::Format);
        }
        if iterations < MIN_ITERATIONS {
            return Err(CredentialError::TooCheap(iterations));
        }
        Ok(Credential { iterations, salt, hash })
    }
}

impl std::fmt::Display for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PREFIX}${}${}${}", self.iterations, B64.encode(&self.salt), B64.encode(&self.hash))
    }
}

fn derive(password: &str, salt: &[u8], iterations: u32) -> [u8; HASH_BYTES] {
    let mut out = [0u8; HASH_BYTES];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
    out
}

impl Credential {
    /// A new credential for `password` with a random salt.
    pub fn new(password: &str, iterations: u32) -> Self {
        let mut salt = vec![0u8; SALT_BYTES];
        rand::thread_rng().fill_bytes(&mut salt);
        let hash = derive(password, &salt, iterations).to_vec();
        Credential { iterations, salt, hash }
    }

    /// Deliberately slow (the iterations): call it off the lane loop.
    pub fn verify(&self, password: &str) -> bool {
        let given = derive(password, &self.salt, self.iterations);
        crate::web::auth::constant_time_eq(&given, &self.hash)
    }
}

/// Why a local release was not let through before it reached the lane.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("wrong operator name or password")]
    Wrong,
    #[error("too many wrong passwords for {operator}; try again in {seconds} s")]
    Locked { operator: String, seconds: u64 },
}

/// The configured operators and their recent failed attempts.
#[derive(Debug, Default)]
pub struct Operators {
    credentials: HashMap<String, Credential>,
    attempts: Mutex<HashMap<String, Attempts>>,
}

#[derive(Debug, Default, Clone)]
struct Attempts {
    failures: u32,
    locked_until: Option<Instant>,
}

impl Operators {
    pub fn new(list: &[(String, Credential)]) -> Self {
        Operators { credentials: list.iter().cloned().collect(), attempts: Mutex::default() }
    }

    pub fn is_empty(&self) -> bool {
        self.credentials.is_empty()
    }

    /// Checks an operator's password, counting failures. An unknown name
    /// costs the same work as a known one, so names cannot be probed by time.
    pub fn check(&self, operator: &str, password: &str, now: Instant) -> Result<(), Denied> {
        if let Some(until) =
            self.attempts.lock().unwrap().get(operator).and_then(|a| a.locked_until).filter(|u| *u > now)
        {
            let seconds = until.duration_since(now).as_secs().max(1);
            return Err(Denied::Locked { operator: operator.to_string(), seconds });
        }
        let ok = match self.credentials.get(operator) {
            Some(c) => c.verify(password),
            None => {
                let iterations = self.credentials.values().next().map_or(MIN_ITERATIONS, |c| c.iterations);
                derive(password, b"no-such-operator", iterations);
                false
            }
        };
        let mut attempts = self.attempts.lock().unwrap();
        let entry = attempts.entry(operator.to_string()).or_default();
        if ok {
            *entry = Attempts::default();
            return Ok(());
        }
        entry.failures += 1;
        if entry.failures >= MAX_FAILURES {
            entry.failures = 0;
            entry.locked_until = Some(now + LOCKOUT);
        }
        Err(Denied::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trips_and_verifies_only_the_password() {
        let c = Credential::new("correct horse", MIN_ITERATIONS);
        let text = c.to_string();
        assert!(text.starts_with("pbkdf2-sha256$10000$"), "{text}");
        assert!(!text.contains("correct horse"));
        let back: Credential = text.parse().unwrap();
        assert!(back.verify("correct horse"));
        assert!(!back.verify("correct hors"));
        assert_ne!(Credential::new("correct horse", MIN_ITERATIONS).to_string(), text, "salted");
    }

    #[test]
    fn bad_or_cheap_hashes_are_refused() {
        assert_eq!("hunter22".parse::<Credential>(), Err(CredentialError::Format));
        assert_eq!("pbkdf2-sha256$x$AAAAAAAAAAA=$AAAA".parse::<Credential>(), Err(CredentialError::Format));
        let cheap = Credential::new("pw", 1000).to_string();
        assert_eq!(cheap.parse::<Credential>(), Err(CredentialError::TooCheap(1000)));
    }

    #[test]
    fn failures_lock_the_operator_out_for_a_while() {
        let ops = Operators::new(&[("wang".into(), Credential::new("right-pass", MIN_ITERATIONS))]);
        let t0 = Instant::now();
        assert_eq!(ops.check("wang", "right-pass", t0), Ok(()));
        for _ in 0..MAX_FAILURES {
            assert_eq!(ops.check("wang", "wrong", t0), Err(Denied::Wrong));
        }
        assert!(
            matches!(ops.check("wang", "right-pass", t0), Err(Denied::Locked { .. })),
            "locked even with the right password"
        );
        assert_eq!(ops.check("wang", "right-pass", t0 + LOCKOUT), Ok(()));
        assert_eq!(ops.check("li", "right-pass", t0), Err(Denied::Wrong), "unknown operator");
    }
}
