//! The resource arguments of `get`, `describe`, `delete`, `wait`, ...: `TYPE[,TYPE...] [NAME...]` or
//! `TYPE/NAME...`, resolved against discovery into one selection per resource, in the order given.

use crate::discovery::{ApiResource, Discovery};
use crate::error::{CliError, Result};

/// What the arguments name, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceArgs {
    /// `jobs,pods [NAME...]`
    Types { types: Vec<String>, names: Vec<String> },
    /// `jobs/pi pods/x`
    Pairs(Vec<(String, String)>),
}

/// Splits the arguments as kubectl does; `None` when there are none.
pub fn parse(args: &[String]) -> Result<Option<ResourceArgs>> {
    let Some(first) = args.first() else {
        return Ok(None);
    };
    if args.iter().any(|a| a.contains('/')) {
        let mut pairs = Vec::new();
        for a in args {
            match a.split_once('/') {
                Some((t, n)) if !t.is_empty() && !n.is_empty() && !n.contains('/') => {
                    pairs.push((t.to_string(), n.to_string()))
                }
                _ if !a.contains('/') => {
                    return Err(CliError::other(
                        "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'runlet get resource/<resource_name>' instead of 'runlet get resource resource/<resource_name>'",
                    ));
                }
                _ => {
                    return Err(CliError::other(format!(
                        "arguments in resource/name form must have a single resource and name: \"{a}\""
                    )));
                }
            }
        }
        return Ok(Some(ResourceArgs::Pairs(pairs)));
    }
    let types: Vec<String> = first.split(',').filter(|t| !t.is_empty()).map(String::from).collect();
    if types.is_empty() {
        return Err(CliError::other(format!("no resource type in \"{first}\"")));
    }
    Ok(Some(ResourceArgs::Types { types, names: args[1..].to_vec() }))
}

/// One resource and the names asked for (none: the whole collection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub resource: ApiResource,
    pub names: Vec<String>,
    /// Whether the type came from a category such as `all`.
    pub from_category: bool,
}

/// Resolves parsed arguments; repeated resources are merged, keeping the first position.
pub fn resolve(discovery: &Discovery, args: &ResourceArgs) -> Result<Vec<Selection>> {
    let mut out: Vec<Selection> = Vec::new();
    let mut add = |resource: &ApiResource, name: Option<&str>, from_category: bool| {
        let idx = match out.iter().position(|s| s.resource == *resource) {
            Some(i) => i,
            None => {
                out.push(Selection { resource: resource.clone(), names: Vec::new(), from_category });
                out.len() - 1
            }
        };
        if let Some(n) = name {
            out[idx].names.push(n.to_string());
        }
    };
    match args {
        ResourceArgs::Types { types, names } => {
            for t in types {
                let found = discovery.resolve(t)?;
                let category = found.len() > 1;
                if category && !names.is_empty() {
                    return Err(CliError::other(format!("a category such as \"{t}\" cannot be combined with names")));
                }
                for r in found {
                    if names.is_empty() {
                        add(r, None, category);
                    }
                    for n in names {
                        add(r, Some(n), category);
                    }
                }
            }
        }
        ResourceArgs::Pairs(pairs) => {
            for (t, n) in pairs {
                let found = discovery.resolve(t)?;
                if found.len() > 1 {
                    return Err(CliError::other(format!("a category such as \"{t}\" cannot be combined with names")));
                }
                add(found[0], Some(n), false);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::tests::sample;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_both_forms() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(
            parse(&strings(&["jobs,pods", "a", "b"])).unwrap(),
            Some(ResourceArgs::Types { types: strings(&["jobs", "pods"]), names: strings(&["a", "b"]) })
        );
        assert_eq!(
            parse(&strings(&["jobs/pi", "po/x"])).unwrap(),
            Some(ResourceArgs::Pairs(vec![("jobs".into(), "pi".into()), ("po".into(), "x".into())]))
        );
        assert!(
            parse(&strings(&["jobs", "jobs/pi"]))
                .unwrap_err()
                .to_string()
                .contains("no need to specify a resource type")
        );
        assert!(parse(&strings(&["jobs/"])).is_err());
    }

    #[test]
    fn resolves_in_order() {
        let d = sample();
        let sel = resolve(&d, &parse(&strings(&["jobs/pi", "pods/x", "job/other"])).unwrap().unwrap()).unwrap();
        let got: Vec<(&str, Vec<String>)> = sel.iter().map(|s| (s.resource.plural.as_str(), s.names.clone())).collect();
        assert_eq!(got, vec![("jobs", strings(&["pi", "other"])), ("pods", strings(&["x"]))]);
        let all = resolve(&d, &parse(&strings(&["all"])).unwrap().unwrap()).unwrap();
        assert!(all.iter().all(|s| s.from_category && s.names.is_empty()));
        assert_eq!(all.len(), 2);
        assert!(resolve(&d, &parse(&strings(&["all", "x"])).unwrap().unwrap()).is_err());
    }
}
