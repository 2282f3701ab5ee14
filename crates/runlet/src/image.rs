//! `runlet image ls | import FILE | rm NAME`: the images of this machine's node (the store the `oci` runtime
//! handler pulls into), for looking at them and for machines without registry access.

use std::path::PathBuf;

use anyhow::Context;
use runlet_image::{ImageRecord, ImageStore};

#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
    /// The node's directory of `runlet agent --dir` [env: RUNLET_AGENT_DIR]; without it, the local node of the
    /// server of --data-dir
    #[arg(long, env = "RUNLET_AGENT_DIR", global = true)]
    pub agent_dir: Option<PathBuf>,
    /// Data directory of the server whose local node's images these are [env: RUNLET_DATA_DIR]
    #[arg(long, env = "RUNLET_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum ImageCommand {
    /// List the images on this node.
    #[command(alias = "list")]
    Ls,
    /// Import images from `docker save` archives or OCI image layouts (directories or tar files).
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Remove images (by reference, or by id): one name of an image with several, else the whole image.
    #[command(alias = "rmi")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

fn store_dir(args: &ImageArgs) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &args.agent_dir {
        return Ok(dir.join("images"));
    }
    Ok(crate::server::data_dir(args.data_dir.clone())?.join("agent").join("images"))
}

/// Docker's human sizes: `1.23MB` (powers of 1000).
fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.3}").trim_end_matches('0').trim_end_matches('.').to_string() + units[unit]
    }
}

/// One `REPOSITORY TAG IMAGE ID SIZE` row per tag (`<none>` for an image without one).
fn rows(images: &[ImageRecord]) -> Vec<[String; 4]> {
    let mut out = Vec::new();
    for image in images {
        let id = image.id.strip_prefix("sha256:").unwrap_or(&image.id).chars().take(12).collect::<String>();
        let size = human_size(image.size);
        let tags: Vec<(String, String)> = image
            .names
            .iter()
            .filter(|n| !n.contains('@'))
            .filter_map(|n| {
                let slash = n.rfind('/').unwrap_or(0);
                n[slash..].rfind(':').map(|i| (n[..slash + i].to_string(), n[slash + i + 1..].to_string()))
            })
            .collect();
        if tags.is_empty() {
            let repo = image.names.first().and_then(|n| n.split('@').next()).unwrap_or("<none>").to_string();
            out.push([repo, "<none>".to_string(), id, size]);
        } else {
            for (repo, tag) in tags {
                out.push([repo, tag, id.clone(), size.clone()]);
            }
        }
    }
    out
}

fn print_table(rows: &[[String; 4]]) {
    let header = ["REPOSITORY", "TAG", "IMAGE ID", "SIZE"].map(str::to_string);
    let all: Vec<&[String; 4]> = std::iter::once(&header).chain(rows).collect();
    let widths: Vec<usize> = (0..4).map(|i| all.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    for r in all {
        println!(
            "{:<w0$}   {:<w1$}   {:<w2$}   {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
}

pub fn run(args: ImageArgs) -> anyhow::Result<()> {
    let dir = store_dir(&args)?;
    let store = ImageStore::open(&dir).with_context(|| format!("opening the image store in {}", dir.display()))?;
    match args.command {
        ImageCommand::Ls => print_table(&rows(&store.list()?)),
        ImageCommand::Import { files } => {
            for file in files {
                let images = runlet_image::import::import(&store, &file)
                    .with_context(|| format!("importing {}", file.display()))?;
                for image in images {
                    match image.names.iter().find(|n| !n.contains('@')) {
                        Some(name) => println!("Loaded image: {name}"),
                        None => println!("Loaded image ID: {}", image.id),
                    }
                }
            }
        }
        ImageCommand::Rm { names } => {
            // The runs of pods still on the node hold their images, as containers hold theirs for `docker rmi`.
            let in_use = dir.parent().map(runlet_agent::runtime::oci::gc::images_in_use).unwrap_or_default();
            for name in names {
                let before = store.find(&name)?;
                let deleted = store.remove(&name, &in_use)?;
                if deleted.is_empty() {
                    println!("Untagged: {name}");
                } else {
                    for n in before.iter().flat_map(|i| i.names.iter()) {
                        println!("Untagged: {n}");
                    }
                    for id in deleted {
                        println!("Deleted: {id}");
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_sizes_read_like_docker() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_500_000), "1.5MB");
        assert_eq!(human_size(2_000), "2kB");
        let image = ImageRecord {
            id: format!("sha256:{}", "ab".repeat(32)),
            names: vec![
                "docker.io/library/busybox:1.36".into(),
                "127.0.0.1:5000/tools/box:v1".into(),
                format!("docker.io/library/busybox@sha256:{}", "cd".repeat(32)),
            ],
            layers: vec![],
            size: 1_234_000,
            last_used: 0,
        };
        let got = rows(std::slice::from_ref(&image));
        assert_eq!(got[0], ["docker.io/library/busybox", "1.36", "abababababab", "1.234MB"].map(String::from));
        assert_eq!(got[1], ["127.0.0.1:5000/tools/box", "v1", "abababababab", "1.234MB"].map(String::from));
        let untagged = ImageRecord { names: vec![], ..image };
        assert_eq!(rows(&[untagged])[0][..2], ["<none>".to_string(), "<none>".to_string()]);
    }
}
