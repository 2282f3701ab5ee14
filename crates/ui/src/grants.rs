//! Who may see the UI: sign-in sessions (a cookie) and one-time sign-in tickets (the link `runlet ui` opens).
//!
//! Both are random secrets the server remembers with an expiry; the token itself never goes into a cookie or a
//! URL. Pure apart from the random source: time is passed in, so expiry is tested without waiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;

/// How long a browser stays signed in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// How long a sign-in link works (it works once).
pub const TICKET_LIFETIME: Duration = Duration::from_secs(60);

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "runlet-ui-session";

/// A set of secrets, each valid until its expiry; spent ones and expired ones are forgotten.
pub struct Grants {
    lifetime: Duration,
    /// Whether a secret stops working once checked (tickets) or works until it expires (sessions).
    one_time: bool,
    live: Mutex<HashMap<String, Instant>>,
}

impl Grants {
    pub fn sessions() -> Grants {
        Grants { lifetime: SESSION_LIFETIME, one_time: false, live: Mutex::new(HashMap::new()) }
    }

    pub fn tickets() -> Grants {
        Grants { lifetime: TICKET_LIFETIME, one_time: true, live: Mutex::new(HashMap::new()) }
    }

    /// A new secret valid from `now`.
    pub fn issue(&self, now: Instant) -> String {
        use rand::Rng;
        let bytes: [u8; 32] = rand::rng().random();
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut live = self.lock();
        live.retain(|_, expiry| *expiry > now);
        live.insert(secret.clone(), now + self.lifetime);
        secret
    }

    /// Whether `secret` is valid at `now`; a one-time secret is spent by this check.
    pub fn check(&self, secret: &str, now: Instant) -> bool {
        let mut live = self.lock();
        let valid = live.get(secret).is_some_and(|expiry| *expiry > now);
        if self.one_time || !valid {
            live.remove(secret);
        }
        valid
    }

    /// Forgets `secret` (sign-out).
    pub fn revoke(&self, secret: &str) {
        self.lock().remove(secret);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // The map holds no invariant a panicking holder could break halfway.
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`).
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.trim())
}

/// Compares without stopping at the first difference (the login form compares the token).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_last_until_they_expire_or_are_revoked() {
        let sessions = Grants::sessions();
        let t0 = Instant::now();
        let s = sessions.issue(t0);
        // (when, valid)
        let cases = [
            (t0, true),
            (t0 + Duration::from_secs(60), true),
            (t0 + SESSION_LIFETIME - Duration::from_secs(1), true),
            (t0 + SESSION_LIFETIME, false),
            // Once seen expired it is gone.
            (t0, false),
        ];
        for (i, (when, valid)) in cases.into_iter().enumerate() {
            assert_eq!(sessions.check(&s, when), valid, "case {i}");
        }
        let s2 = sessions.issue(t0);
        sessions.revoke(&s2);
        assert!(!sessions.check(&s2, t0));
        assert!(!sessions.check("made-up", t0));
    }

    #[test]
    fn tickets_work_once_and_only_briefly() {
        let tickets = Grants::tickets();
        let t0 = Instant::now();
        let a = tickets.issue(t0);
        let b = tickets.issue(t0);
        assert_ne!(a, b);
        assert!(tickets.check(&a, t0 + Duration::from_secs(1)));
        assert!(!tickets.check(&a, t0 + Duration::from_secs(1)), "a ticket is spent by its first use");
        assert!(!tickets.check(&b, t0 + TICKET_LIFETIME), "expired");
    }

    #[test]
    fn cookies_are_found_by_name() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("runlet-ui-session=abc", SESSION_COOKIE, Some("abc")),
            ("a=1; runlet-ui-session=abc; b=2", SESSION_COOKIE, Some("abc")),
            ("a=1;b=2", "b", Some("2")),
            ("xrunlet-ui-session=abc", SESSION_COOKIE, None),
            ("", SESSION_COOKIE, None),
            ("novalue", "novalue", None),
        ];
        for (header, name, want) in cases {
            assert_eq!(cookie(header, name), *want, "{header:?}");
        }
        assert!(constant_time_eq(b"t", b"t"));
        assert!(!constant_time_eq(b"t", b"u"));
        assert!(!constant_time_eq(b"t", b"tt"));
    }
}
