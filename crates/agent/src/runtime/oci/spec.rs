//! What an `oci` container runs, from its image configuration and its pod spec, by Kubernetes' rules. Pure.
//!
//! - `command` replaces the image's `Entrypoint` (and its `Cmd` is then ignored); `args` replace `Cmd`.
//! - The image's `Env` comes first; the container's `env` overrides variables of the same name.
//! - `workingDir` overrides the image's `WorkingDir`; without either it is `/`.
//! - `runAsUser`/`runAsGroup` override the image's `User` (`uid`, `uid:gid`, `name`, `name:group`, resolved
//!   with the image's own `/etc/passwd` and `/etc/group`).

use runlet_image::RunConfig;

/// `command`/`args` (already `$(VAR)`-expanded, in that order) combined with the image's entrypoint and cmd.
pub fn argv(command: &[String], args: &[String], image: &RunConfig) -> Vec<String> {
    if !command.is_empty() {
        return command.iter().chain(args).cloned().collect();
    }
    let entrypoint = image.entrypoint.iter().flatten();
    if !args.is_empty() {
        return entrypoint.chain(args).cloned().collect();
    }
    entrypoint.chain(image.cmd.iter().flatten()).cloned().collect()
}

/// The image's environment (`NAME=value` entries) as pairs; entries without `=` are skipped.
pub fn image_env(image: &RunConfig) -> Vec<(String, String)> {
    image.env.iter().flatten().filter_map(|e| e.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))).collect()
}

/// The container's working directory.
pub fn working_dir(container_dir: Option<&str>, image: &RunConfig) -> String {
    container_dir
        .filter(|d| !d.is_empty())
        .or(image.working_dir.as_deref().filter(|d| !d.is_empty()))
        .unwrap_or("/")
        .to_string()
}

/// `/etc/passwd`'s `name:x:uid:gid:...` lines: the uid and gid of `name`.
fn passwd_lookup(passwd: &str, name: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 4 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?))).flatten()
    })
}

/// The primary group of `uid` in `/etc/passwd`.
pub fn passwd_gid(passwd: &str, uid: u32) -> Option<u32> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 4 && f[2].parse() == Ok(uid)).then(|| f[3].parse().ok()).flatten()
    })
}

fn group_lookup(group: &str, name: &str) -> Option<u32> {
    group.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 3 && f[0] == name).then(|| f[2].parse().ok()).flatten()
    })
}

/// The image's `User` as uid and gid. An empty user is root; a user known only by a name the image's files do
/// not have is an error, as with containerd.
pub fn image_user(user: &str, passwd: &str, group: &str) -> Result<(u32, u32), String> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let (uid, passwd_group) = match u.parse::<u32>() {
        Ok(uid) => (uid, passwd_gid(passwd, uid)),
        Err(_) => {
            let (uid, gid) = passwd_lookup(passwd, u)
                .ok_or_else(|| format!("unable to find user {u}: no matching entries in passwd file"))?;
            (uid, Some(gid))
        }
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_lookup(group, g)
                .ok_or_else(|| format!("unable to find group {g}: no matching entries in group file"))?,
        },
        None => passwd_group.unwrap_or(0),
    };
    Ok((uid, gid))
}

/// The kubelet's `runAsNonRoot` check against an image whose user the pod does not override.
pub fn verify_non_root(image_user_text: &str, resolved_uid: u32, pod: &str, container: &str) -> Result<(), String> {
    let u = image_user_text.split(':').next().unwrap_or("");
    if !u.is_empty() && u.parse::<u32>().is_err() {
        return Err(format!(
            "container has runAsNonRoot and image has non-numeric user ({u}), cannot verify user is non-root (pod: {pod:?}, container: {container})"
        ));
    }
    if resolved_uid == 0 {
        return Err(format!(
            "container has runAsNonRoot and image will run as root (pod: {pod:?}, container: {container})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_cmd_combine_as_on_kubernetes() {
        let image =
            RunConfig { entrypoint: Some(v(&["/bin/echo", "e"])), cmd: Some(v(&["c1", "c2"])), ..Default::default() };
        let no_entrypoint = RunConfig { cmd: Some(v(&["/bin/sh"])), ..Default::default() };
        type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a RunConfig, &'a [&'a str]);
        let cases: &[Case<'_>] = &[
            (&[], &[], &image, &["/bin/echo", "e", "c1", "c2"]),
            (&[], &["a1"], &image, &["/bin/echo", "e", "a1"]),
            (&["/bin/true"], &[], &image, &["/bin/true"]),
            (&["/bin/printf"], &["x"], &image, &["/bin/printf", "x"]),
            (&[], &[], &no_entrypoint, &["/bin/sh"]),
            (&[], &["/bin/date"], &no_entrypoint, &["/bin/date"]),
            (&[], &[], &RunConfig::default(), &[]),
        ];
        for (command, args, image, want) in cases {
            assert_eq!(argv(&v(command), &v(args), image), v(want), "{command:?} {args:?}");
        }
    }

    #[test]
    fn env_and_working_dir() {
        let image = RunConfig {
            env: Some(v(&["PATH=/usr/bin:/bin", "GREETING=a=b", "BROKEN"])),
            working_dir: Some("/srv".into()),
            ..Default::default()
        };
        assert_eq!(
            image_env(&image),
            [("PATH".to_string(), "/usr/bin:/bin".to_string()), ("GREETING".to_string(), "a=b".to_string())]
        );
        assert_eq!(working_dir(None, &image), "/srv");
        assert_eq!(working_dir(Some(""), &image), "/srv");
        assert_eq!(working_dir(Some("/work"), &image), "/work");
        assert_eq!(working_dir(None, &RunConfig::default()), "/");
    }

    #[test]
    fn image_users_resolve_in_the_image() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
        let group = "root:x:0:\nstaff:x:50:\n";
        type Case<'a> = (&'a str, Result<(u32, u32), &'a str>);
        let cases: &[Case<'_>] = &[
            ("", Ok((0, 0))),
            ("app", Ok((1000, 1001))),
            ("1000", Ok((1000, 1001))),
            ("2000", Ok((2000, 0))),
            ("app:staff", Ok((1000, 50))),
            ("1000:7", Ok((1000, 7))),
            ("nobody", Err("unable to find user nobody: no matching entries in passwd file")),
            ("app:wheel", Err("unable to find group wheel: no matching entries in group file")),
        ];
        for (user, want) in cases {
            assert_eq!(image_user(user, passwd, group), want.map_err(str::to_string), "{user:?}");
        }
    }

    #[test]
    fn run_as_non_root_against_the_image() {
        assert!(verify_non_root("1000", 1000, "p", "c").is_ok());
        assert_eq!(
            verify_non_root("", 0, "p", "c"),
            Err("container has runAsNonRoot and image will run as root (pod: \"p\", container: c)".to_string())
        );
        assert_eq!(
            verify_non_root("app", 1000, "p", "c"),
            Err("container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root (pod: \"p\", container: c)".to_string())
        );
    }
}
