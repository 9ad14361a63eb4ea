//! The schema, as versioned migrations embedded in the binary. Each runs
//! once, recorded in `schema_migrations`; all of them run in one
//! transaction under an advisory lock, so replicas starting together apply
//! each exactly once (the second waits, then finds nothing to do) and a
//! failed migration leaves the schema as it was.

use super::StateError;

/// Key of the advisory lock migrations run under (any constant the
/// database's other users do not take; "actgate" in ASCII).
const MIGRATION_LOCK: i64 = 0x0061_6374_6761_7465;

/// `(version, name, SQL)`, in order. Append only: a released migration is
/// never edited, the next version changes what it must.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "approvals",
        "CREATE TABLE approvals (
        id text PRIMARY KEY,
        state text NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'used')),
        caller text NOT NULL,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        -- When a denied or used approval finished (pruning); NULL otherwise.
        finished_at bigint,
        -- The replica the approval was requested through.
        replica text NOT NULL,
        -- The approval as the admin API shows it (JSON).
        record text NOT NULL
    );
    CREATE INDEX approvals_pending_by_caller ON approvals (caller) WHERE state = 'pending';
    CREATE INDEX approvals_by_created ON approvals (created_at DESC, id);",
    ),
    (
        2,
        "audit_records",
        // Each replica's audit chain, shipped from its file log (see
        // `state::audit_ship`). `line` is text, not jsonb: the chain hashes
        // the exact bytes written, which jsonb would normalise away.
        "CREATE TABLE audit_records (
        replica text NOT NULL,
        -- SHA-256 of the chain's seq-0 line: a log directory started anew
        -- is a new chain, never mixed with the old one.
        chain text NOT NULL,
        seq bigint NOT NULL,
        prev text NOT NULL,
        hash text NOT NULL,
        line text NOT NULL,
        shipped_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (replica, chain, seq)
    );
    CREATE INDEX audit_records_by_shipped ON audit_records (shipped_at DESC);",
    ),
];

/// The version this gateway's schema is at once migrated.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL
)";

/// Apply what the database lacks; the number applied.
pub async fn run(c: &mut tokio_postgres::Client, replica: &str) -> Result<usize, StateError> {
    let tx = c.transaction().await?;
    // Held to the end of the transaction: a second replica waits here.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(CREATE_TABLE).await?;
    let done = applied(&tx).await?;
    let found = done.iter().copied().max().unwrap_or(0);
    if found > latest() {
        return Err(StateError::SchemaTooNew {
            found,
            known: latest(),
        });
    }
    let mut count = 0;
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| !done.contains(&m.0)) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_by) VALUES ($1, $2, $3)",
            &[version, name, &replica],
        )
        .await?;
        tracing::info!(version, name, "state schema migrated");
        count += 1;
    }
    tx.commit().await?;
    Ok(count)
}

async fn applied(tx: &tokio_postgres::Transaction<'_>) -> Result<Vec<i32>, StateError> {
    let rows = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await?;
    Ok(rows.iter().map(|r| r.get::<_, i32>(0)).collect())
}

/// The schema's version (`0`: never migrated), without changing anything.
pub async fn version(c: &tokio_postgres::Client) -> Result<i32, StateError> {
    let exists = c
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await?;
    if !exists.get::<_, bool>(0) {
        return Ok(0);
    }
    let row = c
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?;
    Ok(row.get(0))
}
