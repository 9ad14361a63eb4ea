//! `actgate config check`'s fetch of every `[[subject_issuer]]` whose keys
//! are fetched (`jwks_uri`, `discovery`): one line per issuer, naming the
//! file and the entry, with what it serves or what is wrong.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use actgate::config::ConfigFile;
use actgate::snapshot::Snapshot;
use actgate::token::issuer_keys::probe::Probe;
use actgate::token::issuer_keys::IssuerKeySlot;

/// Fetch the keys of each fetched issuer (all at once, each within its
/// `startup_timeout`) and print a line for each; whether all were good.
/// With `offline`, nothing is fetched and each line says so.
pub fn check(
    config: &Path,
    cfg: &ConfigFile,
    gw: &Snapshot,
    offline: bool,
) -> anyhow::Result<bool> {
    let slots: HashMap<&str, &Arc<IssuerKeySlot>> = gw
        .subject_tokens
        .issuer_slots()
        .filter(|s| s.fingerprint().is_some())
        .map(|s| (s.issuer(), s))
        .collect();
    let entries: Vec<(String, Arc<IssuerKeySlot>)> = cfg
        .raw
        .subject_issuer
        .iter()
        .enumerate()
        .filter_map(|(i, si)| {
            let slot = slots.get(si.issuer.as_str())?;
            let entry = format!("{}: subject_issuer[{i}] ({})", config.display(), si.issuer);
            Some((entry, Arc::clone(slot)))
        })
        .collect();
    if offline {
        for (entry, _) in &entries {
            println!("{entry}: keys not fetched (--offline)");
        }
        return Ok(true);
    }
    let results = super::runtime()?.block_on(async {
        let tasks: Vec<_> = entries
            .into_iter()
            .map(|(entry, slot)| tokio::spawn(async move { (entry, slot.probe().await) }))
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await?);
        }
        anyhow::Ok(out)
    })?;
    let mut ok = true;
    for (entry, result) in results {
        match result {
            Ok(probe) => println!("{entry}: ok: {}", describe(&probe)),
            Err(e) => {
                ok = false;
                eprintln!("{entry}: {e}");
            }
        }
    }
    Ok(ok)
}

/// "2 keys (RS256 kid "a", ES256 kid "b") from URL", and the keys left out.
pub fn describe(p: &Probe) -> String {
    let keys: Vec<String> = p
        .keys
        .iter()
        .map(|(kid, alg)| match kid {
            Some(k) => format!("{alg} kid {k:?}"),
            None => format!("{alg} without kid"),
        })
        .collect();
    let mut out = format!(
        "{} key{} ({}) from {}",
        p.keys.len(),
        if p.keys.len() == 1 { "" } else { "s" },
        keys.join(", "),
        p.jwks_url
    );
    if !p.skipped.is_empty() {
        out.push_str(&format!("; left out: {}", p.skipped.join("; ")));
    }
    out
}
