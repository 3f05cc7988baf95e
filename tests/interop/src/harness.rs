//! Starting and stopping the two brokers, installing service definitions,
//! and driving both clients (the Rust one in-process, ours as rp-connect).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use running_process::broker::client::{
    connect_to_backend, send_admin_request, BackendConnection, BrokerClientError,
    ConnectBackendRequest,
};
use running_process::broker::protocol::{AdminReply, AdminRequest, AdminVerb};

pub const ALLOW_PRIVILEGED: (&str, &str) = ("RUNNING_PROCESS_BROKER_ALLOW_PRIVILEGED", "1");

/// Where the binaries under test are.
pub struct Binaries {
    pub cpp_broker: PathBuf,
    pub cpp_echo_backend: PathBuf,
    pub cpp_connect: PathBuf,
    pub rust_broker: PathBuf,
    pub rust_echo_backend: PathBuf,
}

impl Binaries {
    pub fn locate(cpp_build: &Path, rust_bin: &Path) -> Result<Self, String> {
        // Absolute and canonical: service definitions need absolute binary
        // paths, and the Rust launcher compares canonical ones.
        let find = |path: PathBuf| {
            fs::canonicalize(&path).map_err(|e| format!("missing binary {}: {e}", path.display()))
        };
        Ok(Binaries {
            cpp_broker: find(cpp_build.join("broker/running-process-broker-v1"))?,
            cpp_echo_backend: find(cpp_build.join("tools/rp-echo-backend"))?,
            cpp_connect: find(cpp_build.join("tools/rp-connect"))?,
            rust_broker: find(rust_bin.join("running-process-broker-v1"))?,
            rust_echo_backend: find(rust_bin.join("rp-interop-echo-backend"))?,
        })
    }
}

/// Makes `path` (and its parents) with mode 0700, as the brokers want their
/// runtime and service-definition directories.
pub fn private_dir(path: &Path) -> PathBuf {
    let _ = fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path);
    path.to_path_buf()
}

/// mkdtemp(3): a fresh private directory from `template` (ending XXXXXX).
pub fn temp_dir(template: &str) -> std::io::Result<PathBuf> {
    let mut bytes = std::ffi::CString::new(template)?.into_bytes_with_nul();
    // SAFETY: `bytes` is a writable NUL-terminated template.
    let made = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
    if made.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    bytes.pop();
    Ok(PathBuf::from(String::from_utf8_lossy(&bytes).into_owned()))
}

/// A child process that is killed when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(mut command: Command, log: &Path) -> Result<Proc, String> {
        let file = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        command.stdin(Stdio::null()).stdout(file).stderr(err);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
        Ok(Proc {
            child,
            log: log.to_path_buf(),
        })
    }

    /// Exit status if it has already exited.
    pub fn exited(&mut self) -> Option<i32> {
        self.child
            .try_wait()
            .ok()
            .flatten()
            .map(|s| s.code().unwrap_or(-1))
    }

    /// Waits up to `limit` for an exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(code) = self.exited() {
                return Some(code);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last line of the log, for failure details.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Asks a broker for `verb`; the Rust client's own admin path.
pub fn admin(endpoint: &str, verb: AdminVerb, json: bool) -> Result<AdminReply, BrokerClientError> {
    send_admin_request(
        endpoint,
        AdminRequest {
            verb: verb as i32,
            json,
            service_name: String::new(),
            output_path: String::new(),
            drain_deadline_ms: 0,
        },
    )
}

/// Polls healthz on `endpoint` until it answers or `proc` exits.
pub fn wait_healthy(endpoint: &str, proc: &mut Proc, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if Path::new(endpoint).exists() && admin(endpoint, AdminVerb::Healthz, false).is_ok() {
            return Ok(());
        }
        if let Some(code) = proc.exited() {
            return Err(format!("exited with {code}: {}", proc.log_tail()));
        }
        if Instant::now() > deadline {
            return Err(format!("no healthz answer on {endpoint} within {limit:?}"));
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// Waits until a socket file appears at `path`.
pub fn wait_socket(path: &Path, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if fs::metadata(path)
            .map(|m| m.file_type().is_socket())
            .unwrap_or(false)
        {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Our broker (`serve`) on `socket`, or on its default endpoint when
/// `socket` is None. Its backends and logs stay under `dir`.
pub struct CppBroker {
    pub proc: Proc,
    pub endpoint: String,
}

impl CppBroker {
    pub fn start(
        bins: &Binaries,
        dir: &Path,
        services: &Path,
        socket: Option<&Path>,
        xdg_runtime_dir: &Path,
    ) -> Result<CppBroker, String> {
        let mut command = Command::new(&bins.cpp_broker);
        if let Some(socket) = socket {
            command.arg("--socket").arg(socket);
        }
        command
            .arg("serve")
            .arg("--service-def-dir")
            .arg(services)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--manifest-dir")
            .arg(dir.join("manifests"))
            .env(ALLOW_PRIVILEGED.0, ALLOW_PRIVILEGED.1)
            .env("XDG_RUNTIME_DIR", xdg_runtime_dir);
        let proc = Proc::spawn(command, &dir.join("cpp-broker.log"))?;
        Ok(CppBroker {
            proc,
            endpoint: socket.map(|s| s.display().to_string()).unwrap_or_default(),
        })
    }

    /// Stops the broker (see Drop).
    pub fn stop(self) {}
}

impl Drop for CppBroker {
    /// Asks the broker to stop with the SHUTDOWN verb, so it stops its
    /// backends too, before the process itself is killed.
    fn drop(&mut self) {
        if !self.endpoint.is_empty() && self.proc.exited().is_none() {
            let _ = admin(&self.endpoint, AdminVerb::Shutdown, false);
            self.proc.wait_exit(Duration::from_secs(10));
        }
    }
}

/// The Rust broker binary in `--serve-launch` mode.
pub struct RustLaunchBroker {
    pub proc: Proc,
    pub endpoint: String,
}

impl RustLaunchBroker {
    pub fn start(
        bins: &Binaries,
        dir: &Path,
        services: &Path,
        socket: &Path,
        xdg_runtime_dir: &Path,
        extra_env: &[(&str, &str)],
    ) -> Result<RustLaunchBroker, String> {
        // The Rust broker creates only the last directory of its socket
        // path, and puts backend sockets under $XDG_RUNTIME_DIR/running-process/broker.
        private_dir(&xdg_runtime_dir.join("running-process/broker"));
        if let Some(parent) = socket.parent() {
            private_dir(parent);
        }
        let mut command = Command::new(&bins.rust_broker);
        command
            .arg("--serve-launch")
            .arg(socket)
            .arg("--service-def-dir")
            .arg(services)
            .env(ALLOW_PRIVILEGED.0, ALLOW_PRIVILEGED.1)
            .env("XDG_RUNTIME_DIR", xdg_runtime_dir)
            .envs(extra_env.iter().copied());
        let mut proc = Proc::spawn(command, &dir.join("rust-broker.log"))?;
        let endpoint = socket.display().to_string();
        wait_healthy(&endpoint, &mut proc, Duration::from_secs(15))
            .map_err(|e| format!("Rust broker --serve-launch did not come up: {e}"))?;
        Ok(RustLaunchBroker { proc, endpoint })
    }

    /// Stops the broker (see Drop).
    pub fn stop(self) {}
}

impl Drop for RustLaunchBroker {
    /// Kills the backends it launched (they run detached, in their own
    /// sessions, and outlive it), then stops it with the SHUTDOWN verb.
    fn drop(&mut self) {
        if let Ok(reply) = admin(&self.endpoint, AdminVerb::Status, true) {
            if let Ok(status) = serde_json::from_str::<serde_json::Value>(&reply.body) {
                for backend in status["backends"].as_array().into_iter().flatten() {
                    if let Some(pid) = backend["pid"].as_u64() {
                        // SAFETY: plain kill(2) on a pid the broker reported.
                        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                    }
                }
            }
        }
        let _ = admin(&self.endpoint, AdminVerb::Shutdown, false);
        self.proc.wait_exit(Duration::from_secs(5));
    }
}

/// Writes a service definition with OUR `servicedef install`. It always
/// names the binary's own directory as per_version_binary_dir: the Rust
/// launcher refuses a definition without one, or with the binary outside it.
pub fn install_service(
    bins: &Binaries,
    services: &Path,
    service: &str,
    binary: &Path,
    extra: &[&str],
) -> Result<(), String> {
    let output = Command::new(&bins.cpp_broker)
        .args([
            "servicedef",
            "install",
            "--service",
            service,
            "--binary-path",
        ])
        .arg(binary)
        .arg("--per-version-binary-dir")
        .arg(binary.parent().unwrap_or(Path::new("/")))
        .arg("--service-def-dir")
        .arg(services)
        .args(extra)
        .env(ALLOW_PRIVILEGED.0, ALLOW_PRIVILEGED.1)
        .output()
        .map_err(|e| format!("servicedef install: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "servicedef install --service {service} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// One run of our client CLI.
pub struct ConnectRun {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl ConnectRun {
    /// A word after `key` in rp-connect's -v line ("route X backend_pipe Y …").
    pub fn field(&self, key: &str) -> Option<String> {
        let line = self.stderr.lines().find(|l| l.contains(" route "))?;
        let mut words = line.split_whitespace();
        while let Some(word) = words.next() {
            if word == key {
                return words.next().map(str::to_string);
            }
        }
        None
    }

    pub fn describe(&self) -> String {
        format!(
            "rp-connect exit {}, stdout {:?}, stderr {:?}",
            self.code,
            String::from_utf8_lossy(&self.stdout),
            self.stderr.trim()
        )
    }
}

/// Runs `rp-connect -v [--socket S] SERVICE VERSION` with `input` on stdin.
pub fn rp_connect(
    bins: &Binaries,
    socket: Option<&str>,
    service: &str,
    version: &str,
    input: &[u8],
    env: &[(&str, &Path)],
) -> ConnectRun {
    let mut command = Command::new(&bins.cpp_connect);
    command.arg("-v");
    if let Some(socket) = socket {
        command.arg("--socket").arg(socket);
    }
    command
        .args(["--timeout-ms", "10000", service, version])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return ConnectRun {
                code: -1,
                stdout: Vec::new(),
                stderr: format!("cannot start rp-connect: {e}"),
            }
        }
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break -2;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let _ = writer.join();
    let mut stderr = err_reader.join().unwrap_or_default();
    if code == -2 {
        stderr.push_str("\n(killed after 30 s)");
    }
    ConnectRun {
        code,
        stdout: out_reader.join().unwrap_or_default(),
        stderr,
    }
}

/// The Rust client's `connect_to_backend` with the handoff opt-in set.
pub fn rust_connect(
    endpoint: &str,
    service: &str,
    version: &str,
    adopt: bool,
) -> Result<BackendConnection, BrokerClientError> {
    let mut request = ConnectBackendRequest::new(endpoint, service, version, version);
    request.adopt_handed_off_connection = adopt;
    connect_to_backend(request)
}

/// Writes `payload` and reads the same number of bytes back, on a helper
/// thread so a silent peer cannot hang the run.
pub fn round_trip<S: Read + Write + Send + 'static>(
    stream: S,
    payload: &[u8],
) -> Result<(), String> {
    let payload = payload.to_vec();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut stream = stream;
        let result = (|| -> std::io::Result<Vec<u8>> {
            stream.write_all(&payload)?;
            let mut echoed = vec![0_u8; payload.len()];
            stream.read_exact(&mut echoed)?;
            Ok(echoed)
        })();
        let _ = tx.send(result.map(|echoed| (echoed, payload)));
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok((echoed, payload))) if echoed == payload => Ok(()),
        Ok(Ok((echoed, _))) => Err(format!(
            "echo mismatch: got {:?}",
            String::from_utf8_lossy(&echoed)
        )),
        Ok(Err(e)) => Err(format!("echo round trip failed: {e}")),
        Err(_) => Err("no echo within 10 s".to_string()),
    }
}
