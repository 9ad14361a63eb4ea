//! STUB (replaced by the identity branch).
use std::path::{Path, PathBuf};

use crate::identity::{SpiffeId, TrustDomain};

#[derive(Debug, thiserror::Error)]
#[error("pki: {0}")]
pub struct PkiError(String);

pub struct DevPki {
    pub created: Vec<PathBuf>,
}

pub fn init_dev_pki(
    _out: &Path,
    _td: &TrustDomain,
    _w: &[(&str, SpiffeId)],
) -> Result<DevPki, PkiError> {
    todo!()
}
