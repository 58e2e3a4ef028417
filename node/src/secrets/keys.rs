//! The secrets key file: which keys seal and open secret values.
//!
//! ```text
//! # Moor secrets keys. The first key seals new values; the others only open older ones.
//! k-3f9a61c2  <base64 of 32 random bytes>
//! k-0c11e4d7  <base64 of 32 random bytes>
//! ```
//!
//! Every member reads the same file (distribute it like the CA). Rotation: put a new key
//! first on every member (`moord secrets-key new --file F` does it), then `moorctl secrets
//! reseal`, then, once `moorctl secrets status` shows nothing sealed with the old key,
//! remove it. The file is re-read when it changes (checked at most once a second), so none
//! of this needs a restart; a broken file keeps the keys read before and is logged.

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use ring::hmac;
use ring::rand::{SecureRandom as _, SystemRandom};

use moor_domain::sealed;

/// Bytes of one key.
pub const KEY_BYTES: usize = 32;
/// How often the file's size and time are compared with the last read.
const RECHECK: Duration = Duration::from_secs(1);

/// One key: AES-256-GCM for the value, and HMAC keys derived from it for fingerprints and
/// for the map view's CSRF tokens (so every member with the file makes the same tokens).
pub struct Key {
    pub id: String,
    pub(crate) aead: LessSafeKey,
    pub(crate) fingerprint: hmac::Key,
    ui_csrf: [u8; 32],
}

/// The keys of one reading of the file, the sealing key first.
pub struct Keyring {
    keys: Vec<Key>,
}

/// Key ids only: key material never reaches a log or an error.
impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("ids", &self.ids()).finish()
    }
}

impl Keyring {
    /// Keys from the file's text; errors name the line and say what to write.
    pub fn parse(text: &str) -> Result<Keyring, String> {
        let mut keys: Vec<Key> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(id), Some(material), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(format!(
                    "line {}: expected `<key id> <base64 key>`, e.g. from `moord secrets-key new`",
                    n + 1
                ));
            };
            if !sealed::valid_key_id(id) {
                return Err(format!(
                    "line {}: key id {id:?} must be 1-{} letters, digits, '-' or '_'",
                    n + 1,
                    sealed::MAX_KEY_ID
                ));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(format!("line {}: key id {id} appears twice", n + 1));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(material)
                .map_err(|e| format!("line {}: key {id} is not base64: {e}", n + 1))?;
            keys.push(Key::new(id, &bytes).map_err(|e| format!("line {}: {e}", n + 1))?);
        }
        if keys.is_empty() {
            return Err("holds no key: add one with `moord secrets-key new --file FILE`".into());
        }
        Ok(Keyring { keys })
    }

    /// The key new values are sealed with.
    pub fn sealing(&self) -> &Key {
        // parse() refuses an empty file, so there is always a first key.
        &self.keys[0]
    }

    /// The key with this id, if the file still holds it.
    pub fn get(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Every key id, the sealing key first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }
}

impl Key {
    fn new(id: &str, bytes: &[u8]) -> Result<Key, String> {
        if bytes.len() != KEY_BYTES {
            return Err(format!(
                "key {id} has {} bytes, not {KEY_BYTES}: make a new one with `moord secrets-key new`",
                bytes.len()
            ));
        }
        let aead = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| format!("key {id} is unusable"))?,
        );
        // A separate key for fingerprints, so a fingerprint says nothing about the AES key.
        let derive = hmac::Key::new(hmac::HMAC_SHA256, bytes);
        let fp_key = hmac::sign(&derive, b"moor secrets fingerprint key v1");
        let mut ui_csrf = [0u8; 32];
        ui_csrf.copy_from_slice(hmac::sign(&derive, b"moor map view csrf key v1").as_ref());
        Ok(Key {
            id: id.to_string(),
            aead,
            fingerprint: hmac::Key::new(hmac::HMAC_SHA256, fp_key.as_ref()),
            ui_csrf,
        })
    }

    /// The map view's CSRF key derived from this key (it says nothing about the key).
    pub fn ui_csrf_key(&self) -> [u8; 32] {
        self.ui_csrf
    }
}

impl Keyring {
    /// The CSRF keys of every key in the file, the sealing key's first: tokens are made
    /// with the first and accepted under any, so a rotation does not void open pages.
    pub fn ui_csrf_keys(&self) -> Vec<[u8; 32]> {
        self.keys.iter().map(Key::ui_csrf_key).collect()
    }
}

/// The key file as it is now: re-read when it changes.
pub struct SecretKeys {
    path: PathBuf,
    inner: Mutex<Loaded>,
}

struct Loaded {
    ring: Arc<Keyring>,
    signature: (SystemTime, u64),
    checked: Instant,
}

impl SecretKeys {
    /// Reads the file (an error names it and says what to do).
    pub fn load(path: &Path) -> Result<SecretKeys, String> {
        let (ring, signature) = read(path)?;
        Ok(SecretKeys {
            path: path.to_path_buf(),
            inner: Mutex::new(Loaded {
                ring: Arc::new(ring),
                signature,
                checked: Instant::now(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current keys (re-read first when the file changed since the last look).
    pub fn current(&self) -> Arc<Keyring> {
        let mut loaded = match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if loaded.checked.elapsed() >= RECHECK {
            loaded.checked = Instant::now();
            let now = signature(&self.path).ok();
            if now.is_some_and(|s| s != loaded.signature) {
                match read(&self.path) {
                    Ok((ring, signature)) => {
                        tracing::info!(
                            file = %self.path.display(),
                            keys = ?ring.ids(),
                            "secrets key file re-read; new values are sealed with {}",
                            ring.sealing().id
                        );
                        loaded.ring = Arc::new(ring);
                        loaded.signature = signature;
                    }
                    Err(e) => {
                        // Logged once per change of the file: the signature moves on.
                        if let Some(s) = now {
                            loaded.signature = s;
                        }
                        tracing::error!("{e}; keeping the keys read before");
                    }
                }
            }
        }
        loaded.ring.clone()
    }
}

fn signature(path: &Path) -> std::io::Result<(SystemTime, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified()?, meta.len()))
}

fn read(path: &Path) -> Result<(Keyring, (SystemTime, u64)), String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!("cannot read the secrets key file {shown}: {e} (make one with `moord secrets-key new --file {shown}`)")
    })?;
    let ring = Keyring::parse(&text).map_err(|e| format!("secrets key file {shown}: {e}"))?;
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if meta.mode() & 0o077 != 0 {
        tracing::warn!(
            "secrets key file {shown} can be read by other users (mode {:o}): chmod 600 it",
            meta.mode() & 0o777
        );
    }
    let signature = signature(path).map_err(|e| format!("{shown}: {e}"))?;
    Ok((ring, signature))
}

/// Puts a new random key first in `path` (creating the file, mode 0600, if it does not
/// exist) and returns its id. The file is replaced atomically.
pub fn add_new_key(path: &Path) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => {
            Keyring::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            text
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let rng = SystemRandom::new();
    let mut material = [0u8; KEY_BYTES];
    let mut tag = [0u8; 4];
    rng.fill(&mut material)
        .and_then(|()| rng.fill(&mut tag))
        .map_err(|_| anyhow::anyhow!("the system's random source failed"))?;
    let id = format!(
        "k-{}",
        tag.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let mut text = String::from(
        "# Moor secrets keys. The first key seals new values; the others only open older ones.\n",
    );
    text.push_str(&format!(
        "{id} {}\n",
        base64::engine::general_purpose::STANDARD.encode(material)
    ));
    for line in existing
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
    {
        if !line.trim().is_empty() {
            text.push_str(line.trim());
            text.push('\n');
        }
    }
    let partial = path.with_extension("partial");
    {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(id)
}
