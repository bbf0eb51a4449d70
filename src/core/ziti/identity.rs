//! Enrolled identity files (sdk-golang `ziti/config.go`, openziti/identity `config.go`) and the TLS client
//! configuration built from them: client certificate authentication, and trust in the identity's CA bundle only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use super::ZitiError;

#[derive(Debug, Deserialize)]
struct RawConfig {
    #[serde(rename = "ztAPI")]
    zt_api: String,
    #[serde(rename = "ztAPIs", default)]
    zt_apis: Option<Vec<String>>,
    id: RawId,
}

#[derive(Debug, Deserialize)]
struct RawId {
    cert: String,
    key: String,
    #[serde(default)]
    ca: Option<String>,
}

/// A loaded identity. `Debug` never prints key material.
#[derive(Clone)]
pub struct Identity {
    /// Controller client API base, e.g. `https://127.0.0.1:1280/edge/client/v1`.
    pub api: url::Url,
    /// Further controller URLs (HA); tried after `api`.
    pub apis: Vec<url::Url>,
    pub cert_chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    pub ca: Vec<CertificateDer<'static>>,
    /// Subject common name of the leaf certificate (sent in the channel hello).
    pub common_name: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("api", &self.api.as_str())
            .field("common_name", &self.common_name)
            .field("certs", &self.cert_chain.len())
            .field("ca", &self.ca.len())
            .finish_non_exhaustive()
    }
}

fn bad(path: &str, why: impl std::fmt::Display) -> ZitiError {
    ZitiError::Identity(format!("{path}: {why}"))
}

/// Resolve an identity value: `pem:<PEM>`, `file:<path>` / `file://<path>`, or a bare path
/// (relative paths are resolved against the identity file's directory).
fn resolve(value: &str, base: Option<&Path>, what: &str) -> Result<Vec<u8>, ZitiError> {
    if let Some(p) = value.strip_prefix("pem:") {
        return Ok(p.as_bytes().to_vec());
    }
    let path = value
        .strip_prefix("file://")
        .or_else(|| value.strip_prefix("file:"))
        .unwrap_or(value);
    let mut pb = PathBuf::from(path);
    if pb.is_relative() {
        if let Some(b) = base {
            pb = b.join(pb);
        }
    }
    std::fs::read(&pb).map_err(|e| bad(what, format!("reading {}: {e}", pb.display())))
}

fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, ZitiError> {
    let mut rd = pem;
    let certs: Vec<_> = rustls_pemfile::certs(&mut rd)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(what, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad(what, "no certificate found"));
    }
    Ok(certs)
}

impl Identity {
    /// Load an identity JSON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ZitiError> {
        let path = path.as_ref();
        let data = std::fs::read(path)
            .map_err(|e| ZitiError::Identity(format!("reading {}: {e}", path.display())))?;
        Self::from_json(&data, path.parent())
    }

    /// Parse identity JSON; `base` resolves relative file references.
    pub fn from_json(data: &[u8], base: Option<&Path>) -> Result<Self, ZitiError> {
        let raw: RawConfig = serde_json::from_slice(data)
            .map_err(|e| ZitiError::Identity(format!("identity JSON: {e}")))?;
        let api = url::Url::parse(&raw.zt_api).map_err(|e| bad("ztAPI", e))?;
        let mut apis = Vec::new();
        for a in raw.zt_apis.unwrap_or_default() {
            let u = url::Url::parse(&a).map_err(|e| bad("ztAPIs", e))?;
            if u != api {
                apis.push(u);
            }
        }
        let cert_chain = certs_from_pem(&resolve(&raw.id.cert, base, "id.cert")?, "id.cert")?;
        let key_pem = resolve(&raw.id.key, base, "id.key")?;
        let key = rustls_pemfile::private_key(&mut &key_pem[..])
            .map_err(|e| bad("id.key", format!("bad PEM: {e}")))?
            .ok_or_else(|| {
                bad(
                    "id.key",
                    "no private key (PKCS#1 RSA, SEC1 EC or PKCS#8) found",
                )
            })?;
        let ca = match &raw.id.ca {
            Some(v) if !v.is_empty() => certs_from_pem(&resolve(v, base, "id.ca")?, "id.ca")?,
            _ => {
                return Err(bad(
                    "id.ca",
                    "missing: refusing to trust anything but the identity's CA",
                ))
            }
        };
        let common_name = super::der::subject_common_name(&cert_chain[0])
            .ok_or_else(|| bad("id.cert", "certificate has no parsable subject common name"))?;
        let id = Identity {
            api,
            apis,
            cert_chain,
            key: Arc::new(key),
            ca,
            common_name,
        };
        // Fail early if rustls cannot use the key with the certificate.
        id.tls_config(Vec::new())?;
        Ok(id)
    }

    /// rustls client config: our certificate for client auth, the identity CA bundle as the only roots.
    pub(crate) fn tls_config(
        &self,
        alpn: Vec<Vec<u8>>,
    ) -> Result<Arc<rustls::ClientConfig>, ZitiError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(self.ca.iter().cloned());
        if added == 0 {
            return Err(ZitiError::Identity(
                "id.ca: no usable CA certificate".into(),
            ));
        }
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ZitiError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(self.cert_chain.clone(), self.key.clone_key())
            .map_err(|e| ZitiError::Identity(format!("id.key does not fit id.cert: {e}")))?;
        cfg.alpn_protocols = alpn;
        Ok(Arc::new(cfg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_and_bad_pem_are_clear_errors() {
        let e = Identity::from_json(b"{}", None).unwrap_err().to_string();
        assert!(e.contains("ztAPI"), "{e}");
        let j = br#"{"ztAPI":"https://127.0.0.1:1280/edge/client/v1","id":{"cert":"pem:nope","key":"pem:nope","ca":"pem:nope"}}"#;
        let e = Identity::from_json(j, None).unwrap_err().to_string();
        assert!(e.contains("id.cert"), "{e}");
        let j = br#"{"ztAPI":"https://x/edge/client/v1","id":{"cert":"file:/nonexistent/c.pem","key":"k","ca":"c"}}"#;
        let e = Identity::from_json(j, None).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/c.pem"), "{e}");
    }
}
