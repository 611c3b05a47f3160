//! Certificates for the webhook (`dsguard certs`, and the self-signed pair `serve` makes
//! when no certificate is given): a CA and a serving certificate, ECDSA P-256 (fast
//! handshakes), the CA valid 10 years and the serving certificate 1 year, with the SANs
//! the API server dials a Service by: `SVC`, `SVC.NS`, `SVC.NS.svc`,
//! `SVC.NS.svc.cluster.local`, plus any extra DNS names and IPs.

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

/// The webhook entries of deploy/base, by configuration: what the caBundle patch covers.
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

/// Makes a CA and a serving certificate for `dns_names` and `ips`.
pub fn generate(
    common_name: &str,
    dns_names: &[String],
    ips: &[IpAddr],
) -> Result<WebhookCertificates, CertError> {
    for name in dns_names {
        validate_dns_name(name)?;
    }
    let now = OffsetDateTime::now_utc();
    // A little slack for clocks that lag this machine's.
    let not_before = now - Duration::hours(1);

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
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
    ca.not_before = not_before;
    ca.not_after = now + Duration::days(3650);
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = CertifiedIssuer::self_signed(ca, ca_key)?;

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
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
