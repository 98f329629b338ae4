//! `keytap keyservice`: sops's key service, answered with keytap's identities.
//!
//! Decrypt requests for age keys are unwrapped with every identity source keytap has, in
//! the CLI's order and with its fallback (plugins included), loaded afresh for each request
//! from the service's environment as sops's service does; PINs and passphrases go through
//! the [`SecretCache`]. Encrypt requests wrap to the age recipient given. Other key types
//! (PGP, cloud KMS) are not served. Requests are handled one at a time: a token serves one
//! session at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keytap_core::datakey::DATA_KEY_BYTES;
use keytap_core::keys::age::AgeRecipient;
use keytap_core::keys::identities::AgeIdentities;
use keytap_core::keys::pgp;
use keytap_core::keys::prompt::Prompter;
use keytap_core::plugin::defuse;
use keytap_core::shamir::SHARE_OVERHEAD;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use crate::cache::SecretCache;
use crate::listen::Listener;
use crate::proto::control::control_server::{Control, ControlServer};
use crate::proto::control::{LockRequest, LockResponse};
use crate::proto::sops::key::KeyType;
use crate::proto::sops::key_service_server::{KeyService, KeyServiceServer};
use crate::proto::sops::{DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse};

/// Whether an unwrapped message can be what sops wraps: a data key, or (key groups) a
/// Shamir share of one. The service answers nothing else.
fn is_data_key(plaintext: &[u8]) -> bool {
    plaintext.len() == DATA_KEY_BYTES || plaintext.len() == DATA_KEY_BYTES + SHARE_OVERHEAD
}

/// How the service behaves.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Ask the user to confirm every request (sops's `--prompt`).
    pub prompt: bool,
    /// Log every request (key, operation, result; never key material) on stderr.
    pub verbose: bool,
    /// Serve whoever connects: TCP beyond loopback, other users (`--allow-remote`).
    pub allow_remote: bool,
}

/// The service.
#[derive(Clone)]
pub struct KeyServer {
    cache: Arc<SecretCache>,
    options: Options,
    /// One request at a time: plugin sessions must not interleave on a token.
    busy: Arc<Mutex<()>>,
}

/// The key a request is for.
enum Requested {
    /// An age recipient.
    Age(String),
    /// A PGP fingerprint (through GnuPG).
    Pgp(String),
}

impl std::fmt::Display for Requested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Requested::Age(recipient) => write!(f, "age key {}", defuse(recipient)),
            // The client's text, shown in prompts and logs: no escape sequences.
            Requested::Pgp(fingerprint) => write!(f, "PGP key {}", defuse(fingerprint)),
        }
    }
}

impl KeyServer {
    /// A service answering with `cache` for its PINs and passphrases.
    pub fn new(cache: Arc<SecretCache>, options: Options) -> KeyServer {
        KeyServer {
            cache,
            options,
            busy: Arc::new(Mutex::new(())),
        }
    }

    fn log(&self, line: &str) {
        if self.options.verbose {
            eprintln!("keytap keyservice: {line}");
        }
    }

    /// sops's `--prompt`: after the work succeeded, the user allows or refuses the answer.
    fn confirm(&self, operation: &str, key: &Requested, prompter: &Prompter) -> Result<(), Status> {
        if !self.options.prompt {
            return Ok(());
        }
        let question =
            format!("keytap keyservice: {operation} request for {key}. Respond to request?");
        match age::Callbacks::confirm(prompter, &question, "yes", Some("no")) {
            Some(true) => Ok(()),
            Some(false) => Err(Status::permission_denied("Request rejected by user")),
            None => Err(Status::permission_denied(
                "Request rejected: --prompt is set and there is no way to ask (no terminal, KEYTAP_ASKPASS unset)",
            )),
        }
    }

    /// [`KeyServer::confirm`] for a request that does not hold the lock (PGP: GnuPG runs
    /// unlocked): one question at a time on the terminal, or an answer typed for one could
    /// approve another.
    fn confirm_alone(&self, operation: &str, key: &Requested) -> Result<(), Status> {
        if !self.options.prompt {
            return Ok(());
        }
        let _one_question = self.busy.lock().map_err(|_| Status::internal("poisoned"))?;
        self.confirm(operation, key, &Prompter::with_hook(self.cache.clone()))
    }

    fn requested(key: Option<crate::proto::sops::Key>) -> Result<Requested, Status> {
        let Some(key) = key else {
            return Err(Status::not_found("Must provide a key"));
        };
        match key.key_type {
            None => Err(Status::not_found("Must provide a key")),
            // The recipient reaches SOPS_AGE_KEY_CMD's environment and the log: only a
            // recipient is taken.
            Some(KeyType::AgeKey(k)) => match AgeRecipient::parse(&k.recipient) {
                Ok(_) => Ok(Requested::Age(k.recipient)),
                Err(_) => Err(Status::invalid_argument(format!(
                    "not an age recipient: {}",
                    defuse(&k.recipient)
                ))),
            },
            Some(KeyType::PgpKey(k)) => Ok(Requested::Pgp(k.fingerprint)),
            Some(other) => Err(Status::unimplemented(format!(
                "keytap's key service holds age and PGP keys only; this request is for a {} key",
                match other {
                    KeyType::KmsKey(_) => "AWS KMS",
                    KeyType::PgpKey(_) => "PGP",
                    KeyType::GcpKmsKey(_) => "GCP KMS",
                    KeyType::AzureKeyvaultKey(_) => "Azure Key Vault",
                    KeyType::VaultKey(_) => "HashiCorp Vault",
                    KeyType::HckmsKey(_) => "HuaweiCloud KMS",
                    KeyType::AgeKey(_) => "age",
                }
            ))),
        }
    }

    fn decrypt_blocking(&self, key: &Requested, ciphertext: &[u8]) -> Result<Vec<u8>, Status> {
        let enc = std::str::from_utf8(ciphertext)
            .map_err(|_| Status::invalid_argument("the wrapped key is not an armored message"))?;
        let recipient = match key {
            Requested::Age(recipient) => recipient,
            // GnuPG's agent keeps its own passphrases, asks through its own pinentry and
            // takes one request at a time itself.
            Requested::Pgp(_) => return self.decrypt_pgp(key, enc),
        };
        let _one_at_a_time = self.busy.lock().map_err(|_| Status::internal("poisoned"))?;
        self.cache.begin_request();
        let prompter = Prompter::with_hook(self.cache.clone());
        let identities = AgeIdentities::load_with(Some(recipient), prompter.clone());
        match identities.unwrap(enc) {
            // The service opens sops files, not every age message a client holds.
            Ok(data_key) if is_data_key(&data_key) => {
                self.confirm("decrypt", key, &prompter)?;
                self.log(&format!("decrypt for {key}: ok"));
                Ok(data_key.to_vec())
            }
            Ok(_) => {
                self.log(&format!("decrypt for {key}: refused: not a data key"));
                Err(Status::unknown(format!(
                    "could not decrypt the data key with {key}: the message is not a data key"
                )))
            }
            Err(e) => {
                self.cache.request_failed();
                let message = e.to_string();
                self.log(&format!(
                    "decrypt for {key}: failed: {}",
                    defuse(message.lines().next().unwrap_or(""))
                ));
                Err(Status::unknown(message))
            }
        }
    }

    /// A PGP data key, through GnuPG. The message is the client's: whatever GnuPG could
    /// open with the service owner's keys. Only what a data key can be is answered (see
    /// [`is_data_key`]), so the service decrypts sops files and nothing else, and GnuPG's own
    /// messages (naming the keys it has) stay here.
    fn decrypt_pgp(&self, key: &Requested, enc: &str) -> Result<Vec<u8>, Status> {
        let refused = || Status::unknown(format!("could not decrypt the data key with {key}"));
        match pgp::unwrap(enc) {
            Ok(data_key) if is_data_key(&data_key) => {
                self.confirm_alone("decrypt", key)?;
                self.log(&format!("decrypt for {key}: ok"));
                Ok(data_key.to_vec())
            }
            Ok(_) => {
                self.log(&format!("decrypt for {key}: refused: not a data key"));
                Err(refused())
            }
            Err(e) => {
                self.log(&format!(
                    "decrypt for {key}: failed: {}",
                    defuse(e.lines().last().unwrap_or(""))
                ));
                Err(refused())
            }
        }
    }

    fn encrypt_blocking(&self, key: &Requested, plaintext: &[u8]) -> Result<Vec<u8>, Status> {
        let _one_at_a_time = match key {
            Requested::Age(_) => Some(self.busy.lock().map_err(|_| Status::internal("poisoned"))?),
            Requested::Pgp(_) => None,
        };
        let wrapped = match key {
            Requested::Age(recipient) => AgeRecipient::parse(recipient)
                .and_then(|r| r.wrap(recipient, plaintext))
                .map_err(|e| e.to_string()),
            Requested::Pgp(fingerprint) => pgp::wrap(fingerprint, plaintext),
        }
        .map_err(|e| {
            self.log(&format!("encrypt for {key}: failed: {e}"));
            Status::unknown(e)
        })?;
        match key {
            // The age request holds the lock already.
            Requested::Age(_) => {
                self.confirm("encrypt", key, &Prompter::with_hook(self.cache.clone()))?
            }
            Requested::Pgp(_) => self.confirm_alone("encrypt", key)?,
        }
        self.log(&format!("encrypt for {key}: ok"));
        Ok(wrapped.into_bytes())
    }

    /// Between requests: forget expired secrets and those of removed tokens.
    fn housekeeping(&self) {
        self.cache.sweep();
        if let Ok(_idle) = self.busy.try_lock() {
            self.cache.forget_removed_tokens();
        }
    }
}

#[tonic::async_trait]
impl KeyService for KeyServer {
    async fn encrypt(
        &self,
        request: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        let request = request.into_inner();
        let key = Self::requested(request.key)?;
        let plaintext = zeroize::Zeroizing::new(request.plaintext);
        let server = self.clone();
        let ciphertext =
            tokio::task::spawn_blocking(move || server.encrypt_blocking(&key, &plaintext))
                .await
                .map_err(|e| Status::internal(e.to_string()))??;
        Ok(Response::new(EncryptResponse { ciphertext }))
    }

    async fn decrypt(
        &self,
        request: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        let request = request.into_inner();
        let key = Self::requested(request.key)?;
        let server = self.clone();
        let plaintext =
            tokio::task::spawn_blocking(move || server.decrypt_blocking(&key, &request.ciphertext))
                .await
                .map_err(|e| Status::internal(e.to_string()))??;
        Ok(Response::new(DecryptResponse { plaintext }))
    }
}

#[tonic::async_trait]
impl Control for KeyServer {
    async fn lock(&self, _: Request<LockRequest>) -> Result<Response<LockResponse>, Status> {
        let forgotten = self.cache.forget_all() as u32;
        self.log("locked: every cached secret is forgotten");
        Ok(Response::new(LockResponse { forgotten }))
    }
}

/// Keeps other processes of the same user (ptrace) and core dumps out of the service's
/// memory, as agents do. (Swap is kept away from the cached secrets themselves, which are
/// locked one by one: locking the whole process would pin its large stack and heap
/// reservations.)
pub fn harden_process() {
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
}

/// Serves `server` on `listener` until SIGINT or SIGTERM; SIGHUP and SIGUSR1 forget every
/// cached secret. A unix socket we made is removed on the way out.
pub async fn serve(server: KeyServer, listener: Listener) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let housekeeper = server.clone();
    let lock_on_signal = server.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = hup.recv() => { lock_on_signal.cache.forget_all(); }
                _ = usr1.recv() => { lock_on_signal.cache.forget_all(); }
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            let h = housekeeper.clone();
            let _ = tokio::task::spawn_blocking(move || h.housekeeping()).await;
        }
    });
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    let router = tonic::transport::Server::builder()
        .add_service(KeyServiceServer::new(server.clone()))
        .add_service(ControlServer::new(server.clone()));
    let check_peers = !server.options.allow_remote;
    let result = match listener {
        Listener::Unix { listener, remove } => {
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener)
                .filter(|accepted| !check_peers || admitted(accepted, crate::peer::check_unix));
            let r = router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await;
            if let Some(socket) = remove {
                socket.remove();
            }
            r
        }
        Listener::Tcp(listener) => {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener)
                .filter(|accepted| !check_peers || admitted(accepted, crate::peer::check_tcp));
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
    };
    server.cache.forget_all();
    result.map_err(std::io::Error::other)
}

/// Whether an accepted connection is served: another user's is closed at once, and said
/// so on stderr whatever `--verbose` (someone tried to use your keys). Accept errors go on
/// to tonic, which logs them and keeps listening.
fn admitted<S, E>(
    accepted: &Result<S, E>,
    check: impl Fn(&S) -> Result<(), crate::peer::Refusal>,
) -> bool {
    match accepted {
        Ok(stream) => match check(stream) {
            Ok(()) => true,
            Err(refusal) => {
                eprintln!("keytap keyservice: refused {refusal}");
                false
            }
        },
        Err(_) => true,
    }
}

/// Asks the service at `uri` to forget every cached secret (`keytap keyservice --lock`);
/// returns how many it forgot.
pub fn lock(uri: &str) -> Result<u32, String> {
    let service = crate::client::RemoteKeyService::new(uri)?;
    service.lock()
}

/// Where and how `keytap keyservice` runs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// `unix` or `tcp` (sops's `--network`).
    pub network: String,
    /// A socket path, or `host:port` (sops's `--address`).
    pub address: String,
    /// How long secrets are kept.
    pub policy: crate::cache::CachePolicy,
    /// Shows plugin messages as desktop notifications.
    pub notifier: Option<std::path::PathBuf>,
    /// Request handling.
    pub options: Options,
}

/// Runs the service until it is told to stop: on the socket systemd passed, else on
/// `network`/`address`.
pub fn run(config: ServeConfig) -> Result<(), String> {
    // One thread serves the sockets; unwrapping runs on tokio's blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the key service: {e}"))?;
    runtime.block_on(async move {
        let listener = match crate::listen::from_systemd()
            .map_err(|e| format!("cannot use the socket systemd passed: {e}"))?
        {
            Some(l) => l,
            None => match config.network.as_str() {
                "unix" => crate::listen::bind_unix(std::path::Path::new(&config.address)),
                "tcp" | "tcp4" | "tcp6" => {
                    crate::listen::bind_tcp(&config.address, config.options.allow_remote)
                }
                other => {
                    return Err(format!(
                        "listen {other} {}: unknown network {other} (use unix or tcp)",
                        config.address
                    ))
                }
            }
            .map_err(|e| format!("listen {} {}: {e}", config.network, config.address))?,
        };
        harden_process();
        let cache = SecretCache::new(
            config.policy,
            config.notifier.clone(),
            config.options.verbose,
        );
        if config.options.verbose {
            eprintln!("keytap keyservice: listening on {}", listener.uri());
        }
        serve(KeyServer::new(cache, config.options), listener)
            .await
            .map_err(|e| format!("key service stopped: {e}"))
    })
}
