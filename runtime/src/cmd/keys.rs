//! `umwelt keys`: a deployment's CA, node certificates and secure zenoh configs.

use std::path::PathBuf;

use umwelt_runtime::secure::{self, KeysOptions, generate};

/// Arguments of `umwelt keys`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder for the CA, the node certificates and keys, and the configs
    /// (created if missing; keep it out of version control, e.g. runs/keys).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// A node to create a certificate for (its common name); repeat for
    /// several. Default: driver, controller, operator, monitor.
    #[arg(long = "node", value_name = "NAME")]
    nodes: Vec<String>,
    /// Meeting endpoint written into the configs: the hub listens on it,
    /// the other nodes connect to it.
    #[arg(long, value_name = "LOCATOR", default_value = secure::DEFAULT_SECURE_ENDPOINT)]
    endpoint: String,
    /// The node that listens on the meeting endpoint.
    #[arg(long, value_name = "NAME", default_value = secure::DRIVER)]
    hub: String,
    /// Another DNS name or IP address the certificates are valid for
    /// (localhost, 127.0.0.1, ::1 and the endpoint's host always are).
    #[arg(long = "san", value_name = "NAME")]
    sans: Vec<String>,
    /// Days the certificates stay valid.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Replace existing files in DIR.
    #[arg(long)]
    force: bool,
    /// Print what was written as one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut o = KeysOptions::new(&args.out);
    if !args.nodes.is_empty() {
        o.nodes = args.nodes;
    }
    o.endpoint = args.endpoint;
    o.hub = args.hub;
    o.sans = args.sans;
    o.days = args.days;
    o.force = args.force;
    let keys = generate(&o)?;
    if args.json {
        return super::print_json(&keys);
    }
    eprintln!(
        "umwelt keys: CA {} (its key {} signs new nodes: keep it offline)",
        keys.ca_cert.display(),
        keys.ca_key.display()
    );
    for n in &keys.nodes {
        eprintln!(
            "  {:<12} --zenoh-config {}{}",
            n.name,
            n.config.display(),
            if n.hub {
                format!(" (listens on {})", keys.endpoint)
            } else {
                String::new()
            }
        );
    }
    eprintln!("access rules and threat model: {}", secure::SECURE_DOC);
    Ok(())
}
