//! Design note (not built yet): shipping each replica's audit chain to
//! PostgreSQL (issue 17). Nothing here runs; this module holds the design
//! so the code that follows it has one place to agree with.
//!
//! # What stays as it is
//!
//! The local file log is the record of evidence and keeps every rule it
//! has today: a record is written to the file (and, where the rules say
//! so, `fdatasync`ed) before the request or decision it records goes on,
//! and the file log being unhealthy fails calls closed. Shipping never
//! comes before the file and never gates a call: PostgreSQL down must not
//! stop non-approval traffic (the failure behaviour).
//!
//! # The outbox
//!
//! - The outbox *is* the file log: the writer thread already writes every
//!   record in chain order, each with its `seq`. Next to the log, a small
//!   cursor file `shipped` holds `(log_start id, last seq acknowledged by
//!   PostgreSQL)`, replaced atomically (write + rename) after each batch.
//!   No second copy of the records, so nothing can disagree with the log.
//! - A shipper task reads the log files from the cursor on, in batches
//!   (bounded by count and bytes, e.g. 500 records or 1 MiB), and inserts
//!   each batch in one transaction into `audit_records (replica, chain,
//!   seq, prev, hash, line jsonb, PRIMARY KEY (replica, chain, seq))`
//!   with `ON CONFLICT DO NOTHING`: shipping is idempotent on replica +
//!   chain + seq, so a batch shipped again after a crash between commit
//!   and cursor update is not duplicated. The line is stored as written
//!   (its hash covers those bytes), so the chain verifies from the table.
//! - Rotation: the shipper follows the chain across files by `seq`; a file
//!   is deleted by retention only once the cursor is past its last record
//!   (or retention wins and the gap is reported, see below).
//!
//! # PostgreSQL unreachable
//!
//! The cursor stops; the log keeps growing (bounded by the disk, as now).
//! A gauge `actgate_audit_unshipped_records` (log seq minus cursor) and a
//! warning each minute say so; when PostgreSQL is back the shipper drains
//! from the cursor. A `kill -9` loses at most what the file log's own
//! durability rules allow (allowed calls buffered, not yet written, within
//! `flush_interval`; see `writer`); the rest ships after restart, from
//! the cursor.
//!
//! # Verifying and querying the cluster
//!
//! `audit verify --state URL_FILE` re-walks every `(replica, chain)` in
//! seq order: hash of each stored line, `prev` links, and gaps in `seq`
//! (reported with their range: records not shipped, or removed from the
//! table). `audit query --state …` filters `line` across replicas. The
//! console's recent decisions read the table when `[state]` is configured.
//!
//! # Tests this needs (real parts)
//!
//! Both chains land and verify; a line tampered in the table is detected;
//! PostgreSQL stopped under load, then restarted: the outbox drains with
//! no gap and no duplicate; a replica killed with `-9` ships after restart.
