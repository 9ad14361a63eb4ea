//! A private PostgreSQL cluster for a test: `initdb` in a temp dir, the
//! server on a free loopback port, a generated password in a URL file.
//! PostgreSQL refuses to run as root (and CI runs as root), so as root the
//! server runs as `nobody` (through `runuser`), owning its directory.
//! Fails, never skips, when the server cannot start (`.ci/run` installs
//! Debian's `postgresql`).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TestPostgres {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// `postgresql://actgate:PASSWORD@127.0.0.1:PORT/actgate` in a file.
    pub url_file: PathBuf,
    bin: PathBuf,
    /// `-c` settings beyond the defaults (TLS).
    extra: Vec<String>,
}

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: /usr/lib/postgresql is missing (apt-get install postgresql)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)")
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// `program args` as the server's user.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn chown_to_server_user(path: &Path) {
    if is_root() {
        let ok = Command::new("chown")
            .args(["-R", "nobody"])
            .arg(path)
            .status()
            .unwrap();
        assert!(ok.success(), "chown {}", path.display());
    }
}

fn random_hex() -> String {
    use aws_lc_rs::rand::SecureRandom;
    let mut b = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestPostgres {
    /// A fresh cluster, started.
    pub fn start() -> TestPostgres {
        Self::start_with(Vec::new(), |_| {})
    }

    /// A fresh cluster with `-c` settings `extra`; `prepare` may add files
    /// to the data directory (certificates) before the server starts.
    pub fn start_with(extra: Vec<String>, prepare: impl FnOnce(&Path)) -> TestPostgres {
        let dir = tempfile::tempdir().unwrap();
        let bin = bin_dir();
        let password = random_hex();
        std::fs::write(dir.path().join("pw"), &password).unwrap();
        chown_to_server_user(dir.path());
        let mut initdb = as_server_user(&bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.path().join("data"))
            .args([
                "-U",
                "actgate",
                "-A",
                "scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
            ])
            .arg(format!("--pwfile={}", dir.path().join("pw").display()));
        run(initdb, "initdb");
        std::fs::remove_file(dir.path().join("pw")).unwrap();
        prepare(&dir.path().join("data"));
        chown_to_server_user(dir.path());
        let port = super::gateway::free_port();
        let url_file = dir.path().join("postgres-url");
        std::fs::write(
            &url_file,
            format!("postgresql://actgate:{password}@127.0.0.1:{port}/postgres\n"),
        )
        .unwrap();
        let pg = TestPostgres {
            dir,
            port,
            url_file,
            bin,
            extra,
        };
        pg.resume();
        pg
    }

    /// Start the (stopped) server again, on the same port and data.
    pub fn resume(&self) {
        let mut opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        for e in &self.extra {
            opts.push_str(" -c ");
            opts.push_str(e);
        }
        let mut c = as_server_user(&self.bin.join("pg_ctl"));
        c.arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-o", &opts, "-w", "-t", "60", "start"]);
        run(c, "pg_ctl start");
    }

    /// Stop the server at once (as a crash would).
    pub fn stop(&self) {
        let mut c = as_server_user(&self.bin.join("pg_ctl"));
        c.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        run(c, "pg_ctl stop");
    }

    pub fn url(&self) -> String {
        std::fs::read_to_string(&self.url_file)
            .unwrap()
            .trim()
            .to_string()
    }

    /// A direct connection (no TLS: loopback) for checks.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to the test PostgreSQL: {e}"));
        tokio::spawn(conn);
        client
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let mut c = as_server_user(&self.bin.join("pg_ctl"));
        c.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"]);
        let _ = c.output();
    }
}
