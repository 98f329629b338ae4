//! A remote key service as a key source: `--keyservice unix:///path` or `tcp://host:port`,
//! parsed, dialled and reported the way sops's client does (plaintext HTTP/2, no call
//! deadline, a connection that is only made on first use), except that a service another
//! local user runs is refused before anything is sent (see `peer`).

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use keytap_core::keysource::KeyService;
use keytap_core::metadata::MasterKey;
use keytap_core::tree::{Item, Value};
use tonic::transport::{Channel, Endpoint};
use zeroize::Zeroizing;

use crate::proto::sops::key::KeyType;
use crate::proto::sops::key_service_client::KeyServiceClient;
use crate::proto::sops::{self as pb, DecryptRequest, EncryptRequest};

/// The runtime every client call runs on (the CLI is synchronous).
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Where a key service is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// `unix:///path` or `unix:path`.
    Unix(PathBuf),
    /// `tcp://host:port` (also `tcp4`, `tcp6`), as `host:port`.
    Tcp(String),
    /// A URI that parses but cannot be dialled; the message is the error every call gets
    /// (sops fails at call time too).
    Unusable(String),
}

/// Parses a key-service URI as sops does (Go's `url.Parse`, then the scheme picks the
/// network). `Err` is a URI that does not parse at all: sops warns and skips it.
pub fn parse_address(uri: &str) -> Result<Address, String> {
    if uri.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!("invalid character in URI {uri:?}"));
    }
    if let Some(i) = uri.find('%') {
        let ok = uri[i..]
            .split('%')
            .skip(1)
            .all(|part| part.len() >= 2 && part[..2].bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok {
            return Err(format!("invalid URL escape in {uri:?}"));
        }
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Ok(Address::Unusable(
            "rpc error: code = Unavailable desc = dns resolver: missing address".into(),
        ));
    };
    let (authority, path) = match rest.strip_prefix("//") {
        Some(r) => match r.find('/') {
            Some(i) => (Some(&r[..i]), &r[i..]),
            None => (Some(r), ""),
        },
        None => (None, rest),
    };
    if let Some(a) = authority {
        if a.starts_with('[') && !a.contains(']') {
            return Err(format!("missing ']' in host of {uri:?}"));
        }
    }
    Ok(match scheme {
        "unix" => match authority {
            Some(a) if !a.is_empty() => Address::Unusable(format!(
                "rpc error: code = Unavailable desc = invalid (non-empty) authority: {a}"
            )),
            _ if path.is_empty() => Address::Unusable(
                "rpc error: code = Unavailable desc = unix: empty socket path".into(),
            ),
            _ => Address::Unix(PathBuf::from(path)),
        },
        "tcp" | "tcp4" | "tcp6" => {
            let host = authority.unwrap_or("");
            if host.is_empty() {
                Address::Unusable(
                    "rpc error: code = Unavailable desc = dns resolver: missing address".into(),
                )
            } else if host.rsplit_once(':').is_some_and(|(_, p)| !p.contains(']')) {
                Address::Tcp(host.to_string())
            } else {
                // grpc-go's default port.
                Address::Tcp(format!("{host}:443"))
            }
        }
        other => Address::Unusable(format!(
            "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial {other}: unknown network {other}\""
        )),
    })
}

/// One remote key service.
pub struct RemoteKeyService {
    uri: String,
    address: Address,
    channel: Mutex<Option<Channel>>,
}

impl RemoteKeyService {
    /// The service at `uri` (see [`parse_address`]); nothing is dialled yet.
    pub fn new(uri: &str) -> Result<RemoteKeyService, String> {
        Ok(RemoteKeyService {
            uri: uri.to_string(),
            address: parse_address(uri)?,
            channel: Mutex::new(None),
        })
    }

    fn dial_error(&self, e: &std::io::Error) -> String {
        let (net, addr) = match &self.address {
            Address::Unix(p) => ("unix", p.display().to_string()),
            Address::Tcp(a) => ("tcp", a.clone()),
            Address::Unusable(m) => return m.clone(),
        };
        format!(
            "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial {net} {addr}: connect: {}\"",
            keytap_core::goerr::io_reason(e)
        )
    }

    /// The channel, made on first use.
    fn channel(&self) -> Result<Channel, String> {
        let mut slot = self
            .channel
            .lock()
            .map_err(|_| "key service client poisoned")?;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_static("http://keyservice.invalid")
            .connect_timeout(Duration::from_secs(20));
        let result = match &self.address {
            Address::Unusable(m) => return Err(m.clone()),
            Address::Unix(path) => {
                let path = path.clone();
                runtime().block_on(endpoint.connect_with_connector(tower::service_fn(
                    move |_: tonic::transport::Uri| {
                        let path = path.clone();
                        async move {
                            let stream = tokio::net::UnixStream::connect(path).await?;
                            crate::peer::check_unix_server(&stream).map_err(refused)?;
                            Ok::<_, std::io::Error>(TokioIo::new(stream))
                        }
                    },
                )))
            }
            Address::Tcp(addr) => {
                let endpoint = Endpoint::from_shared(format!("http://{addr}"))
                    .map_err(|e| format!("rpc error: code = Unavailable desc = {e}"))?
                    .connect_timeout(Duration::from_secs(20));
                let addr = addr.clone();
                runtime().block_on(endpoint.connect_with_connector(tower::service_fn(
                    move |_: tonic::transport::Uri| {
                        let addr = addr.clone();
                        async move {
                            let stream = tokio::net::TcpStream::connect(addr).await?;
                            stream.set_nodelay(true)?;
                            crate::peer::check_tcp_server(&stream, Duration::from_secs(5))
                                .await
                                .map_err(refused)?;
                            Ok::<_, std::io::Error>(TokioIo::new(stream))
                        }
                    },
                )))
            }
        };
        let channel = result.map_err(|e| {
            let io = std::error::Error::source(&e).and_then(|s| find_io_error(s));
            let refusal = io
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<crate::peer::Refusal>());
            if let Some(refusal) = refusal {
                return format!(
                    "refusing the key service at {}: {refusal}; no key was sent to it",
                    self.uri
                );
            }
            let io = io
                .map(|io| std::io::Error::new(io.kind(), io.to_string()))
                .unwrap_or_else(|| std::io::Error::other(e.to_string()));
            self.dial_error(&io)
        })?;
        *slot = Some(channel.clone());
        Ok(channel)
    }
}

/// A service refused by `peer`'s checks, carried through tonic's connector as an I/O error.
fn refused(refusal: crate::peer::Refusal) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, refusal)
}

fn find_io_error<'a>(mut e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    loop {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        e = e.source()?;
    }
}

/// How a gRPC status reads in Go: `rpc error: code = Unknown desc = ...`.
fn status_text(s: &tonic::Status) -> String {
    format!("rpc error: code = {:?} desc = {}", s.code(), s.message())
}

fn field<'a>(fields: &'a Vec<Item>, name: &str) -> &'a str {
    match keytap_core::tree::get(fields, name) {
        Some(Value::Str(s)) => s,
        _ => "",
    }
}

/// The protocol's description of a master key (sops's `KeyFromMasterKey`).
pub fn proto_key(key: &MasterKey) -> Result<pb::Key, String> {
    let key_type = match key {
        MasterKey::Age { recipient, .. } => KeyType::AgeKey(pb::AgeKey {
            recipient: recipient.clone(),
        }),
        MasterKey::Other { kind, fields } => match kind.as_str() {
            "pgp" => KeyType::PgpKey(pb::PgpKey {
                fingerprint: field(fields, "fp").into(),
            }),
            "kms" => KeyType::KmsKey(pb::KmsKey {
                arn: field(fields, "arn").into(),
                role: field(fields, "role").into(),
                context: match keytap_core::tree::get(fields, "context") {
                    Some(Value::Map(m)) => m
                        .iter()
                        .filter_map(|i| match i {
                            Item::Entry(k, Value::Str(v)) => Some((k.clone(), v.clone())),
                            _ => None,
                        })
                        .collect(),
                    _ => Default::default(),
                },
                aws_profile: field(fields, "aws_profile").into(),
            }),
            "gcp_kms" => KeyType::GcpKmsKey(pb::GcpKmsKey {
                resource_id: field(fields, "resource_id").into(),
            }),
            "azure_kv" => KeyType::AzureKeyvaultKey(pb::AzureKeyVaultKey {
                vault_url: field(fields, "vault_url").into(),
                name: field(fields, "name").into(),
                version: field(fields, "version").into(),
            }),
            "hc_vault" => KeyType::VaultKey(pb::VaultKey {
                vault_address: field(fields, "vault_address").into(),
                engine_path: field(fields, "engine_path").into(),
                key_name: field(fields, "key_name").into(),
            }),
            "hckms" => KeyType::HckmsKey(pb::HckmsKey {
                key_id: field(fields, "key_id").into(),
            }),
            other => return Err(format!("keytap cannot send {other} keys to a key service")),
        },
    };
    Ok(pb::Key {
        key_type: Some(key_type),
    })
}

impl RemoteKeyService {
    /// Asks a keytap key service to forget its cached secrets (keytap's `Control` service;
    /// `sops keyservice` does not have it).
    pub fn lock(&self) -> Result<u32, String> {
        let mut client = crate::proto::control::control_client::ControlClient::new(self.channel()?);
        runtime()
            .block_on(client.lock(crate::proto::control::LockRequest {}))
            .map(|r| r.into_inner().forgotten)
            .map_err(|s| status_text(&s))
    }
}

impl KeyService for RemoteKeyService {
    fn name(&self) -> &str {
        &self.uri
    }

    fn decrypt(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, String> {
        let request = DecryptRequest {
            key: Some(proto_key(key)?),
            ciphertext: key.enc().as_bytes().to_vec(),
        };
        let mut client = KeyServiceClient::new(self.channel()?);
        let response = runtime()
            .block_on(client.decrypt(request))
            .map_err(|s| status_text(&s))?;
        Ok(Zeroizing::new(response.into_inner().plaintext))
    }

    fn encrypt(&self, key: &MasterKey, plaintext: &[u8]) -> Result<String, String> {
        let request = EncryptRequest {
            key: Some(proto_key(key)?),
            plaintext: plaintext.to_vec(),
        };
        let mut client = KeyServiceClient::new(self.channel()?);
        let response = runtime()
            .block_on(client.encrypt(request))
            .map_err(|s| status_text(&s))?;
        String::from_utf8(response.into_inner().ciphertext)
            .map_err(|_| "the key service returned a wrapped key that is not text".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_as_sops_parses_them() {
        for (uri, address) in [
            ("unix:///run/ks.sock", Address::Unix("/run/ks.sock".into())),
            ("unix:/run/ks.sock", Address::Unix("/run/ks.sock".into())),
            (
                "tcp://127.0.0.1:5000",
                Address::Tcp("127.0.0.1:5000".into()),
            ),
            ("tcp://localhost", Address::Tcp("localhost:443".into())),
        ] {
            assert_eq!(parse_address(uri), Ok(address), "{uri}");
        }
        assert!(
            matches!(parse_address("unix://host/x"), Ok(Address::Unusable(m)) if m.contains("authority"))
        );
        assert!(
            matches!(parse_address("grpc://h:1"), Ok(Address::Unusable(m)) if m.contains("unknown network grpc"))
        );
        assert!(parse_address("tcp://[bad").is_err());
        assert!(parse_address("%zz").is_err());
    }
}
