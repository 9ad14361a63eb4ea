//! Headless Chromium driven over the Chrome DevTools Protocol: a real
//! browser process (the Debian `chromium` package) and a small RFC 6455
//! WebSocket client for its debugging endpoint.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The browser binary: `$CHROMIUM`, else `chromium` on PATH.
fn chromium_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "chromium is not installed: this test drives the console in a real browser. \
         Install the Debian package (`apt-get install chromium`; .ci/run does) or set CHROMIUM"
    );
}

/// A headless Chromium with a fresh profile, killed on drop.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    pub port: u16,
}

impl Browser {
    /// Start Chromium showing `url`.
    pub fn launch(url: &str) -> Browser {
        Self::launch_trusting(url, &[])
    }

    /// Start Chromium showing `url`, trusting the servers whose public
    /// keys' SHA-256 (base64) are in `spki` (certificates made by a test
    /// CA the browser does not know); every other certificate is verified
    /// as usual.
    pub fn launch_trusting(url: &str, spki: &[String]) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(chromium_binary());
        if !spki.is_empty() {
            cmd.arg(format!(
                "--ignore-certificate-errors-spki-list={}",
                spki.join(",")
            ));
        }
        let child = cmd
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let port = wait_for_port(profile.path());
        Browser {
            child,
            _profile: profile,
            port,
        }
    }

    /// The DevTools session of the first page target.
    pub async fn page(&self) -> Cdp {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let list = http_get(self.port, "/json/list").await;
            let ws = serde_json::from_str::<Value>(&list).ok().and_then(|v| {
                v.as_array()?
                    .iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(String::from))
            });
            if let Some(ws) = ws {
                return Cdp::connect(&ws).await;
            }
            assert!(Instant::now() < deadline, "no page target: {list}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// base64(SHA-256(SubjectPublicKeyInfo)) of the first certificate in the
/// PEM file at `path`.
pub fn spki_sha256_of_pem(path: &Path) -> String {
    let pem = std::fs::read(path).unwrap();
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&p.contents).unwrap();
    let spki = cert.tbs_certificate.subject_pki.raw;
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki);
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

/// Chromium writes its debugging port to `DevToolsActivePort` in the profile.
fn wait_for_port(profile: &Path) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(profile.join("DevToolsActivePort")) {
            if let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                return port;
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromium did not open its debugging port"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET on the DevTools HTTP endpoint (it keeps connections open, so the
/// body is read by its Content-Length).
async fn http_get(port: u16, path: &str) -> String {
    let fetch = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.ok()?;
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())?;
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.ok()?;
        Some(String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), fetch)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// One DevTools WebSocket session.
pub struct Cdp {
    stream: TcpStream,
    next_id: u64,
    /// Events received while waiting for command results.
    pub events: Vec<Value>,
}

impl Cdp {
    async fn connect(ws_url: &str) -> Cdp {
        let rest = ws_url.strip_prefix("ws://").expect("ws:// URL");
        let (authority, path) = rest.split_at(rest.find('/').unwrap());
        let mut stream = TcpStream::connect(authority).await.unwrap();
        let key = base64::engine::general_purpose::STANDARD.encode(rand16());
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            stream.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        // RFC 6455 §4.2.2: the accept value proves a WebSocket server answered.
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
        );
        let accept = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
        assert!(
            head.to_ascii_lowercase().contains(&format!(
                "sec-websocket-accept: {}",
                accept.to_ascii_lowercase()
            )),
            "{head}"
        );
        Cdp {
            stream,
            next_id: 0,
            events: Vec::new(),
        }
    }

    /// Send a command and wait for its result (errors panic with the message).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.send(msg.as_bytes()).await;
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(30), self.recv())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer from the browser"));
            let v: Value = serde_json::from_slice(&msg).unwrap();
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    /// Evaluate `expr` in the page and return its value.
    pub async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("{expr}: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// Wait until `expr` is truthy in the page (the console refreshes on its own).
    pub async fn wait_for(&mut self, expr: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.eval(&format!("Boolean({expr})")).await;
            if v == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let text = self
                    .eval("document.body ? document.body.innerText : ''")
                    .await;
                panic!("the console never showed {what}; page text:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// A real mouse click (press and release) at the centre of the element
    /// `selector` selects.
    pub async fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let rect = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({sel}); e.scrollIntoView({{block: 'center'}}); \
                 const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
            ))
            .await;
        let (x, y) = (rect[0].as_f64().unwrap(), rect[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }

    async fn send(&mut self, payload: &[u8]) {
        // A client frame: FIN + text, masked (RFC 6455 §5.3).
        let mut frame = vec![0x81u8];
        let len = payload.len();
        if len < 126 {
            frame.push(0x80 | len as u8);
        } else if len <= u16::MAX as usize {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
        let mask: [u8; 4] = rand16()[..4].try_into().unwrap();
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.unwrap();
    }

    /// The next complete text message (control frames handled here).
    async fn recv(&mut self) -> Vec<u8> {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.stream.read_exact(&mut h).await.unwrap();
            let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut b = [0u8; 2];
                self.stream.read_exact(&mut b).await.unwrap();
                len = u64::from(u16::from_be_bytes(b));
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.stream.read_exact(&mut b).await.unwrap();
                len = u64::from_be_bytes(b);
            }
            let mut payload = vec![0u8; len as usize];
            self.stream.read_exact(&mut payload).await.unwrap();
            match opcode {
                0x0..=0x2 => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return message;
                    }
                }
                0x8 => panic!("DevTools closed the connection"),
                0x9 => {
                    // Ping: answer with a masked pong carrying the same data.
                    let mut frame = vec![0x8a, 0x80 | payload.len() as u8, 0, 0, 0, 0];
                    frame.extend_from_slice(&payload);
                    self.stream.write_all(&frame).await.unwrap();
                }
                _ => {}
            }
        }
    }
}

fn rand16() -> [u8; 16] {
    use aws_lc_rs::rand::SecureRandom;
    let mut b = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut b).unwrap();
    b
}
