//! The `audit_records` table (migration 2): every replica's audit chain as
//! shipped from its file log, and the checks and searches run across them
//! (`actgate audit verify --state`, `actgate audit query --state`).
//!
//! A row keeps the line exactly as written, so the chain verifies from
//! the table with the same rule as from the files: `hash` is SHA-256 of
//! `line`, the next row's `prev` is that hash, `seq` counts up by one.

use crate::audit::chain::{line_hash, parse_chain_fields, GENESIS};
use crate::audit::query::Filter;
use crate::audit::{AuditRecord, RecordKind};

use super::{bounded, Database, StateError};

/// One line to ship: its position and its bytes (no newline).
#[derive(Debug, Clone)]
pub struct ShipLine {
    pub seq: u64,
    pub prev: String,
    pub line: String,
}

/// Insert `lines` of `(replica, chain)` in one transaction. Idempotent on
/// `(replica, chain, seq)`: a batch sent again after a crash between the
/// commit and the cursor update adds nothing.
pub async fn insert_batch(
    db: &Database,
    replica: &str,
    chain: &str,
    lines: &[ShipLine],
) -> Result<u64, StateError> {
    bounded(db, async {
        let mut c = db.client().await?;
        let tx = db.seen(c.transaction().await)?;
        let stmt = db.seen(
            tx.prepare(
                "INSERT INTO audit_records (replica, chain, seq, prev, hash, line)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (replica, chain, seq) DO NOTHING",
            )
            .await,
        )?;
        let mut added = 0;
        for l in lines {
            let seq = i64::try_from(l.seq)
                .map_err(|_| StateError::Corrupt(format!("seq {} out of range", l.seq)))?;
            let hash = line_hash(l.line.as_bytes());
            added += db.seen(
                tx.execute(&stmt, &[&replica, &chain, &seq, &l.prev, &hash, &l.line])
                    .await,
            )?;
        }
        db.seen(tx.commit().await)?;
        Ok(added)
    })
    .await
}

/// What verifying one `(replica, chain)` found.
#[derive(Debug, Clone, Default)]
pub struct ChainCheck {
    pub replica: String,
    pub chain: String,
    pub rows: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Missing `seq` ranges (inclusive): not shipped yet, or deleted.
    pub gaps: Vec<(u64, u64)>,
    /// Rows whose line, hash or link does not hold: `(seq, what)`.
    pub broken: Vec<(u64, String)>,
    /// `records_lost` lines: the replica itself recorded a loss there.
    pub lost: Vec<u64>,
}

impl ChainCheck {
    pub fn ok(&self) -> bool {
        self.gaps.is_empty() && self.broken.is_empty() && self.lost.is_empty()
    }
}

/// Re-walk every chain in the table, in `seq` order.
pub async fn verify_all(db: &Database) -> Result<Vec<ChainCheck>, StateError> {
    let c = db.client().await?;
    let rows = db.seen(
        c.query(
            "SELECT replica, chain, seq, prev, hash, line FROM audit_records
             ORDER BY replica, chain, seq",
            &[],
        )
        .await,
    )?;
    let mut out: Vec<ChainCheck> = Vec::new();
    let mut last_hash = String::new();
    for r in &rows {
        let (replica, chain): (String, String) = (r.get(0), r.get(1));
        let (seq, prev, hash, line): (i64, String, String, String) =
            (r.get(2), r.get(3), r.get(4), r.get(5));
        let seq = u64::try_from(seq).unwrap_or(0);
        let new_chain = out
            .last()
            .is_none_or(|c| c.replica != replica || c.chain != chain);
        if new_chain {
            out.push(ChainCheck {
                replica,
                chain,
                ..ChainCheck::default()
            });
        }
        let Some(check) = out.last_mut() else {
            continue;
        };
        check_row(check, seq, &prev, &hash, &line, &last_hash);
        last_hash = line_hash(line.as_bytes());
    }
    Ok(out)
}

/// One row against its predecessor in the chain (`last_hash`: the hash of
/// the previous row's line, meaningful when `check.last_seq` is set).
fn check_row(
    check: &mut ChainCheck,
    seq: u64,
    prev: &str,
    hash: &str,
    line: &str,
    last_hash: &str,
) {
    check.rows += 1;
    let actual = line_hash(line.as_bytes());
    match parse_chain_fields(line.as_bytes()) {
        None => check
            .broken
            .push((seq, "the stored line is not an audit record".into())),
        Some(f) => {
            if f.seq != seq || f.prev != prev {
                check.broken.push((
                    seq,
                    format!(
                        "the line says seq {} prev {}, the row says otherwise",
                        f.seq, f.prev
                    ),
                ));
            }
            if f.kind == RecordKind::RecordsLost {
                check.lost.push(seq);
            }
        }
    }
    if actual != hash {
        check.broken.push((
            seq,
            "the stored line does not hash to the hash shipped with it (changed in the table)"
                .into(),
        ));
    }
    match check.last_seq {
        None => {
            check.first_seq = Some(seq);
            if seq == 0 && prev != GENESIS {
                check.broken.push((
                    0,
                    "the first record does not start from the genesis hash".into(),
                ));
            } else if seq > 0 {
                check.gaps.push((0, seq - 1));
            }
        }
        Some(p) => {
            if seq > p + 1 {
                check.gaps.push((p + 1, seq - 1));
            } else if prev != last_hash {
                check.broken.push((
                    p,
                    format!(
                        "its line does not hash to the `prev` of seq {seq} (changed in the table)"
                    ),
                ));
            }
        }
    }
    check.last_seq = Some(seq);
}

/// A record found in the table.
#[derive(Debug, Clone)]
pub struct SharedMatch {
    pub replica: String,
    pub seq: u64,
    pub record: AuditRecord,
    pub raw: String,
}

/// Records of every replica that `filter` accepts, oldest first (by the
/// record's time, then replica and seq), and how many rows could not be
/// read as records. `log_start` lines are skipped.
pub async fn query_all(
    db: &Database,
    filter: &Filter,
) -> Result<(Vec<SharedMatch>, usize), StateError> {
    let c = db.client().await?;
    // Every row, filtered here by the same `Filter::matches` the file
    // query uses, so both searches mean the same thing.
    let rows = db.seen(
        c.query(
            "SELECT replica, seq, line FROM audit_records ORDER BY replica, chain, seq",
            &[],
        )
        .await,
    )?;
    let mut out = Vec::new();
    let mut unreadable = 0;
    for r in &rows {
        let (replica, seq, line): (String, i64, String) = (r.get(0), r.get(1), r.get(2));
        match parse_chain_fields(line.as_bytes()) {
            Some(f) if f.kind == RecordKind::LogStart => continue,
            Some(_) => {}
            None => {
                unreadable += 1;
                continue;
            }
        }
        let Ok(record) = serde_json::from_str::<AuditRecord>(&line) else {
            unreadable += 1;
            continue;
        };
        if filter.matches(&record) {
            out.push(SharedMatch {
                replica,
                seq: u64::try_from(seq).unwrap_or(0),
                record,
                raw: line,
            });
        }
    }
    out.sort_by(|a, b| (a.record.time, &a.replica, a.seq).cmp(&(b.record.time, &b.replica, b.seq)));
    Ok((out, unreadable))
}

/// About the latest `limit` records of every replica (the console),
/// newest shipped first.
pub async fn recent(db: &Database, limit: i64) -> Result<Vec<(String, AuditRecord)>, StateError> {
    bounded(db, async {
        let c = db.client().await?;
        let rows = db.seen(
            c.query(
                "SELECT replica, line FROM audit_records
                 WHERE line NOT LIKE '%\"kind\":\"log_start\"%'
                 ORDER BY shipped_at DESC, seq DESC LIMIT $1",
                &[&limit],
            )
            .await,
        )?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let line: String = r.get(1);
                let rec = serde_json::from_str::<AuditRecord>(&line).ok()?;
                Some((r.get::<_, String>(0), rec))
            })
            .collect())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{encode_record, encode_start};
    use crate::audit::Decision;

    /// A chain of `n` lines: (seq, prev, hash, line).
    fn chain(n: u64) -> Vec<(u64, String, String, String)> {
        let mut out = Vec::new();
        let mut prev = GENESIS.to_string();
        for seq in 0..n {
            let bytes = if seq == 0 {
                encode_start(
                    0,
                    &prev,
                    "start",
                    "audit-000001.jsonl",
                    None,
                    std::time::SystemTime::now(),
                )
                .unwrap()
            } else {
                let mut r = AuditRecord::new(RecordKind::Proxy);
                r.decision = Decision::Allow;
                encode_record(seq, &prev, &r).unwrap()
            };
            let line = String::from_utf8(bytes).unwrap();
            let hash = line_hash(line.as_bytes());
            out.push((seq, prev.clone(), hash.clone(), line));
            prev = hash;
        }
        out
    }

    fn walk(rows: &[(u64, String, String, String)]) -> ChainCheck {
        let mut c = ChainCheck::default();
        let mut last = String::new();
        for (seq, prev, hash, line) in rows {
            check_row(&mut c, *seq, prev, hash, line, &last);
            last = line_hash(line.as_bytes());
        }
        c
    }

    #[test]
    fn an_intact_chain_passes_and_gaps_edits_are_named() {
        let rows = chain(8);
        let c = walk(&rows);
        assert!(c.ok(), "{c:?}");
        assert_eq!((c.rows, c.first_seq, c.last_seq), (8, Some(0), Some(7)));

        // Rows 2..=4 and the first one missing: two ranges.
        let kept: Vec<_> = rows
            .iter()
            .filter(|r| ![0, 2, 3, 4].contains(&r.0))
            .cloned()
            .collect();
        assert_eq!(walk(&kept).gaps, vec![(0, 0), (2, 4)]);
        assert!(walk(&kept).broken.is_empty());

        // A line edited with its hash recomputed: the next row's prev names it.
        let mut edited = rows.clone();
        edited[5].3 = edited[5].3.replace("\"allow\"", "\"deny\"");
        edited[5].2 = line_hash(edited[5].3.as_bytes());
        let c = walk(&edited);
        assert_eq!(c.broken.len(), 1, "{c:?}");
        assert_eq!(c.broken[0].0, 5);
    }
}
