//! `spec.successPolicy` evaluation for Indexed Jobs (§4.2, upstream `success_policy.go`).

use runlet_codec::SuccessPolicy;

use runlet_api::intervals::IndexSet;

/// The `SuccessCriteriaMet` message of the first rule the succeeded indexes satisfy, if any.
/// Nothing matches while no index has succeeded; a rule whose `succeededIndexes` parses to nothing is
/// skipped.
pub(crate) fn matched_rule_message(
    policy: Option<&SuccessPolicy>,
    completions: i32,
    succeeded: &IndexSet,
) -> Option<String> {
    let policy = policy?;
    if succeeded.is_empty() {
        return None;
    }
    policy.rules.iter().enumerate().find_map(|(index, rule)| {
        let met = match rule.succeeded_indexes.as_deref() {
            Some(text) => {
                let required = IndexSet::parse_clipped(text, completions);
                !required.is_empty() && indexes_rule_met(&required, succeeded, rule.succeeded_count)
            }
            None => rule.succeeded_count.is_some_and(|count| succeeded.len() as i64 >= i64::from(count)),
        };
        met.then(|| format!("Matched rules at index {index}"))
    })
}

/// Upstream `matchSucceededIndexesRule`: every listed index succeeded, or at least `count` of them.
fn indexes_rule_met(required: &IndexSet, succeeded: &IndexSet, count: Option<i32>) -> bool {
    let (rule, done) = (required.runs(), succeeded.runs());
    let (mut r, mut s, mut contained) = (0, 0, 0i64);
    while r < rule.len() && s < done.len() {
        let overlap = i64::from(rule[r].1.min(done[s].1)) - i64::from(rule[r].0.max(done[s].0)) + 1;
        if overlap > 0 {
            contained += overlap;
        }
        match done[s].1.cmp(&rule[r].1) {
            std::cmp::Ordering::Less => s += 1,
            std::cmp::Ordering::Greater => r += 1,
            std::cmp::Ordering::Equal => {
                s += 1;
                r += 1;
            }
        }
    }
    contained == required.len() as i64 || count.is_some_and(|c| contained >= i64::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::SuccessPolicyRule;

    fn rule(indexes: Option<&str>, count: Option<i32>) -> SuccessPolicyRule {
        SuccessPolicyRule { succeeded_indexes: indexes.map(String::from), succeeded_count: count }
    }

    #[test]
    fn rules_match_in_order() {
        let cases: &[(&[SuccessPolicyRule], &str, Option<&str>)] = &[
            (&[rule(Some("0"), None)], "0", Some("Matched rules at index 0")),
            (&[rule(Some("0,1"), None)], "0", None),
            (&[rule(Some("0,1"), Some(1))], "1", Some("Matched rules at index 0")),
            (&[rule(None, Some(2))], "0", None),
            (&[rule(None, Some(2))], "0,3", Some("Matched rules at index 0")),
            (&[rule(Some("4"), None), rule(None, Some(1))], "0", Some("Matched rules at index 1")),
            (&[rule(Some("x"), None), rule(Some("2-3"), None)], "1-3", Some("Matched rules at index 1")),
            (&[rule(Some("0-9"), None)], "0-4", Some("Matched rules at index 0")),
            (&[rule(None, Some(1))], "", None),
        ];
        for (rules, succeeded, want) in cases {
            let policy = SuccessPolicy { rules: rules.to_vec() };
            let succeeded = IndexSet::parse_clipped(succeeded, 5);
            assert_eq!(matched_rule_message(Some(&policy), 5, &succeeded).as_deref(), *want, "{rules:?} {succeeded}");
        }
    }
}
