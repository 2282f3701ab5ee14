//! Kubernetes `$(VAR)` expansion, as the kubelet applies it to env values, `command` and `args`.
//!
//! Rules (from the kubelet's `third_party/forked/golang/expansion`): `$(NAME)` becomes the value of `NAME`
//! when it is defined and stays literally `$(NAME)` when it is not; `$$` is an escaped `$`; a `$` followed by
//! anything else, an unterminated `$(`, or a `$` at the very end is kept as it is.

/// The expansion would be longer than the budget it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("longer than {0} bytes")]
pub struct TooLong(pub usize);

/// Expands `$(VAR)` references in `input`, looking names up with `lookup`.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    // Without a budget nothing is too long.
    expand_bounded(input, lookup, usize::MAX).unwrap_or_default()
}

/// [`expand`], giving up as soon as the result would exceed `budget` bytes: values that reference earlier
/// values can double at every step, so the bound must hold while expanding, not after.
pub fn expand_bounded(input: &str, lookup: impl Fn(&str) -> Option<String>, budget: usize) -> Result<String, TooLong> {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len().min(budget));
    // Start of the not-yet-copied part of `input`; only ever set to ASCII boundaries, so slicing is safe.
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let consumed = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(close) => {
                        let name = &rest[1..close];
                        match lookup(name) {
                            Some(value) => {
                                if out.len() + value.len() > budget {
                                    return Err(TooLong(budget));
                                }
                                out.push_str(&value)
                            }
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 1
                    }
                    None => {
                        // Unterminated: keep "$(" and go on scanning after the parenthesis.
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    // Not an expression: keep the `$`; the next character is copied by the next checkpoint.
                    out.push('$');
                    0
                }
            };
            cursor += 1 + consumed;
            checkpoint = cursor;
        } else {
            cursor += 1;
        }
    }
    out.push_str(&input[checkpoint..]);
    if out.len() > budget {
        return Err(TooLong(budget));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "VAR_A" => Some("A".into()),
            "VAR_B" => Some("B".into()),
            "EMPTY" => Some(String::new()),
            "NESTED" => Some("$(VAR_A)".into()),
            _ => None,
        }
    }

    #[test]
    fn expansion_table() {
        let cases = [
            ("", ""),
            ("plain", "plain"),
            ("$(VAR_A)", "A"),
            ("x$(VAR_A)y$(VAR_B)z", "xAyBz"),
            ("$(EMPTY)", ""),
            ("$(UNDEFINED)", "$(UNDEFINED)"),
            ("$$(VAR_A)", "$(VAR_A)"),
            ("$$$(VAR_A)", "$A"),
            ("$$$$(VAR_A)", "$$(VAR_A)"),
            ("$VAR_A", "$VAR_A"),
            ("$", "$"),
            ("a$", "a$"),
            ("$(VAR_A", "$(VAR_A"),
            ("$(", "$("),
            ("$()", "$()"),
            ("$(VAR_A)$(VAR_A", "A$(VAR_A"),
            ("$(NESTED)", "$(VAR_A)"),
            ("ünï$(VAR_A)çødé", "ünïAçødé"),
            ("$é", "$é"),
            ("${VAR_A}", "${VAR_A}"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, vars), want, "input {input:?}");
        }
    }

    #[test]
    fn the_budget_holds_while_expanding() {
        // Each value doubles the previous one: unbounded, the 64th would be 2^64 bytes long.
        let mut defined: Vec<String> = vec!["x".into()];
        let mut failed_at = None;
        for i in 1..64 {
            let input = format!("$(V{})$(V{})", i - 1, i - 1);
            let lookup =
                |name: &str| name.strip_prefix('V')?.parse::<usize>().ok().and_then(|n| defined.get(n).cloned());
            match expand_bounded(&input, lookup, 1 << 20) {
                Ok(v) => defined.push(v),
                Err(e) => {
                    failed_at = Some((i, e));
                    break;
                }
            }
        }
        assert_eq!(failed_at, Some((21, TooLong(1 << 20))));
        assert_eq!(expand_bounded("abc", |_| None, 2), Err(TooLong(2)));
    }
}
