//! The problems collector of a snapshot build: every section builder records
//! what is wrong (file and field) and carries on, so one run reports every
//! problem in a config at once, and a config that checks clean starts.

use std::time::Duration;

use super::{ConfigErrors, ConfigFile, ConfigProblem};
use crate::duration::parse as parse_duration;

/// Collects problems while building, so one run reports them all.
pub(crate) struct Problems<'a> {
    cfg: &'a ConfigFile,
    list: Vec<ConfigProblem>,
}

impl<'a> Problems<'a> {
    /// An empty collector for `cfg` (locations name its file).
    pub(crate) fn new(cfg: &'a ConfigFile) -> Self {
        Problems {
            cfg,
            list: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, field: impl std::fmt::Display, message: impl Into<String>) {
        self.list.push(ConfigProblem {
            location: self.cfg.at(field),
            message: message.into(),
        });
    }

    /// Record problems that carry their own location (another file, a line).
    pub(crate) fn extend(&mut self, problems: impl IntoIterator<Item = ConfigProblem>) {
        self.list.extend(problems);
    }

    /// Record the error of `r` under `field`, returning the value if any.
    pub(crate) fn take<T, E: std::fmt::Display>(
        &mut self,
        field: impl std::fmt::Display,
        r: Result<T, E>,
    ) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    pub(crate) fn duration(&mut self, field: &str, s: &str) -> Duration {
        self.take(field, parse_duration(s))
            .unwrap_or(Duration::from_secs(1))
    }

    /// Every problem recorded, or `Ok` when there is none.
    pub(crate) fn finish(self) -> Result<(), ConfigErrors> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(self.list))
        }
    }
}

/// The one problem found after every section checked clean (a step that can
/// fail only once all the inputs are present).
pub(crate) fn one_problem(cfg: &ConfigFile, field: &str, message: String) -> ConfigErrors {
    ConfigErrors(vec![ConfigProblem {
        location: cfg.at(field),
        message,
    }])
}
