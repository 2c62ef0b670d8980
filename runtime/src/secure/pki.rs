//! A deployment's CA, node certificates and keys, and their configs, on disk.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::profile::{self, TlsFiles, split_secure_endpoint};
use super::{DEFAULT_SECURE_ENDPOINT, DRIVER, SecureError};

/// What to create.
#[derive(Clone, Debug)]
pub struct KeysOptions {
    /// Folder for every file (created if missing).
    pub out: PathBuf,
    /// Node names: each gets a certificate with that common name.
    pub nodes: Vec<String>,
    /// The meeting endpoint, `quic/HOST:PORT` (or `tls/HOST:PORT`).
    pub endpoint: String,
    /// The node that listens on the endpoint (the others connect to it).
    pub hub: String,
    /// Extra DNS names or IP addresses the node certificates are valid for
    /// (beyond `localhost`, `127.0.0.1`, `::1` and the endpoint's host).
    pub sans: Vec<String>,
    /// Days the certificates are valid for, from now.
    pub days: u32,
    /// Replace existing files.
    pub force: bool,
}

impl KeysOptions {
    /// The defaults of `umwelt keys` writing into `out`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self {
            out: out.into(),
            nodes: super::DEFAULT_NODES.map(String::from).to_vec(),
            endpoint: DEFAULT_SECURE_ENDPOINT.to_string(),
            hub: DRIVER.to_string(),
            sans: Vec::new(),
            days: 365,
            force: false,
        }
    }
}

/// The files of one node (absolute paths).
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeFiles {
    /// The node's name, its certificate's common name.
    pub name: String,
    /// Its certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub key: PathBuf,
    /// Its zenoh json5 config (`--zenoh-config`).
    pub config: PathBuf,
    /// Whether it listens on the meeting endpoint.
    pub hub: bool,
}

/// What [`generate`] wrote (absolute paths).
#[derive(Clone, Debug, serde::Serialize)]
pub struct GeneratedKeys {
    /// The CA certificate (PEM): every node's trust anchor.
    pub ca_cert: PathBuf,
    /// The CA private key (PEM, mode 0600): keep it offline.
    pub ca_key: PathBuf,
    /// The meeting endpoint written into the configs.
    pub endpoint: String,
    /// One entry per node, in the order given.
    pub nodes: Vec<NodeFiles>,
}

/// Checks a node name: 1 to 64 ASCII letters, digits, `-` or `_` (it is a
/// certificate common name and a file name).
fn check_node(name: &str) -> Result<(), SecureError> {
    let bad = |why| Err(SecureError::BadNode(name.to_string(), why));
    if name.is_empty() || name.len() > 64 {
        return bad("must be 1 to 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return bad("only ASCII letters, digits, - and _");
    }
    if name == "ca" {
        return bad("`ca` names the CA's files");
    }
    Ok(())
}

/// Creates the CA, a certificate and private key per node, and each node's
/// zenoh config in `o.out`. Refuses, before writing anything, when one of
/// the files exists and `o.force` is false. Private keys are written with
/// mode 0600.
pub fn generate(o: &KeysOptions) -> Result<GeneratedKeys, SecureError> {
    let (_, host, _) = split_secure_endpoint(&o.endpoint)?;
    if o.nodes.is_empty() {
        return Err(SecureError::BadNode(String::new(), "no nodes given"));
    }
    for (i, n) in o.nodes.iter().enumerate() {
        check_node(n)?;
        if o.nodes[..i].contains(n) {
            return Err(SecureError::BadNode(n.clone(), "given twice"));
        }
    }
    if !o.nodes.contains(&o.hub) {
        return Err(SecureError::BadHub(o.hub.clone()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SecureError::Io { path, source }
    };
    std::fs::create_dir_all(&o.out).map_err(io(&o.out))?;
    let out = std::fs::canonicalize(&o.out).map_err(io(&o.out))?;
    let ca_cert = out.join("ca.pem");
    let ca_key = out.join("ca.key");
    let nodes: Vec<NodeFiles> = o
        .nodes
        .iter()
        .map(|n| NodeFiles {
            name: n.clone(),
            cert: out.join(format!("{n}.pem")),
            key: out.join(format!("{n}.key")),
            config: out.join(format!("{n}.json5")),
            hub: *n == o.hub,
        })
        .collect();
    let all = std::iter::once(&ca_cert)
        .chain(std::iter::once(&ca_key))
        .chain(nodes.iter().flat_map(|n| [&n.cert, &n.key, &n.config]));
    let existing: Vec<PathBuf> = all.filter(|p| p.exists()).cloned().collect();
    if !existing.is_empty() && !o.force {
        return Err(SecureError::Exists(existing));
    }

    let cert_err = |what: &str| {
        let what = what.to_string();
        move |source| SecureError::Cert { what, source }
    };
    let now = time::OffsetDateTime::now_utc();
    let (not_before, not_after) = (
        now - time::Duration::days(1),
        now + time::Duration::days(i64::from(o.days.max(1))),
    );
    let ca_keypair = KeyPair::generate().map_err(cert_err("the CA key"))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(cert_err("the CA"))?;
    ca.distinguished_name
        .push(DnType::CommonName, "umwelt deployment CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    (ca.not_before, ca.not_after) = (not_before, not_after);
    let ca_pem = ca
        .self_signed(&ca_keypair)
        .map_err(cert_err("the CA"))?
        .pem();
    write_file(&ca_key, &ca_keypair.serialize_pem(), true)?;
    write_file(&ca_cert, &ca_pem, false)?;
    let issuer = Issuer::new(ca, ca_keypair);

    let mut sans: Vec<String> = Vec::new();
    for s in ["localhost", "127.0.0.1", "::1", host]
        .into_iter()
        .chain(o.sans.iter().map(String::as_str))
    {
        if !sans.iter().any(|x| x == s) {
            sans.push(s.to_string());
        }
    }
    for n in &nodes {
        let what = format!("the certificate of `{}`", n.name);
        let key = KeyPair::generate().map_err(cert_err(&what))?;
        let mut p = CertificateParams::new(sans.clone()).map_err(cert_err(&what))?;
        p.distinguished_name
            .push(DnType::CommonName, n.name.clone());
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.use_authority_key_identifier_extension = true;
        (p.not_before, p.not_after) = (not_before, not_after);
        let cert = p.signed_by(&key, &issuer).map_err(cert_err(&what))?;
        write_file(&n.key, &key.serialize_pem(), true)?;
        write_file(&n.cert, &cert.pem(), false)?;
        let files = TlsFiles {
            ca: &ca_cert,
            cert: &n.cert,
            key: &n.key,
        };
        let config = profile::node_config(files, &o.endpoint, n.hub, &o.nodes)?;
        let text = format!(
            "// zenoh config of umwelt node `{}` (secure profile: mutual TLS + access control).\n\
             // Written by `umwelt keys`; see {}.\n{:#}\n",
            n.name,
            super::SECURE_DOC,
            config
        );
        write_file(&n.config, &text, false)?;
    }
    Ok(GeneratedKeys {
        ca_cert,
        ca_key,
        endpoint: o.endpoint.clone(),
        nodes,
    })
}

/// Writes `text` to `path`, replacing a file there; `secret` files are
/// created with mode 0600 (a replaced file is removed first, so that it
/// cannot keep wider permissions).
fn write_file(path: &Path, text: &str, secret: bool) -> Result<(), SecureError> {
    let io = |source| SecureError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_checked() {
        for good in ["driver", "arm-2", "op_1"] {
            assert!(check_node(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "../x", "ca", &"x".repeat(65)] {
            assert!(check_node(bad).is_err(), "{bad}");
        }
    }
}
