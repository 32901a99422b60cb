//! Who may call the payment service, and the certificates that say who is calling.
//!
//! The service and its callers speak mutual TLS: each side presents a certificate signed by a CA
//! the other trusts (`ca.pem`, which may hold several CAs during a rotation). A caller's
//! certificate names it with one URI SAN in SPIFFE form, `spiffe://delivery.internal/<name>`;
//! the service maps that name to a [`Caller`] and lets it call the methods [`GRANTS`] lists,
//! nothing else. Only the workers move deliveries' money (register, settle, void) and pay
//! riders or issue invoices; the API reads, and books operators' adjustments.
//!
//! A PKI directory holds `ca.pem` and, per party, `<name>.pem` (its certificate) and
//! `<name>.key` (its PKCS#8 private key): `payment-service`, `delivery-worker`, `delivery-api`.
//! [`ensure`] generates one when the directory has no `ca.pem`: the local default at first start
//! and `payment-service pki init` for deployments. The CA's private key is never written: a
//! generation's certificates are all issued at once, and a rotation is a new generation.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use chrono::{Datelike, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, string::Ia5String,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::SERVICE_NAME;

/// The SPIFFE trust domain of our workloads' identities.
pub const TRUST_DOMAIN: &str = "delivery.internal";

/// The payment service's own name in a PKI directory (`payment-service.pem`/`.key`).
pub const SERVER: &str = "payment-service";

/// The names the service's certificate is valid for: loopback for a local run, and the service
/// names callers reach it by in docker-compose (`payment`) and Kubernetes (`payment`, the
/// Service in 20-payment.yaml; `payment-service`, the binary's name, for other setups).
pub const SERVER_NAMES: [&str; 4] = ["localhost", "127.0.0.1", "payment", "payment-service"];

/// The file of the trusted CA certificates (PEM, one or more).
pub const CA_FILE: &str = "ca.pem";

/// How long a `payment-service pki init` generation is valid, in days.
pub const DEFAULT_VALIDITY_DAYS: u32 = 365;

/// How long the local default's generation is valid: a local run's `.data` outlives a year,
/// and its CA guards nothing but loopback.
pub const LOCAL_VALIDITY_DAYS: u32 = 3650;

/// A caller of the payment service, as its client certificate names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Caller {
    /// `delivery-worker`: runs the workflows' activities, which move money.
    Worker,
    /// `delivery-api`: shows payments to restaurants and riders.
    Api,
}

impl Caller {
    pub const ALL: [Caller; 2] = [Caller::Worker, Caller::Api];

    /// Its name: the binary's, its certificate's file stem and its SPIFFE id's path.
    pub const fn name(self) -> &'static str {
        match self {
            Caller::Worker => "delivery-worker",
            Caller::Api => "delivery-api",
        }
    }

    /// Its identity in its certificate's URI SAN: `spiffe://delivery.internal/<name>`.
    pub fn spiffe_id(self) -> String {
        spiffe_id(self.name())
    }

    /// The caller a SPIFFE id names, if any.
    pub fn from_spiffe_id(id: &str) -> Option<Caller> {
        Self::ALL
            .into_iter()
            .find(|caller| caller.spiffe_id() == id)
    }

    /// The methods it may call ([`GRANTS`]).
    pub fn methods(self) -> &'static [Method] {
        GRANTS
            .iter()
            .find(|(caller, _)| *caller == self)
            .map_or(&[], |(_, methods)| *methods)
    }

    /// Whether it may call `method`.
    pub fn may_call(self, method: Method) -> bool {
        self.methods().contains(&method)
    }
}

/// A method of `payment.v2.PaymentService`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    RegisterPayment,
    SettlePayment,
    VoidPayment,
    GetPayment,
    Adjust,
    ListRidersWithBalance,
    PayRider,
    ListPayouts,
    GetStatement,
    ListRestaurantsToInvoice,
    IssueInvoice,
    ListInvoices,
    GetInvoice,
}

impl Method {
    pub const ALL: [Method; 13] = [
        Method::RegisterPayment,
        Method::SettlePayment,
        Method::VoidPayment,
        Method::GetPayment,
        Method::Adjust,
        Method::ListRidersWithBalance,
        Method::PayRider,
        Method::ListPayouts,
        Method::GetStatement,
        Method::ListRestaurantsToInvoice,
        Method::IssueInvoice,
        Method::ListInvoices,
        Method::GetInvoice,
    ];

    /// Its name in the proto.
    pub const fn name(self) -> &'static str {
        match self {
            Method::RegisterPayment => "RegisterPayment",
            Method::SettlePayment => "SettlePayment",
            Method::VoidPayment => "VoidPayment",
            Method::GetPayment => "GetPayment",
            Method::Adjust => "Adjust",
            Method::ListRidersWithBalance => "ListRidersWithBalance",
            Method::PayRider => "PayRider",
            Method::ListPayouts => "ListPayouts",
            Method::GetStatement => "GetStatement",
            Method::ListRestaurantsToInvoice => "ListRestaurantsToInvoice",
            Method::IssueInvoice => "IssueInvoice",
            Method::ListInvoices => "ListInvoices",
            Method::GetInvoice => "GetInvoice",
        }
    }

    /// Its HTTP/2 path: `/payment.v2.PaymentService/<name>`.
    pub fn path(self) -> String {
        format!("/{SERVICE_NAME}/{}", self.name())
    }

    /// The method of a request path; `None` for another service's, or a method this build does
    /// not know.
    pub fn from_path(path: &str) -> Option<Method> {
        let name = path
            .strip_prefix('/')?
            .strip_prefix(SERVICE_NAME)?
            .strip_prefix('/')?;
        Self::ALL.into_iter().find(|method| method.name() == name)
    }
}

/// Who may call what: the payment service's whole authorization policy. A caller calls only the
/// methods listed beside it; a certificate naming no caller here calls nothing.
pub const GRANTS: [(Caller, &[Method]); 2] = [
    (Caller::Worker, &Method::ALL),
    // The API reads, and books operators' adjustments (an operator's decision, checked by the
    // API, with nothing to orchestrate); every other movement of money happens in the
    // workflows' activities, which the worker runs.
    (
        Caller::Api,
        &[
            Method::GetPayment,
            Method::Adjust,
            Method::ListPayouts,
            Method::GetStatement,
            Method::ListInvoices,
            Method::GetInvoice,
        ],
    ),
];

/// The SPIFFE id of the workload `name`.
pub fn spiffe_id(name: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}/{name}")
}

/// TLS material that cannot be read, generated or used.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot generate certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("tls configuration: {0}")]
    Tls(#[from] tonic::transport::Error),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Whether [`ensure`] generated the directory's material or found it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    Generated,
    Existing,
}

/// The local default: [`ensure`] with [`LOCAL_VALIDITY_DAYS`].
pub fn ensure_local(dir: &Path) -> Result<Ensured, PkiError> {
    ensure(dir, LOCAL_VALIDITY_DAYS)
}

/// Generates a CA and the certificates of the payment service and each [`Caller`] into `dir`,
/// valid for `days`, unless `dir` already holds a `ca.pem` (then nothing changes).
///
/// Safe when several processes start at once on the same fresh directory (a local run's API,
/// worker and payment service): they take an exclusive lock on `dir/.lock`, the first
/// generates, the others find its `ca.pem`, so all end up with one CA. Each file is written
/// whole under a temporary name and renamed into place, `ca.pem` last, so a reader that sees
/// `ca.pem` (without the lock) sees a complete generation. Keys are created 0600, `dir` 0700.
pub fn ensure(dir: &Path, days: u32) -> Result<Ensured, PkiError> {
    let ca = dir.join(CA_FILE);
    if ca.exists() {
        return Ok(Ensured::Existing);
    }
    config::private::create_dir(dir).map_err(io_error(dir))?;
    let lock_path = dir.join(".lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_error(&lock_path))?;
    // Released when `lock` is dropped, or by the kernel if this process dies holding it.
    lock.lock().map_err(io_error(&lock_path))?;
    if ca.exists() {
        return Ok(Ensured::Existing);
    }
    let generation = Generation::new(days)?;
    for (name, cert, key) in &generation.parties {
        write_file(dir, &format!("{name}.key"), key, true)?;
        write_file(dir, &format!("{name}.pem"), cert, false)?;
    }
    write_file(dir, CA_FILE, &generation.ca, false)?;
    Ok(Ensured::Generated)
}

/// One CA's certificate and the certificates and keys it issued, all PEM.
struct Generation {
    ca: String,
    /// (name, certificate, key) of the payment service and each caller.
    parties: Vec<(&'static str, String, String)>,
}

impl Generation {
    fn new(days: u32) -> Result<Self, rcgen::Error> {
        let now = Utc::now();
        // A day back: a caller whose clock is a little behind the generator's still accepts.
        let (year, month, day) = ymd(now - chrono::Duration::days(1));
        let not_before = rcgen::date_time_ymd(year, month, day);
        let (year, month, day) = ymd(now + chrono::Duration::days(i64::from(days)));
        let not_after = rcgen::date_time_ymd(year, month, day);

        let mut ca = CertificateParams::default();
        ca.distinguished_name = common_name("delivery-agency payment CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca.not_before = not_before;
        ca.not_after = not_after;
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;

        let leaf = |name: &str, dns_and_ips: &[&str], usage: ExtendedKeyUsagePurpose| {
            let mut params = CertificateParams::new(
                dns_and_ips
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect::<Vec<_>>(),
            )?;
            params.distinguished_name = common_name(name);
            params
                .subject_alt_names
                .push(SanType::URI(Ia5String::try_from(spiffe_id(name))?));
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![usage];
            params.not_before = not_before;
            params.not_after = not_after;
            let key = KeyPair::generate()?;
            let cert = params.signed_by(&key, &ca)?;
            Ok::<_, rcgen::Error>((cert.pem(), key.serialize_pem()))
        };
        let mut parties = Vec::new();
        let (cert, key) = leaf(SERVER, &SERVER_NAMES, ExtendedKeyUsagePurpose::ServerAuth)?;
        parties.push((SERVER, cert, key));
        for caller in Caller::ALL {
            let (cert, key) = leaf(caller.name(), &[], ExtendedKeyUsagePurpose::ClientAuth)?;
            parties.push((caller.name(), cert, key));
        }
        Ok(Self {
            ca: ca.pem(),
            parties,
        })
    }
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// `at`'s year, month and day, as rcgen takes them.
fn ymd(at: chrono::DateTime<Utc>) -> (i32, u8, u8) {
    // A month (1..=12) and a day (1..=31) always fit a u8.
    (at.year(), at.month() as u8, at.day() as u8)
}

/// Writes `dir/name` whole: into a temporary file first, then renamed over it.
fn write_file(dir: &Path, name: &str, contents: &str, private: bool) -> Result<(), PkiError> {
    let path = dir.join(name);
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&temporary).map_err(io_error(&temporary))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(&temporary))?;
    fs::rename(&temporary, &path).map_err(io_error(&path))
}

/// `dir/name`'s certificates (PEM), checked: at least one, each parseable.
fn read_certificates(dir: &Path, name: &str) -> Result<Certificate, PkiError> {
    let path = dir.join(name);
    let pem = fs::read(&path).map_err(io_error(&path))?;
    let invalid = |reason: String| PkiError::Invalid {
        path: path.clone(),
        reason,
    };
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not PEM certificates: {e}")))?;
    if certificates.is_empty() {
        return Err(invalid("holds no certificate".to_owned()));
    }
    Ok(Certificate::from_pem(pem))
}

/// `dir/<name>.pem` and `dir/<name>.key`, checked.
fn read_identity(dir: &Path, name: &str) -> Result<Identity, PkiError> {
    let cert = read_certificates(dir, &format!("{name}.pem"))?;
    let path = dir.join(format!("{name}.key"));
    let key = fs::read(&path).map_err(io_error(&path))?;
    PrivateKeyDer::from_pem_slice(&key).map_err(|e| PkiError::Invalid {
        path: path.clone(),
        reason: format!("not a PEM private key: {e}"),
    })?;
    Ok(Identity::from_pem(cert.into_inner(), key))
}

/// What `caller` presents to the service and trusts it by, from `dir`.
pub fn client_config(dir: &Path, caller: Caller) -> Result<ClientTlsConfig, PkiError> {
    Ok(ClientTlsConfig::new()
        .ca_certificate(read_certificates(dir, CA_FILE)?)
        .identity(read_identity(dir, caller.name())?))
}

/// What the service presents to its callers, and the CAs whose client certificates it accepts
/// (a client without one fails the handshake), from `dir`.
pub fn server_config(dir: &Path) -> Result<ServerTlsConfig, PkiError> {
    Ok(ServerTlsConfig::new()
        .identity(read_identity(dir, SERVER)?)
        .client_ca_root(read_certificates(dir, CA_FILE)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_may_call_every_method_and_the_api_reads_and_adjusts() {
        let api = [
            Method::GetPayment,
            Method::Adjust,
            Method::ListPayouts,
            Method::GetStatement,
            Method::ListInvoices,
            Method::GetInvoice,
        ];
        for method in Method::ALL {
            assert!(Caller::Worker.may_call(method), "worker {method:?}");
            assert_eq!(
                Caller::Api.may_call(method),
                api.contains(&method),
                "api {method:?}"
            );
        }
        // Every caller has its row in the table.
        for caller in Caller::ALL {
            assert!(!caller.methods().is_empty(), "{caller:?}");
        }
    }

    #[test]
    fn every_rpc_of_the_proto_is_a_method_and_paths_round_trip() {
        let proto = include_str!("../proto/payment/v2/payment.proto");
        let rpcs: Vec<&str> = proto
            .lines()
            .filter_map(|line| line.trim().strip_prefix("rpc "))
            .filter_map(|rest| rest.split('(').next())
            .map(str::trim)
            .collect();
        assert_eq!(rpcs.len(), Method::ALL.len(), "{rpcs:?}");
        for rpc in rpcs {
            let method = Method::from_path(&format!("/payment.v2.PaymentService/{rpc}"));
            assert_eq!(method.map(Method::name), Some(rpc));
        }
        for method in Method::ALL {
            assert_eq!(Method::from_path(&method.path()), Some(method));
        }
        assert_eq!(Method::from_path("/grpc.health.v1.Health/Check"), None);
        assert_eq!(
            Method::from_path("/payment.v2.PaymentService/RefundPayment"),
            None
        );
        assert_eq!(
            Method::from_path("/payment.v2.PaymentServiceX/GetPayment"),
            None
        );
    }

    #[test]
    fn spiffe_ids_name_the_callers_and_nothing_else() {
        assert_eq!(
            Caller::Worker.spiffe_id(),
            "spiffe://delivery.internal/delivery-worker"
        );
        assert_eq!(
            Caller::from_spiffe_id("spiffe://delivery.internal/delivery-api"),
            Some(Caller::Api)
        );
        for other in [
            "spiffe://delivery.internal/payment-service",
            "spiffe://elsewhere.internal/delivery-worker",
            "spiffe://delivery.internal/delivery-worker/x",
            "delivery-worker",
        ] {
            assert_eq!(Caller::from_spiffe_id(other), None, "{other}");
        }
    }

    #[test]
    fn ensure_generates_once_and_a_second_call_keeps_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        assert_eq!(ensure_local(&pki).unwrap(), Ensured::Generated);
        let ca = fs::read_to_string(pki.join(CA_FILE)).unwrap();
        let worker = fs::read_to_string(pki.join("delivery-worker.pem")).unwrap();
        assert_eq!(ensure_local(&pki).unwrap(), Ensured::Existing);
        assert_eq!(fs::read_to_string(pki.join(CA_FILE)).unwrap(), ca);
        assert_eq!(
            fs::read_to_string(pki.join("delivery-worker.pem")).unwrap(),
            worker
        );
        for name in [SERVER, "delivery-worker", "delivery-api"] {
            assert!(pki.join(format!("{name}.pem")).is_file(), "{name}");
            assert!(pki.join(format!("{name}.key")).is_file(), "{name}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            for name in [SERVER, "delivery-worker", "delivery-api"] {
                assert_eq!(mode(&pki.join(format!("{name}.key"))), 0o600, "{name}");
            }
            assert_eq!(mode(&pki), 0o700);
        }
        // What the generation wrote loads as both sides' configuration.
        server_config(&pki).unwrap();
        for caller in Caller::ALL {
            client_config(&pki, caller).unwrap();
        }
    }

    #[test]
    fn processes_starting_at_once_end_up_with_one_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let pki = pki.clone();
                std::thread::spawn(move || ensure_local(&pki).unwrap())
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(
            results.iter().filter(|r| **r == Ensured::Generated).count(),
            1,
            "{results:?}"
        );
    }

    #[test]
    fn a_ca_file_may_hold_several_cas_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (dir.path().join("old"), dir.path().join("new"));
        ensure_local(&old).unwrap();
        ensure_local(&new).unwrap();
        let bundle = fs::read_to_string(old.join(CA_FILE)).unwrap()
            + &fs::read_to_string(new.join(CA_FILE)).unwrap();
        fs::write(new.join(CA_FILE), bundle).unwrap();
        server_config(&new).unwrap();

        fs::write(new.join(CA_FILE), "not a certificate").unwrap();
        let error = server_config(&new).unwrap_err().to_string();
        assert!(
            error.contains("ca.pem") && error.contains("no certificate"),
            "{error}"
        );
        fs::remove_file(new.join("delivery-api.key")).unwrap();
        let error = client_config(&new, Caller::Api).unwrap_err().to_string();
        assert!(error.contains("ca.pem"), "{error}");
        fs::write(new.join(CA_FILE), fs::read(old.join(CA_FILE)).unwrap()).unwrap();
        let error = client_config(&new, Caller::Api).unwrap_err().to_string();
        assert!(error.contains("delivery-api.key"), "{error}");
    }
}
