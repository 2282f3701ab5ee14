//! `runlet token create`: a bootstrap token for agents to join with (`kubeadm token create`): a Secret
//! `kube-system/bootstrap-token-<id>` written through the API with the server's admin kubeconfig.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use runlet_apiserver::auth::{bootstrap, certs};

#[derive(clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Create a bootstrap token and print it.
    Create {
        /// How long the token is valid (`0` for ever), e.g. `24h`, `30m`
        #[arg(long, default_value = "24h", value_parser = crate::server::parse_duration)]
        ttl: Duration,
        /// Print the whole `runlet agent --join ...` command instead of the token alone
        #[arg(long)]
        print_join_command: bool,
        /// What the token is for (stored in its Secret)
        #[arg(long, default_value = "a runlet agent joining")]
        description: String,
        /// The admin kubeconfig [default: the local server's, in its data dir]
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Data directory of the server [env: RUNLET_DATA_DIR] [default: the user's data dir]/runlet
        #[arg(long, env = "RUNLET_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let TokenCommand::Create { ttl, print_join_command, description, kubeconfig, data_dir } = args.command;
    let path = match kubeconfig {
        Some(path) => path,
        None => crate::server::kubeconfig_path(&crate::server::data_dir(data_dir)?),
    };
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("reading {} (run this on the server's machine, or pass --kubeconfig)", path.display())
    })?;
    let parts = crate::join::kubeconfig_parts(&text)?;
    let token = bootstrap::generate();
    let parsed = bootstrap::Token::parse(&token).context("a generated token has the bootstrap form")?;
    let expires = if ttl.is_zero() {
        None
    } else {
        let ttl = jiff::SignedDuration::try_from(ttl).context("--ttl is too long")?;
        Some(jiff::Timestamp::now().checked_add(ttl).context("--ttl is too long")?)
    };
    let secret = bootstrap::secret_for(parsed, expires, &description);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::from_yaml(&text).context("parsing the kubeconfig")?;
        let config =
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.context("using the kubeconfig")?;
        let client = kube::Client::try_from(config).context("building the API client")?;
        let secrets: kube::Api<runlet_codec::Secret> = kube::Api::namespaced(client, bootstrap::NAMESPACE);
        let secret: runlet_codec::Secret = serde_json::from_value(secret).context("the token's Secret")?;
        secrets.create(&Default::default(), &secret).await.context("creating the token's Secret")?;
        anyhow::Ok(())
    })?;
    if print_join_command {
        let ca = parts.ca_pem.as_deref().and_then(certs::first_certificate);
        let Some(hash) = ca.and_then(|c| certs::public_key_hash(c.as_ref())) else {
            bail!("{} has no CA certificate to print the hash of", path.display());
        };
        println!("runlet agent --join {} --token {token} --ca-cert-hash {hash}", parts.server);
    } else {
        println!("{token}");
    }
    Ok(())
}
