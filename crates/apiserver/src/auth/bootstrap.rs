//! Bootstrap tokens as Kubernetes has them: a token `<token-id>.<token-secret>` (6 and 16 characters of
//! `[a-z0-9]`) is valid while the Secret `kube-system/bootstrap-token-<token-id>` of type
//! `bootstrap.kubernetes.io/token` holds the same id and secret, allows authentication
//! (`usage-bootstrap-authentication: "true"`), has not expired (`expiration`, RFC 3339) and is not being deleted.
//! Its holder is `system:bootstrap:<token-id>` in the groups `system:bootstrappers` and the Secret's
//! `auth-extra-groups`. Pure: the caller finds the Secret.

use base64::Engine;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::observe::audit::User;

pub const NAMESPACE: &str = "kube-system";
pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// The group every bootstrap token's holder is in.
pub const BOOTSTRAPPERS: &str = "system:bootstrappers";
const SECRET_PREFIX: &str = "bootstrap-token-";
const USER_PREFIX: &str = "system:bootstrap:";

/// A token's two halves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub id: &'a str,
    pub secret: &'a str,
}

impl<'a> Token<'a> {
    /// The token if it has the bootstrap token form, else None (it may be another kind of token).
    pub fn parse(text: &'a str) -> Option<Token<'a>> {
        let (id, secret) = text.split_once('.')?;
        let form =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        (form(id, 6) && form(secret, 16)).then_some(Token { id, secret })
    }

    /// The name of the Secret that holds this token.
    pub fn secret_name(&self) -> String {
        format!("{SECRET_PREFIX}{}", self.id)
    }
}

/// Why a token in bootstrap form is not accepted (logged, never told to the client: it gets 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no Secret {0} in kube-system")]
    NoSecret(String),
    #[error("the Secret is not of type {SECRET_TYPE}")]
    WrongType,
    #[error("the Secret's token-id or token-secret differ")]
    Mismatch,
    #[error("the token expired at {0}")]
    Expired(String),
    #[error("the token's expiration {0:?} is not an RFC 3339 time")]
    BadExpiration(String),
    #[error("the token is not for authentication (usage-bootstrap-authentication is not \"true\")")]
    NotForAuthentication,
    #[error("the Secret is being deleted")]
    Deleted,
    #[error("extra group {0:?} does not start with system:bootstrappers:")]
    BadGroup(String),
}

/// The value of a Secret's `data` entry, decoded.
fn data(secret: &Value, key: &str) -> Option<String> {
    let encoded = secret.get("data")?.get(key)?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    String::from_utf8(bytes).ok()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who presents `token`, given its Secret (None when there is none) at `now`.
pub fn authenticate(token: Token<'_>, secret: Option<&Value>, now: Timestamp) -> Result<User, Refused> {
    let secret = secret.ok_or_else(|| Refused::NoSecret(token.secret_name()))?;
    if secret.get("type").and_then(Value::as_str) != Some(SECRET_TYPE) {
        return Err(Refused::WrongType);
    }
    if secret.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        return Err(Refused::Deleted);
    }
    let id = data(secret, "token-id").unwrap_or_default();
    let stored = data(secret, "token-secret").unwrap_or_default();
    if id != token.id || !constant_time_eq(stored.as_bytes(), token.secret.as_bytes()) {
        return Err(Refused::Mismatch);
    }
    if let Some(expiration) = data(secret, "expiration") {
        let at: Timestamp = expiration.parse().map_err(|_| Refused::BadExpiration(expiration.clone()))?;
        if now >= at {
            return Err(Refused::Expired(expiration));
        }
    }
    if data(secret, "usage-bootstrap-authentication").as_deref() != Some("true") {
        return Err(Refused::NotForAuthentication);
    }
    let mut groups = vec![BOOTSTRAPPERS.to_string()];
    for group in data(secret, "auth-extra-groups").unwrap_or_default().split(',').map(str::trim) {
        if group.is_empty() {
            continue;
        }
        if !group.starts_with("system:bootstrappers:") {
            return Err(Refused::BadGroup(group.into()));
        }
        groups.push(group.into());
    }
    groups.push("system:authenticated".into());
    Ok(User { username: format!("{USER_PREFIX}{}", token.id), groups })
}

/// Whether `secret` is a bootstrap token whose `expiration` has passed at `now` (the tokencleaner deletes it). A
/// token without an expiration, or with one that does not parse, is left alone, as upstream leaves it.
pub fn expired(secret: &Value, now: Timestamp) -> bool {
    if secret.get("type").and_then(Value::as_str) != Some(SECRET_TYPE) {
        return false;
    }
    let at = data(secret, "expiration").and_then(|e| e.parse::<Timestamp>().ok());
    at.is_some_and(|at| now >= at)
}

/// A new random token.
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut pick =
        |n: usize| -> String { (0..n).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect() };
    let id = pick(6);
    format!("{id}.{}", pick(16))
}

/// The Secret that makes `token` valid until `expires` (never, when None), for authentication and signing, as
/// `kubeadm token create` writes it.
pub fn secret_for(token: Token<'_>, expires: Option<Timestamp>, description: &str) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let mut data = json!({
        "token-id": b64(token.id),
        "token-secret": b64(token.secret),
        "usage-bootstrap-authentication": b64("true"),
        "usage-bootstrap-signing": b64("true"),
        "description": b64(description),
    });
    if let Some(at) = expires {
        data["expiration"] = json!(b64(&at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": token.secret_name(), "namespace": NAMESPACE},
        "type": SECRET_TYPE,
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    const TOKEN: &str = "abc123.0123456789abcdef";

    #[test]
    fn which_tokens_the_cleaner_deletes() {
        let token = Token::parse(TOKEN).unwrap();
        let mut opaque = secret_for(token, Some(at(100)), "x");
        opaque["type"] = json!("Opaque");
        let mut garbled = secret_for(token, None, "x");
        garbled["data"]["expiration"] = json!(base64::engine::general_purpose::STANDARD.encode("soon"));
        let cases = [
            ("expired", secret_for(token, Some(at(100)), "x"), true),
            ("not yet", secret_for(token, Some(at(101)), "x"), false),
            ("never expires", secret_for(token, None, "x"), false),
            ("not a bootstrap token", opaque, false),
            ("an expiration that does not parse", garbled, false),
        ];
        for (name, secret, want) in cases {
            assert_eq!(expired(&secret, at(100)), want, "{name}");
        }
    }

    #[test]
    fn the_token_form() {
        let cases = [
            (TOKEN, true),
            ("abc123.0123456789abcde", false),
            ("ABC123.0123456789abcdef", false),
            ("abc12.0123456789abcdefg", false),
            ("abc1230123456789abcdef", false),
            ("abc123.0123456789abcdef.x", false),
            ("0f3a9c", false),
        ];
        for (text, valid) in cases {
            assert_eq!(Token::parse(text).is_some(), valid, "{text:?}");
        }
        let token = generate();
        assert!(Token::parse(&token).is_some(), "{token}");
        assert_eq!(Token::parse(TOKEN).map(|t| t.secret_name()).as_deref(), Some("bootstrap-token-abc123"));
    }

    #[test]
    fn which_secrets_let_a_token_in() {
        let token = Token::parse(TOKEN).unwrap();
        let good = secret_for(token, Some(at(100)), "joining");
        let edit = |f: &dyn Fn(&mut Value)| {
            let mut s = good.clone();
            f(&mut s);
            s
        };
        let b64 = |s: &str| json!(base64::engine::general_purpose::STANDARD.encode(s));
        // (case, the Secret, seconds after the test's epoch, what authentication says)
        type Case<'a> = (&'a str, Option<Value>, i64, Result<(), Refused>);
        let cases: Vec<Case> = vec![
            ("valid", Some(good.clone()), 99, Ok(())),
            ("no secret", None, 0, Err(Refused::NoSecret("bootstrap-token-abc123".into()))),
            ("expired", Some(good.clone()), 100, Err(Refused::Expired("2027-01-15T08:01:40Z".into()))),
            (
                "never expires",
                Some(edit(&|s| {
                    s["data"].as_object_mut().map(|d| d.remove("expiration"));
                })),
                1_000_000,
                Ok(()),
            ),
            ("other type", Some(edit(&|s| s["type"] = json!("Opaque"))), 0, Err(Refused::WrongType)),
            (
                "other secret",
                Some(edit(&|s| s["data"]["token-secret"] = b64("0123456789abcdee"))),
                0,
                Err(Refused::Mismatch),
            ),
            ("other id", Some(edit(&|s| s["data"]["token-id"] = b64("abc124"))), 0, Err(Refused::Mismatch)),
            (
                "signing only",
                Some(edit(&|s| s["data"]["usage-bootstrap-authentication"] = b64("false"))),
                0,
                Err(Refused::NotForAuthentication),
            ),
            (
                "being deleted",
                Some(edit(&|s| s["metadata"]["deletionTimestamp"] = json!("2027-01-01T00:00:00Z"))),
                0,
                Err(Refused::Deleted),
            ),
            (
                "bad expiration",
                Some(edit(&|s| s["data"]["expiration"] = b64("tomorrow"))),
                0,
                Err(Refused::BadExpiration("tomorrow".into())),
            ),
            (
                "bad group",
                Some(edit(&|s| s["data"]["auth-extra-groups"] = b64("system:masters"))),
                0,
                Err(Refused::BadGroup("system:masters".into())),
            ),
        ];
        for (name, secret, now, want) in cases {
            let got = authenticate(token, secret.as_ref(), at(now));
            assert_eq!(got.as_ref().map(|_| ()).map_err(Clone::clone), want, "{name}");
            if let Ok(user) = got {
                assert_eq!(user.username, "system:bootstrap:abc123", "{name}");
                assert!(user.groups.contains(&BOOTSTRAPPERS.to_string()), "{name}");
            }
        }
        let extra = edit(&|s| s["data"]["auth-extra-groups"] = b64("system:bootstrappers:workers"));
        let user = authenticate(token, Some(&extra), at(0)).unwrap();
        assert!(user.groups.contains(&"system:bootstrappers:workers".to_string()));
    }
}
