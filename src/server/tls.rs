//! TLS for the webhook: rustls (ring), TLS 1.2+, ALPN `h2` and `http/1.1`, optional client
//! certificate verification, and certificate rotation without a restart.
//!
//! The serving certificate lives behind a resolver that every new handshake asks, so a
//! rotation swaps one pointer: open connections keep the session they negotiated, new
//! ones get the new certificate. A candidate pair is checked first (it parses, the key
//! matches the certificate) and only then swapped in; a bad file never replaces a good
//! one. The files are polled and compared by content rather than watched by path, because
//! Kubernetes rotates mounted secrets by swapping a `..data` symlink.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its key, checked to belong together.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            TlsError::Invalid(format!("the certificate file is not PEM certificates: {e}"))
        })?;
    if chain.is_empty() {
        return Err(TlsError::Invalid(
            "the certificate file holds no certificate".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::Invalid(format!("the key file holds no PEM private key: {e}")))?;
    CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| TlsError::Invalid(format!("the key does not fit the certificate: {e}")))
}

/// The certificate and key files, and what was last read from them.
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|cause| TlsError::Io {
        path: path.display().to_string(),
        cause,
    })
}

impl CertificateFiles {
    /// Both files' current contents (following symlinks, as a `..data` swap needs).
    pub fn read(&self) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
        Ok((read(&self.cert)?, read(&self.key)?))
    }
}

/// Hands every handshake the current certificate.
#[derive(Debug)]
pub struct RotatingCertificate {
    current: ArcSwap<CertifiedKey>,
}

impl RotatingCertificate {
    pub fn new(initial: CertifiedKey) -> Arc<Self> {
        Arc::new(Self {
            current: ArcSwap::from_pointee(initial),
        })
    }

    pub fn replace(&self, next: CertifiedKey) {
        self.current.store(Arc::new(next));
    }
}

impl ResolvesServerCert for RotatingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The rustls server configuration: TLS 1.2 and 1.3, ALPN h2 then http/1.1, and client
/// certificates required and verified against `client_ca` when one is given.
pub fn server_config(
    certificate: Arc<RotatingCertificate>,
    client_ca: Option<&Path>,
) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Invalid(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            let pem = read(path)?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| {
                    TlsError::Invalid(format!("{}: not PEM certificates: {e}", path.display()))
                })?;
                roots
                    .add(cert)
                    .map_err(|e| TlsError::Invalid(format!("{}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(TlsError::Invalid(format!(
                    "{}: holds no CA certificate",
                    path.display()
                )));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| TlsError::Invalid(format!("client CA: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(certificate);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
