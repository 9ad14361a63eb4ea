//! The example Agent Cards, built into the binary so that `actgate demo`
//! (and `example-agent`) run from any directory, e.g. after
//! `cargo install --path .`, not only from a checkout.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// `agent-cards/NAME.json` of the repository, as compiled in.
const EXAMPLES: [(&str, &str); 2] = [
    (
        "scheduler",
        include_str!("../../../agent-cards/scheduler.json"),
    ),
    (
        "notifier",
        include_str!("../../../agent-cards/notifier.json"),
    ),
];

/// Where the demo's cards are read from when `--cards` is not given.
pub const DEFAULT_DIR: &str = "agent-cards";

/// The built-in card of the example agent `name`.
pub fn example(name: &str) -> Option<&'static str> {
    EXAMPLES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The directory the demo reads its cards from: `--cards` as given (never
/// written to); otherwise `./agent-cards`, written from the built-in copies
/// when it does not exist. It sits next to the demo's other state (`certs/`,
/// `audit/`), and is kept, so a second run reuses it and edits to the cards
/// show in the next run. Returns whether it was written.
pub fn dir(given: Option<PathBuf>) -> anyhow::Result<(PathBuf, bool)> {
    if let Some(dir) = given {
        return Ok((dir, false));
    }
    let dir = PathBuf::from(DEFAULT_DIR);
    if dir.exists() {
        return Ok((dir, false));
    }
    write_examples(&dir)?;
    Ok((dir, true))
}

fn write_examples(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in EXAMPLES {
        let path = dir.join(format!("{name}.json"));
        // create_new: never overwrite a card someone put there meanwhile.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
