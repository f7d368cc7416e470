//! HTTPS for the simulator, as a real API server serves it: a CA of its own, a serving
//! certificate for the names and addresses clients use, and the CA in the kubeconfig it writes.
//!
//! Clients that only speak `https://` to a cluster (kind's kubeconfig always does) need this; the
//! in-process tests keep plain HTTP. The files are kept in a directory and reused on the next
//! start, so a kubeconfig written earlier stays valid across restarts (a node stopped and started).
//! Client certificates are not asked for: the simulator has no authentication.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const CA: &str = "ca.crt";
const CERT: &str = "apiserver.crt";
const KEY: &str = "apiserver.key";

/// The PEM files of a CA and a serving certificate it signed.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TlsFiles {
    /// Makes a CA and a serving certificate for `names` (host names and IP addresses; `localhost`
    /// and `127.0.0.1` are always included).
    pub fn generate(names: &[String]) -> Result<TlsFiles, String> {
        let e = |e: rcgen::Error| e.to_string();
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "k8s-sim-ca");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(e)?;
        let ca_cert = ca.self_signed(&ca_key).map_err(e)?;

        let mut sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        for n in names {
            if !sans.contains(n) {
                sans.push(n.clone());
            }
        }
        let mut server = CertificateParams::new(sans).map_err(e)?;
        server
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(e)?;
        let issuer = Issuer::new(ca, &ca_key);
        let cert = server.signed_by(&key, &issuer).map_err(e)?;
        Ok(TlsFiles {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The files in `dir` if all three are there, else new ones written there.
    pub fn load_or_generate(dir: &Path, names: &[String]) -> Result<TlsFiles, String> {
        let read = |f: &str| std::fs::read_to_string(dir.join(f));
        if let (Ok(ca_pem), Ok(cert_pem), Ok(key_pem)) = (read(CA), read(CERT), read(KEY)) {
            return Ok(TlsFiles {
                ca_pem,
                cert_pem,
                key_pem,
            });
        }
        let files = Self::generate(names)?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (f, text) in [
            (CA, &files.ca_pem),
            (CERT, &files.cert_pem),
            (KEY, &files.key_pem),
        ] {
            std::fs::write(dir.join(f), text)
                .map_err(|e| format!("{}: {e}", dir.join(f).display()))?;
        }
        Ok(files)
    }

    /// A rustls server configuration that serves the certificate (HTTP/1.1: WebSocket upgrades
    /// for port-forward and exec need it).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| format!("serving certificate: {e}"))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| format!("serving key: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| e.to_string())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = TlsFiles::load_or_generate(dir.path(), &["node-1".into()]).unwrap();
        let b = TlsFiles::load_or_generate(dir.path(), &["other".into()]).unwrap();
        assert_eq!(a.ca_pem, b.ca_pem);
        assert_eq!(a.cert_pem, b.cert_pem);
        assert!(a.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        a.server_config().unwrap();
    }
}
