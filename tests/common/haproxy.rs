//! A real HAProxy (Debian's `haproxy`, `.ci/run` installs it) in front of
//! gateway replicas: TCP mode, so TLS passes through and mTLS ends at the
//! gateways, which still see the caller's certificate. Fails, never skips,
//! when HAProxy cannot start.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct TestHaproxy {
    child: Child,
    pub dir: tempfile::TempDir,
    /// The port callers connect to.
    pub port: u16,
    /// The configuration it runs (the README shows the same).
    pub config: String,
}

/// A backend server: its name, gateway port and admin (health) port.
pub struct Server {
    pub name: String,
    pub port: u16,
    pub health_port: u16,
}

/// The configuration for `servers` behind `127.0.0.1:port`.
pub fn config(port: u16, servers: &[Server]) -> String {
    let mut text = format!(
        "global
    maxconn 1024

defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    # A refused connection is tried again, on another server each time:
    # a replica that died is skipped before its health check notices.
    retries 3
    option redispatch 1

frontend gateway
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    # Health from each replica's plain admin listener; mTLS traffic is
    # passed through untouched.
    option httpchk GET /readyz
    http-check expect status 200
"
    );
    for s in servers {
        text.push_str(&format!(
            "    server {} 127.0.0.1:{} check port {} inter 500ms fall 2 rise 1\n",
            s.name, s.port, s.health_port
        ));
    }
    text
}

/// `host:port` → port.
pub fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

impl TestHaproxy {
    /// HAProxy in the foreground (`-db`) with `servers`; returns once its
    /// port accepts connections.
    pub async fn start(servers: &[Server]) -> TestHaproxy {
        let dir = tempfile::tempdir().unwrap();
        let port = super::gateway::free_port();
        let config = config(port, servers);
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, &config).unwrap();
        let check = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("haproxy is not installed (apt-get install haproxy): {e}"));
        assert!(
            check.status.success(),
            "haproxy -c: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let mut child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("haproxy.log")).unwrap())
            .spawn()
            .unwrap();
        for _ in 0..600 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return TestHaproxy {
                    child,
                    dir,
                    port,
                    config,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("haproxy.log"));
                panic!("haproxy exited ({status}): {log:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("haproxy never listened on {port}");
    }

    /// `https://localhost:PORT`: the gateways' certificate names localhost.
    pub fn base(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

impl Drop for TestHaproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
