//! `actgate state check` and `state migrate`: what an operator needs to
//! know about the database, said plainly (reachable? TLS verified? schema
//! version?), and the migrations run by hand.

use super::{migrate, Database, StateError, StateSettings};

/// What `state check` found.
#[derive(Debug)]
pub struct CheckReport {
    /// Where the URL came from (never the URL: it holds the password).
    pub source: String,
    /// How the connection is protected.
    pub transport: String,
    pub replica: String,
    /// The server's version, once connected.
    pub server_version: Option<String>,
    /// The schema's version (`0`: never migrated).
    pub schema_version: Option<i32>,
    /// The version this gateway needs.
    pub needed: i32,
    /// What went wrong, if anything.
    pub problem: Option<StateError>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

fn transport(s: &StateSettings) -> String {
    match &s.ca {
        Some(ca) => format!(
            "TLS, server certificate and host name verified against {}",
            ca.display()
        ),
        None => "plain TCP to a loopback address (no [state] ca)".into(),
    }
}

/// Connect, read the server's and the schema's versions; change nothing.
pub async fn check(settings: StateSettings) -> CheckReport {
    let mut report = CheckReport {
        source: settings.source.clone(),
        transport: transport(&settings),
        replica: settings.replica.clone(),
        server_version: None,
        schema_version: None,
        needed: migrate::latest(),
        problem: None,
    };
    let db = match Database::new(settings) {
        Ok(db) => db,
        Err(e) => {
            report.problem = Some(e);
            return report;
        }
    };
    let c = match db.connect().await {
        Ok(c) => c,
        Err(e) => {
            report.problem = Some(e);
            return report;
        }
    };
    let found = async {
        let v = c.query_one("SHOW server_version", &[]).await?;
        let server: String = v.get(0);
        Ok::<_, StateError>((server, migrate::version(&c).await?))
    };
    match super::bounded(&db, found).await {
        Ok((server, schema)) => {
            report.server_version = Some(server);
            report.schema_version = Some(schema);
            if schema > report.needed {
                report.problem = Some(StateError::SchemaTooNew {
                    found: schema,
                    known: report.needed,
                });
            } else if schema < report.needed {
                report.problem = Some(StateError::SchemaTooOld {
                    found: schema,
                    needed: report.needed,
                });
            }
        }
        Err(e) => report.problem = Some(e),
    }
    report
}

/// Apply the migrations the database lacks; the number applied. Also
/// with `[state] migrate = false`: this command is how such operators
/// migrate.
pub async fn migrate(settings: StateSettings) -> Result<usize, StateError> {
    let settings = StateSettings {
        migrate: true,
        ..settings
    };
    Database::new(settings)?.prepare().await
}
