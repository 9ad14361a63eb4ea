//! The state backend replicas share: a PostgreSQL database (`[state]
//! backend = "postgres"`), reached through a small connection pool.
//!
//! - [`settings`]: the `[state]` section checked and resolved (URL from a
//!   file or a variable, TLS or loopback-only plain TCP, replica name).
//! - [`migrate`]: the schema, as versioned migrations embedded in the
//!   binary, applied under an advisory lock.
//! - [`audit_ship`], [`audit_table`]: each replica's audit chain shipped
//!   to `audit_records`, verified and searched there.
//! - this file: the [`Database`] handle, its health, and its errors.
//!
//! Driver: `tokio-postgres` (the maintained async driver the rest of the
//! ecosystem builds on) with `tokio-postgres-rustls` on the gateway's own
//! rustls and aws-lc-rs, and `deadpool-postgres` for the pool. `sqlx` would
//! bring its own runtime glue, macros and a second TLS stack for what is
//! here a handful of hand-written statements.

pub mod audit_ship;
pub mod audit_table;
pub mod check;
pub mod migrate;
pub mod settings;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};

pub use settings::StateSettings;

/// Longest wait for a connection or one statement: a database that does
/// not answer must turn into a quick 503, not a hung call.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// What a caller refused because the state backend is down is told to
/// wait before retrying (seconds, `Retry-After`).
pub const RETRY_AFTER_SECS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not reachable, refused the login, TLS failed, or a statement failed.
    #[error("the PostgreSQL state backend is unavailable: {0}")]
    Unavailable(String),
    /// The database's schema is newer than this gateway knows.
    #[error("the database schema is at version {found}, newer than this gateway's {known}: upgrade the gateway (or run the older schema's gateway)")]
    SchemaTooNew { found: i32, known: i32 },
    /// The schema is older than this gateway needs (migrations not run).
    #[error("the database schema is at version {found}, this gateway needs {needed}: run `actgate state migrate`")]
    SchemaTooOld { found: i32, needed: i32 },
    /// A record in the database is not one the gateway writes.
    #[error("a record in the database is not valid: {0}")]
    Corrupt(String),
}

impl StateError {
    /// A driver or pool error, with every cause in it (TLS problems are
    /// in the causes: "invalid peer certificate: UnknownIssuer").
    pub fn from_error(e: &(dyn std::error::Error + 'static)) -> StateError {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            let s_text = s.to_string();
            if !text.contains(&s_text) {
                text.push_str(": ");
                text.push_str(&s_text);
            }
            source = s.source();
        }
        StateError::Unavailable(text)
    }
}

impl From<tokio_postgres::Error> for StateError {
    fn from(e: tokio_postgres::Error) -> Self {
        StateError::from_error(&e)
    }
}

/// The shared database: a pool, and whether it answered last time.
pub struct Database {
    pool: Pool,
    settings: StateSettings,
    up: AtomicBool,
    /// The schema is known to be current (checked or migrated).
    ready: AtomicBool,
}

impl Database {
    /// A pool for `settings`. Connects lazily: nothing is reached here.
    pub fn new(settings: StateSettings) -> Result<Database, StateError> {
        let manager = ManagerConfig {
            // A closed connection (the server restarted) is replaced before
            // it is handed out.
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match settings.tls.clone() {
            Some(tls) => Manager::from_config(
                settings.pg.clone(),
                tokio_postgres_rustls::MakeRustlsConnect::new((*tls).clone()),
                manager,
            ),
            None => Manager::from_config(settings.pg.clone(), tokio_postgres::NoTls, manager),
        };
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(TIMEOUT))
            .create_timeout(Some(TIMEOUT))
            .recycle_timeout(Some(TIMEOUT))
            .build()
            .map_err(|e| StateError::Unavailable(e.to_string()))?;
        Ok(Database {
            pool,
            settings,
            up: AtomicBool::new(false),
            ready: AtomicBool::new(false),
        })
    }

    pub fn settings(&self) -> &StateSettings {
        &self.settings
    }

    /// This replica's name in shared records.
    pub fn replica(&self) -> &str {
        &self.settings.replica
    }

    /// Whether the database answered the last statement (and its schema is
    /// current): the `actgate_state_backend_up` gauge.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed) && self.ready.load(Ordering::Relaxed)
    }

    /// A pooled connection, for one operation. The schema must be current:
    /// a gateway never writes into a schema it does not know.
    pub async fn client(&self) -> Result<Object, StateError> {
        if !self.ready.load(Ordering::Relaxed) {
            self.prepare().await?;
        }
        self.connect().await
    }

    pub(crate) async fn connect(&self) -> Result<Object, StateError> {
        let got = self.pool.get().await;
        got.map_err(|e| self.failed(StateError::from_error(&e)))
    }

    /// Record the outcome of a statement for the gauge; errors pass through.
    pub fn seen<T>(&self, r: Result<T, tokio_postgres::Error>) -> Result<T, StateError> {
        match r {
            Ok(v) => {
                self.up.store(true, Ordering::Relaxed);
                Ok(v)
            }
            Err(e) => Err(self.failed(e.into())),
        }
    }

    /// [`Database::seen`] for a result already turned into a [`StateError`].
    pub fn seen_state<T>(&self, r: Result<T, StateError>) -> Result<T, StateError> {
        match r {
            Ok(v) => {
                self.up.store(true, Ordering::Relaxed);
                Ok(v)
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    fn failed(&self, e: StateError) -> StateError {
        if matches!(e, StateError::Unavailable(_)) {
            self.up.store(false, Ordering::Relaxed);
        }
        e
    }

    /// Apply the migrations this database lacks (start-up, and until they
    /// succeed). `Ok` with the number applied.
    pub async fn prepare(&self) -> Result<usize, StateError> {
        let mut c = self.connect().await?;
        let applied = tokio::time::timeout(TIMEOUT * 2, self.migrate_or_check(&mut c))
            .await
            .map_err(|_| StateError::Unavailable("migrations timed out".into()))
            .and_then(|r| r);
        let applied = applied.map_err(|e| self.failed(e))?;
        self.up.store(true, Ordering::Relaxed);
        self.ready.store(true, Ordering::Relaxed);
        Ok(applied)
    }

    /// The migrations, or with `[state] migrate = false` only the check
    /// that the schema is the one this gateway needs (it changes nothing).
    async fn migrate_or_check(&self, c: &mut tokio_postgres::Client) -> Result<usize, StateError> {
        if self.settings.migrate {
            return migrate::run(c, &self.settings.replica).await;
        }
        let (found, needed) = (migrate::version(c).await?, migrate::latest());
        match found.cmp(&needed) {
            std::cmp::Ordering::Less => Err(StateError::SchemaTooOld { found, needed }),
            std::cmp::Ordering::Greater => Err(StateError::SchemaTooNew {
                found,
                known: needed,
            }),
            std::cmp::Ordering::Equal => Ok(0),
        }
    }

    /// One health probe (the state refresher's tick): migrations if they
    /// have not run yet, else a trivial statement.
    pub async fn probe(&self) {
        if !self.ready.load(Ordering::Relaxed) {
            if let Err(e) = self.prepare().await {
                tracing::warn!(error = %e, "state backend not ready; approvals are refused until it is");
            }
            return;
        }
        let was_up = self.up.load(Ordering::Relaxed);
        let r = match self.connect().await {
            Ok(c) => {
                let r = tokio::time::timeout(TIMEOUT, c.simple_query("SELECT 1")).await;
                match r {
                    Ok(r) => self.seen(r).map(|_| ()),
                    Err(_) => Err(self.failed(StateError::Unavailable("no answer".into()))),
                }
            }
            Err(e) => Err(e),
        };
        match r {
            Ok(()) if !was_up => tracing::info!("state backend reachable again"),
            Err(e) if was_up => {
                tracing::error!(error = %e, "state backend down: calls that need an approval get 503 until it is back")
            }
            _ => {}
        }
    }
}

/// Run `f` bounded by [`TIMEOUT`]; a timeout is the backend being down.
pub async fn bounded<T, E: From<StateError>>(
    db: &Database,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(r) => r,
        Err(_) => Err(db
            .failed(StateError::Unavailable(
                "no answer within the time allowed".into(),
            ))
            .into()),
    }
}
