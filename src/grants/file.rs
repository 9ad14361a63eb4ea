//! The store's file: every grant and every refresh token's digest, as one
//! JSON document replaced atomically and durably on each change (a grant or
//! a rotation that was answered must survive a crash, or a spent refresh
//! token could be spent again after a restart). Codes are not in it: they
//! live 60 seconds, and a restart that forgets them only makes a person
//! start again.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{GrantView, GrantsError};
use crate::durable_file::{self, Durability, Secrecy};

/// The file format's version; a file of another version is refused rather
/// than guessed at.
const VERSION: u32 = 1;

/// One refresh token, as its digest (the token itself is never kept).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(super) struct RefreshRecord {
    pub grant_id: String,
    pub scopes: Vec<String>,
    /// RFC 8705 `x5t#S256` of the certificate the token is bound to.
    pub thumbprint: String,
    pub expires_at: i64,
    /// Rotated away: presenting it again is a reuse (theft) signal.
    pub spent: bool,
}

/// What the file holds, and what the store keeps in memory besides codes.
#[derive(Debug, Clone, Default)]
pub(super) struct Persisted {
    pub grants: HashMap<String, GrantView>,
    /// By digest.
    pub refresh: HashMap<String, RefreshRecord>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    version: u32,
    grants: Vec<GrantView>,
    /// By digest.
    refresh_tokens: BTreeMap<String, RefreshRecord>,
}

/// Read the file; a missing file is an empty store.
pub(super) fn load(path: &Path) -> Result<Persisted, GrantsError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Persisted::default()),
        Err(source) => {
            return Err(GrantsError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let doc: Document = serde_json::from_slice(&bytes).map_err(|e| GrantsError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if doc.version != VERSION {
        return Err(GrantsError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("version {} (this gateway reads {VERSION})", doc.version),
        });
    }
    let grants = doc.grants.into_iter().map(|g| (g.id.clone(), g)).collect();
    let refresh = doc.refresh_tokens.into_iter().collect();
    Ok(Persisted { grants, refresh })
}

/// Replace the file with `state` (mode 0600: it names people and what
/// they allowed).
pub(super) fn save(path: &Path, state: &Persisted) -> Result<(), GrantsError> {
    let mut grants: Vec<GrantView> = state.grants.values().cloned().collect();
    grants.sort_by(|a, b| a.id.cmp(&b.id));
    let refresh_tokens = state
        .refresh
        .iter()
        .map(|(digest, record)| (digest.clone(), record.clone()))
        .collect();
    let doc = Document {
        version: VERSION,
        grants,
        refresh_tokens,
    };
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| GrantsError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    durable_file::replace(path, &bytes, Secrecy::Secret, Durability::Durable).map_err(|e| {
        GrantsError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    })
}
