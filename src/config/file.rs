//! A TOML configuration file read from disk: the gateway's (`ConfigFile`)
//! and the egress sidecar's (`EgressConfigFile`) are the same loader over
//! different models, with the same messages (the file, and the line or the
//! field of each problem).

use std::path::{Path, PathBuf};

use super::{parse_toml, ConfigErrors, ConfigProblem};

/// A model a configuration file is parsed into.
pub trait ConfigModel: serde::de::DeserializeOwned {
    /// A refusal before parsing (e.g. a file of the other kind), so the
    /// message says what the file is rather than which key is unknown.
    fn refuse_text(_text: &str) -> Option<&'static str> {
        None
    }
}

/// A config file read from disk, with the directory its relative paths are
/// resolved against.
#[derive(Debug, Clone)]
pub struct TomlFile<T> {
    pub path: PathBuf,
    pub raw: T,
}

impl<T: ConfigModel> TomlFile<T> {
    /// Read and parse a TOML config file.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigProblem {
                location: path.display().to_string(),
                message: format!("cannot read the config file: {e}"),
            }])
        })?;
        Self::parse(path, &text)
    }

    /// Parse TOML text that came from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigErrors> {
        if let Some(message) = T::refuse_text(text) {
            return Err(ConfigErrors(vec![ConfigProblem {
                location: path.display().to_string(),
                message: message.into(),
            }]));
        }
        let raw: T = parse_toml(path, text).map_err(|p| ConfigErrors(vec![p]))?;
        Ok(TomlFile {
            path: path.to_path_buf(),
            raw,
        })
    }
}

impl<T> TomlFile<T> {
    /// Resolve a path named in the config against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path
                .parent()
                .map(|d| d.join(p))
                .unwrap_or_else(|| p.to_path_buf())
        }
    }

    /// `FILE: field` location string.
    pub fn at(&self, field: impl std::fmt::Display) -> String {
        format!("{}: {field}", self.path.display())
    }
}
