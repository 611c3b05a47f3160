//! Certificates for the webhook (`dsguard certs`, and the self-signed pair `serve` makes
//! when no certificate is given): a CA and a serving certificate, ECDSA P-256 (fast
//! handshakes), the CA valid 10 years and the serving certificate 1 year, with the SANs
//! the API server dials a Service by: `SVC`, `SVC.NS`, `SVC.NS.svc`,
//! `SVC.NS.svc.cluster.local`, plus any extra DNS names and IPs.
//!
//! [`Managed`] is what `serve --manage-webhooks` keeps in its Secret: the same kind of
//! pair, renewed at two thirds of the serving certificate's life, and the CA renewed at
//! two thirds of its own, with the old CA still trusted (in the bundle) until it expires.
//! Lifetimes are stated beside the PEM, so no certificate needs parsing to know them.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use time::{Duration, OffsetDateTime};

/// A CA and a serving certificate, PEM-encoded.
#[derive(Clone, Debug)]
pub struct WebhookCertificates {
    pub ca_cert: String,
    pub ca_key: String,
    pub cert: String,
    pub key: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot make certificates: {0}")]
pub struct CertError(String);

impl From<rcgen::Error> for CertError {
    fn from(e: rcgen::Error) -> Self {
        CertError(e.to_string())
    }
}

/// Why `path` must not be replaced by [`write_file_safely`], if it must not: a symbolic
/// link, or anything that exists and is not a regular file.
pub fn unsafe_to_replace(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let metadata = std::fs::symlink_metadata(path).ok()?;
    let kind = metadata.file_type();
    if kind.is_symlink() {
        Some("is a symbolic link: refusing to write a certificate or key through it (remove the link, or choose another --out)".into())
    } else if kind.is_fifo() {
        Some("is a FIFO: refusing to replace it".into())
    } else if kind.is_dir() {
        Some("is a folder: refusing to replace it".into())
    } else if !kind.is_file() {
        Some("is not a regular file: refusing to replace it".into())
    } else {
        None
    }
}

/// Writes `content` to `path` so that nothing but `path` itself can change: refused when
/// `path` is a symbolic link (a key must never be written through one to wherever it
/// points) or anything but a regular file (writing into a FIFO blocks for ever), then
/// written to a new file beside it and renamed over it, so the file is whole or untouched
/// and its mode is `mode` (0600 for keys) whatever the old file's was.
pub fn write_file_safely(path: &std::path::Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(why) = unsafe_to_replace(path) {
        return Err(std::io::Error::other(why));
    }
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("has no file name"))?
        .to_string_lossy();
    let temporary = path.with_file_name(format!(".{name}.dsguard-{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        file.write_all(content)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// The webhook entries of deploy/components/webhooks, by configuration: what the caBundle
/// patch covers.
pub const WEBHOOKS: [(&str, &[&str]); 2] = [
    ("MutatingWebhookConfiguration", &["mutate.dsguard.io"]),
    (
        "ValidatingWebhookConfiguration",
        &["validate.dsguard.io", "validate-system.dsguard.io"],
    ),
];

/// A kustomize patch giving every dsguard webhook entry `ca_bundle` (PEM certificates,
/// concatenated when a rotation must trust the old CA and the new one for a while).
pub fn ca_bundle_patch(ca_bundle: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(ca_bundle);
    let mut patch = String::from(
        "# Written by `dsguard certs`: the caBundle of every dsguard webhook entry.\n",
    );
    for (i, (kind, names)) in WEBHOOKS.iter().enumerate() {
        if i > 0 {
            patch.push_str("---\n");
        }
        patch.push_str(&format!(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: dsguard\nwebhooks:\n"
        ));
        for name in *names {
            patch.push_str(&format!(
                "- name: {name}\n  clientConfig:\n    caBundle: {encoded}\n"
            ));
        }
    }
    patch
}

/// The DNS names the API server may use for `service` in `namespace`.
pub fn service_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// Checks a DNS SAN: a DNS-1123 subdomain (lowercase letters, digits, `-` and `.`,
/// labels of 1-63 characters starting and ending alphanumeric, 253 in all), optionally
/// behind one `*.` wildcard label. The API server verifies the serving certificate
/// against the Service's DNS name, so anything else can never match and is a typo.
pub fn validate_dns_name(name: &str) -> Result<(), CertError> {
    let bad = |why: &str| {
        Err(CertError(format!(
            "--dns {name:?} is not a DNS name: {why}"
        )))
    };
    let body = name.strip_prefix("*.").unwrap_or(name);
    if body.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 253 {
        return bad("longer than 253 characters");
    }
    for label in body.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("each dot-separated label must have 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return bad("only lowercase letters, digits, '-' and '.' are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label must start and end with a letter or digit");
        }
    }
    Ok(())
}

fn ca_params(common_name: &str) -> Result<CertificateParams, CertError> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, format!("{common_name} CA"));
    ca.distinguished_name
        .push(DnType::OrganizationName, "dsguard");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(ca)
}

fn serving_params(
    common_name: &str,
    dns_names: &[String],
    ips: &[IpAddr],
) -> Result<CertificateParams, CertError> {
    for name in dns_names {
        validate_dns_name(name)?;
    }
    let mut leaf = CertificateParams::new(dns_names.to_vec())?;
    leaf.subject_alt_names
        .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    leaf.distinguished_name
        .push(DnType::CommonName, common_name);
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(leaf)
}

/// A CA and a serving certificate as `serve --manage-webhooks` keeps them, with their
/// lifetimes (Unix seconds) and the CAs the webhook configurations must trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Managed {
    pub ca_cert: String,
    pub ca_key: String,
    pub cert: String,
    pub key: String,
    /// The current CA, then the previous one while it is still valid (a CA rollover).
    pub ca_bundle: String,
    /// When the CA was issued (it is valid from five minutes earlier, for clocks that lag).
    pub ca_not_before: i64,
    pub ca_not_after: i64,
    /// When the serving certificate was issued (valid from five minutes earlier).
    pub not_before: i64,
    pub not_after: i64,
    /// The previous CA's expiry, while it is in the bundle.
    pub previous_ca_not_after: Option<i64>,
}

/// What the managed certificates need now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Nothing yet: a CA and a serving certificate.
    Fresh,
    /// The CA is past two thirds of its life: a new CA (the old one stays trusted) and a
    /// serving certificate from it.
    NewCa,
    /// The serving certificate is past two thirds of its life (or its names changed).
    NewServing,
    /// The previous CA expired: drop it from the bundle.
    DropPreviousCa,
    Keep,
}

fn past_two_thirds(not_before: i64, not_after: i64, now: i64) -> bool {
    now >= not_before + (not_after - not_before) * 2 / 3
}

impl Managed {
    /// What these certificates need at `now` (Unix seconds).
    pub fn renewal(current: Option<&Managed>, now: i64) -> Renewal {
        let Some(current) = current else {
            return Renewal::Fresh;
        };
        if past_two_thirds(current.ca_not_before, current.ca_not_after, now) {
            Renewal::NewCa
        } else if past_two_thirds(current.not_before, current.not_after, now) {
            Renewal::NewServing
        } else if current.previous_ca_not_after.is_some_and(|t| t <= now) {
            Renewal::DropPreviousCa
        } else {
            Renewal::Keep
        }
    }

    /// The certificates after `renewal` at `now`: `serving_validity` for the serving
    /// certificate, ten times that for a CA.
    pub fn renewed(
        current: Option<&Managed>,
        renewal: Renewal,
        common_name: &str,
        dns_names: &[String],
        serving_validity: Duration,
        now: OffsetDateTime,
    ) -> Result<Managed, CertError> {
        let unix = |t: OffsetDateTime| t.unix_timestamp();
        // A little slack for clocks that lag this machine's.
        let not_before = now - Duration::minutes(5);
        let new_ca = || -> Result<(String, String, i64, i64), CertError> {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
            let mut params = ca_params(common_name)?;
            let not_after = now + serving_validity * 10;
            params.not_before = not_before;
            params.not_after = not_after;
            let key_pem = key.serialize_pem();
            let issuer = CertifiedIssuer::self_signed(params, key)?;
            Ok((issuer.pem(), key_pem, unix(now), unix(not_after)))
        };
        let mut next = match (current, renewal) {
            (Some(current), Renewal::Keep) => return Ok(current.clone()),
            (Some(current), Renewal::DropPreviousCa) => {
                let mut next = current.clone();
                next.ca_bundle = current.ca_cert.clone();
                next.previous_ca_not_after = None;
                return Ok(next);
            }
            (Some(current), Renewal::NewServing) => current.clone(),
            (Some(current), Renewal::NewCa) => {
                let (ca_cert, ca_key, ca_not_before, ca_not_after) = new_ca()?;
                Managed {
                    ca_bundle: format!("{ca_cert}{}", current.ca_cert),
                    previous_ca_not_after: Some(current.ca_not_after),
                    ca_cert,
                    ca_key,
                    ca_not_before,
                    ca_not_after,
                    ..current.clone()
                }
            }
            (_, _) => {
                let (ca_cert, ca_key, ca_not_before, ca_not_after) = new_ca()?;
                Managed {
                    ca_bundle: ca_cert.clone(),
                    ca_cert,
                    ca_key,
                    cert: String::new(),
                    key: String::new(),
                    ca_not_before,
                    ca_not_after,
                    not_before: 0,
                    not_after: 0,
                    previous_ca_not_after: None,
                }
            }
        };
        // The serving certificate, from the CA now in force. Its issuer is the CA's name
        // and key, which is all a signature needs.
        let ca_key = KeyPair::from_pem(&next.ca_key)?;
        let issuer = rcgen::Issuer::new(ca_params(common_name)?, ca_key);
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut leaf = serving_params(common_name, dns_names, &[])?;
        let not_after = (now + serving_validity)
            .min(OffsetDateTime::from_unix_timestamp(next.ca_not_after).unwrap_or(now));
        leaf.not_before = not_before;
        leaf.not_after = not_after;
        let cert = leaf.signed_by(&key, &issuer)?;
        next.cert = cert.pem();
        next.key = key.serialize_pem();
        next.not_before = unix(now);
        next.not_after = unix(not_after);
        Ok(next)
    }
}

/// Makes a CA and a serving certificate for `dns_names` and `ips`.
pub fn generate(
    common_name: &str,
    dns_names: &[String],
    ips: &[IpAddr],
) -> Result<WebhookCertificates, CertError> {
    let now = OffsetDateTime::now_utc();
    // A little slack for clocks that lag this machine's.
    let not_before = now - Duration::hours(1);

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut ca = ca_params(common_name)?;
    ca.not_before = not_before;
    ca.not_after = now + Duration::days(3650);
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = CertifiedIssuer::self_signed(ca, ca_key)?;

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut leaf = serving_params(common_name, dns_names, ips)?;
    leaf.not_before = not_before;
    leaf.not_after = now + Duration::days(365);
    let cert = leaf.signed_by(&key, &issuer)?;

    Ok(WebhookCertificates {
        ca_cert: issuer.pem(),
        ca_key: ca_key_pem,
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// True when `cert` chains to one of the CAs in `bundle` for `name` at `at`.
    fn verifies(bundle: &str, cert: &str, name: &str, at: i64) -> bool {
        use rustls::client::danger::ServerCertVerifier;
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(bundle.as_bytes()) {
            roots.add(ca.unwrap()).unwrap();
        }
        let verifier = rustls::client::WebPkiServerVerifier::builder(roots.into())
            .build()
            .unwrap();
        let leaf = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        verifier
            .verify_server_cert(
                &leaf,
                &[],
                &ServerName::try_from(name.to_owned()).unwrap(),
                &[],
                UnixTime::since_unix_epoch(std::time::Duration::from_secs(at as u64)),
            )
            .is_ok()
    }

    #[test]
    fn managed_certificates_renew_at_two_thirds_and_keep_trusting_the_old_ca_in_a_rollover() {
        let names = service_names("dsguard", "dsguard-system");
        let name = "dsguard.dsguard-system.svc";
        let validity = Duration::hours(3);
        let start = OffsetDateTime::from_unix_timestamp(2_000_000_000).unwrap();
        let at = |hours: i64| start + Duration::hours(hours);
        let renew = |current: Option<&Managed>, now: OffsetDateTime| {
            let renewal = Managed::renewal(current, now.unix_timestamp());
            (
                renewal,
                Managed::renewed(current, renewal, "dsguard", &names, validity, now).unwrap(),
            )
        };
        let (renewal, fresh) = renew(None, start);
        assert_eq!(renewal, Renewal::Fresh);
        assert!(verifies(
            &fresh.ca_bundle,
            &fresh.cert,
            name,
            start.unix_timestamp()
        ));
        assert_eq!(fresh.ca_not_after - fresh.ca_not_before, 30 * 3600);
        assert_eq!(
            Managed::renewal(Some(&fresh), at(1).unix_timestamp()),
            Renewal::Keep
        );

        // Two thirds of the serving certificate's 3 hours: a new one from the same CA.
        let (renewal, serving) = renew(Some(&fresh), at(2));
        assert_eq!(renewal, Renewal::NewServing);
        assert_eq!(serving.ca_cert, fresh.ca_cert);
        assert_eq!(serving.ca_bundle, fresh.ca_bundle);
        assert_ne!(serving.cert, fresh.cert);
        assert!(verifies(
            &fresh.ca_bundle,
            &serving.cert,
            name,
            at(2).unix_timestamp()
        ));

        // Two thirds of the CA's 30 hours: a new CA; the bundle trusts both, so replicas
        // still serving the old certificate keep working.
        let (renewal, rolled) = renew(Some(&serving), at(20));
        assert_eq!(renewal, Renewal::NewCa);
        assert_ne!(rolled.ca_cert, serving.ca_cert);
        assert!(verifies(
            &rolled.ca_bundle,
            &rolled.cert,
            name,
            at(20).unix_timestamp()
        ));
        assert!(verifies(
            &rolled.ca_bundle,
            &serving.cert,
            name,
            at(2).unix_timestamp() + 60
        ));
        assert!(!verifies(
            &serving.ca_bundle,
            &rolled.cert,
            name,
            at(20).unix_timestamp()
        ));

        // Once the old CA has expired, it leaves the bundle.
        let after_old_ca = start + Duration::hours(31);
        let (renewal, dropped) = renew(Some(&rolled), after_old_ca);
        assert_eq!(
            renewal,
            Renewal::NewServing,
            "the serving certificate came first"
        );
        let (renewal, dropped) = renew(Some(&dropped), after_old_ca);
        assert_eq!(renewal, Renewal::DropPreviousCa);
        assert_eq!(dropped.ca_bundle, dropped.ca_cert);
        assert_eq!(
            Managed::renewal(Some(&dropped), after_old_ca.unix_timestamp()),
            Renewal::Keep
        );
    }

    #[test]
    fn dns_names_are_checked() {
        for good in [
            "dsguard",
            "a.b.svc",
            "x-1.example.com",
            "*.example.com",
            "1.2.3",
        ] {
            assert!(validate_dns_name(good).is_ok(), "{good}");
        }
        for bad in [
            "a b",
            "",
            "*.",
            "A.example",
            "-a",
            "a-",
            "a..b",
            "a_b",
            "a/b",
            "é",
        ] {
            let error = validate_dns_name(bad).unwrap_err().to_string();
            assert!(error.contains("is not a DNS name"), "{bad}: {error}");
        }
        assert!(validate_dns_name(&"a".repeat(64)).is_err());
        assert!(validate_dns_name(&["a"; 130].join(".")).is_err());
        assert!(generate("x", &["a b".into()], &[]).is_err());
    }

    #[test]
    fn service_names_cover_every_form_the_api_server_dials() {
        assert_eq!(
            service_names("dsguard", "dsguard-system"),
            [
                "dsguard",
                "dsguard.dsguard-system",
                "dsguard.dsguard-system.svc",
                "dsguard.dsguard-system.svc.cluster.local"
            ]
        );
    }

    #[test]
    fn generated_certificates_are_pem_and_load_in_rustls() {
        let certs = generate(
            "dsguard",
            &service_names("dsguard", "ns"),
            &["127.0.0.1".parse().unwrap()],
        )
        .unwrap();
        assert!(certs.ca_cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(certs.key.contains("PRIVATE KEY"));
        let loaded = crate::server::tls::certified_key(certs.cert.as_bytes(), certs.key.as_bytes());
        assert!(loaded.is_ok(), "{:?}", loaded.err());
        let mismatched =
            crate::server::tls::certified_key(certs.cert.as_bytes(), certs.ca_key.as_bytes());
        assert!(
            mismatched.is_err(),
            "a key that does not match its certificate is refused"
        );
    }
}
