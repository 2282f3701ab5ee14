//! kubectl takes its connection flags before the verb too (`kubectl -n x get pods`); runlet's verbs take them
//! after it. [`hoist`] moves leading connection flags behind a client verb, so both spellings work. Pure.

use std::ffi::OsString;

/// Connection flags that take a value.
const VALUE_FLAGS: &[&str] = &["-n", "--namespace", "--kubeconfig", "--context"];

/// How many arguments the connection flag at the head of `args` spans (0: it is not one).
fn flag_len(args: &[OsString]) -> usize {
    let Some(first) = args.first().and_then(|a| a.to_str()) else {
        return 0;
    };
    if VALUE_FLAGS.contains(&first) {
        return if args.len() > 1 { 2 } else { 0 };
    }
    let joined = VALUE_FLAGS.iter().any(|f| first.strip_prefix(f).is_some_and(|rest| rest.starts_with('=')))
        || (first.starts_with("-n") && first.len() > 2 && !first.starts_with("--"));
    usize::from(joined)
}

/// `runlet -n x get pods` → `runlet get -n x pods`; anything else is left as it is. `verbs` are the client's
/// command names.
pub fn hoist(args: Vec<OsString>, verbs: &[&str]) -> Vec<OsString> {
    let mut end = 1;
    while end < args.len() {
        match flag_len(&args[end..]) {
            0 => break,
            n => end += n,
        }
    }
    let is_verb = args.get(end).and_then(|a| a.to_str()).is_some_and(|v| verbs.contains(&v));
    if end == 1 || !is_verb {
        return args;
    }
    let mut out = Vec::with_capacity(args.len());
    out.push(args[0].clone());
    out.push(args[end].clone());
    out.extend(args[1..end].iter().cloned());
    out.extend(args[end + 1..].iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &str) -> String {
        let v: Vec<OsString> = args.split(' ').map(OsString::from).collect();
        let out = hoist(v, &["get", "logs"]);
        out.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn moves_connection_flags_behind_the_verb() {
        let cases = [
            ("runlet -n x get pods", "runlet get -n x pods"),
            ("runlet --namespace=x --context c get pods", "runlet get --namespace=x --context c pods"),
            ("runlet -nx --kubeconfig k logs job/pi", "runlet logs -nx --kubeconfig k job/pi"),
            ("runlet get -n x pods", "runlet get -n x pods"),
            ("runlet --kubeconfig k run -f job.yaml", "runlet --kubeconfig k run -f job.yaml"),
            ("runlet -n", "runlet -n"),
            ("runlet --help", "runlet --help"),
            ("runlet", "runlet"),
        ];
        for (given, want) in cases {
            assert_eq!(run(given), want, "{given}");
        }
    }
}
