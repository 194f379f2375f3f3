//! Certificates for the TLS tests, made with rcgen: a CA, a server certificate for the names
//! asked, and a client certificate (`client.internal`), written as PEM files into a folder.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};

/// The server certificate's names when a test has no reason to pick others.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// Writes `ca.pem`, `server.pem`/`server.key` (valid for `server_names`, DNS names or IP
/// addresses) and `client.pem`/`client.key` (`client.internal`) into `dir`.
pub fn write(dir: &Path, server_names: &[&str]) {
    let file = |name: &str, contents: &str| {
        std::fs::write(dir.join(name), contents).expect("write test file")
    };
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "rust-test-ca");
    let ca_key = KeyPair::generate().expect("CA key");
    file("ca.pem", &params.self_signed(&ca_key).expect("CA").pem());
    let issuer = Issuer::new(params, ca_key);
    let server_sans = server_names
        .iter()
        .map(|name| match name.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*name).try_into().expect("ia5 name")),
        })
        .collect();
    for (name, sans, usage) in [
        ("server", server_sans, ExtendedKeyUsagePurpose::ServerAuth),
        (
            "client",
            vec![SanType::DnsName("client.internal".try_into().expect("ia5"))],
            ExtendedKeyUsagePurpose::ClientAuth,
        ),
    ] {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("leaf key");
        file(
            &format!("{name}.pem"),
            &params.signed_by(&key, &issuer).expect("leaf").pem(),
        );
        file(&format!("{name}.key"), &key.serialize_pem());
    }
}
