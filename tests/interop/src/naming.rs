//! Endpoint naming (spec §4.6): the per-user shared-broker path the Rust
//! client derives must be the one our broker binds and our client dials.
//! Runs first, while the runner is single-threaded, because the Rust
//! derivation reads XDG_RUNTIME_DIR from this process's environment.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use running_process::broker::lifecycle::{shared_broker_pipe, user_sid_hash};
use running_process::broker::protocol::AdminVerb;

use crate::cpp_client::check_echo;
use crate::harness::{
    admin, install_service, private_dir, rp_connect, wait_socket, Binaries, CppBroker,
    RustLaunchBroker, ALLOW_PRIVILEGED,
};
use crate::report::{Outcome, Report};

const GROUP: &str = "endpoint-naming";

/// The Rust client's shared-broker path with XDG_RUNTIME_DIR as given.
fn rust_shared_path(xdg_runtime_dir: Option<&Path>) -> Result<PathBuf, String> {
    let saved = std::env::var_os("XDG_RUNTIME_DIR");
    match xdg_runtime_dir {
        Some(dir) => std::env::set_var("XDG_RUNTIME_DIR", dir),
        None => std::env::remove_var("XDG_RUNTIME_DIR"),
    }
    let derived = user_sid_hash()
        .map_err(|e| e.to_string())
        .and_then(|hash| shared_broker_pipe(&hash).map_err(|e| e.to_string()))
        .and_then(|pipe| pipe.unix.ok_or_else(|| "no unix path".to_string()));
    match saved {
        Some(value) => std::env::set_var("XDG_RUNTIME_DIR", value),
        None => std::env::remove_var("XDG_RUNTIME_DIR"),
    }
    derived
}

fn sockets_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

pub fn run(bins: &Binaries, work: &Path, report: &mut Report) {
    report.run(GROUP, "cpp-broker-binds-rust-derived-shared-path", || {
        cpp_broker_binds(bins, work)
    });
    report.run(
        GROUP,
        "cpp-client-default-endpoint-reaches-rust-broker",
        || cpp_client_dials(bins, work),
    );
    report.run(GROUP, "tmp-fallback-path-matches", || tmp_fallback(bins));
}

fn cpp_broker_binds(bins: &Binaries, work: &Path) -> Outcome {
    let dir = private_dir(&work.join("n1"));
    let xdg = private_dir(&dir.join("x"));
    let expected = match rust_shared_path(Some(&xdg)) {
        Ok(path) => path,
        Err(e) => return Outcome::Fail(format!("Rust derivation failed: {e}")),
    };
    let services = dir.join("services");
    if let Err(e) = install_service(
        bins,
        &services,
        "echo",
        &bins.cpp_echo_backend,
        &["--isolation", "shared"],
    ) {
        return Outcome::Fail(e);
    }
    let mut broker = match CppBroker::start(bins, &dir, &services, None, &xdg) {
        Ok(broker) => broker,
        Err(e) => return Outcome::Fail(e),
    };
    let outcome = if wait_socket(&expected, Duration::from_secs(10)) {
        broker.endpoint = expected.display().to_string();
        match admin(&broker.endpoint, AdminVerb::Healthz, false) {
            Ok(reply) if reply.exit_code == 0 => Outcome::Pass,
            Ok(reply) => {
                Outcome::Fail(format!("healthz at {} answered {reply:?}", broker.endpoint))
            }
            Err(e) => Outcome::Fail(format!(
                "the Rust client cannot use {}: {e}",
                broker.endpoint
            )),
        }
    } else {
        Outcome::Fail(format!(
            "the Rust client derives {} but our broker bound {:?} (broker log: {:?})",
            expected.display(),
            sockets_under(&xdg),
            broker.proc.log_tail()
        ))
    };
    broker.stop();
    outcome
}

fn cpp_client_dials(bins: &Binaries, work: &Path) -> Outcome {
    let dir = private_dir(&work.join("n2"));
    let xdg = private_dir(&dir.join("x"));
    let socket = match rust_shared_path(Some(&xdg)) {
        Ok(path) => path,
        Err(e) => return Outcome::Fail(format!("Rust derivation failed: {e}")),
    };
    let services = dir.join("services");
    if let Err(e) = install_service(bins, &services, "echo", &bins.rust_echo_backend, &[]) {
        return Outcome::Fail(e);
    }
    let broker = match RustLaunchBroker::start(bins, &dir, &services, &socket, &xdg, &[]) {
        Ok(broker) => broker,
        Err(e) => return Outcome::Fail(e),
    };
    let input = b"found by name\n";
    let run = rp_connect(
        bins,
        None,
        "echo",
        "1.0.0",
        input,
        &[("XDG_RUNTIME_DIR", &xdg)],
    );
    let outcome = match check_echo(&run, input, "broker-negotiated") {
        Outcome::Fail(detail) => Outcome::Fail(format!(
            "rp-connect without --socket did not reach the Rust broker on {}: {detail}",
            socket.display()
        )),
        other => other,
    };
    broker.stop();
    outcome
}

/// Without XDG_RUNTIME_DIR both fall back to /tmp/running-process-<uid>.
/// Read our derived path from our admin CLI's "cannot reach" message, so
/// nothing is bound in the shared /tmp location.
fn tmp_fallback(bins: &Binaries) -> Outcome {
    let expected = match rust_shared_path(None) {
        Ok(path) => path,
        Err(e) => return Outcome::Fail(format!("Rust derivation failed: {e}")),
    };
    let output = match Command::new(&bins.cpp_broker)
        .arg("healthz")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("RUNNING_PROCESS_BROKER_V1_SOCKET")
        .env("RUNNING_PROCESS_BROKER_CLIENT_TIMEOUT_MS", "2000")
        .env(ALLOW_PRIVILEGED.0, ALLOW_PRIVILEGED.1)
        .output()
    {
        Ok(output) => output,
        Err(e) => return Outcome::Fail(e.to_string()),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let ours = stderr
        .split_once("admin request to \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(path, _)| path.to_string());
    match ours {
        Some(path) => Outcome::check(Path::new(&path) == expected, || {
            format!("ours {path}, the Rust client's {}", expected.display())
        }),
        None if output.status.success() => Outcome::Skip(format!(
            "a live broker already answers on the default endpoint {}, so our derived path cannot be read without disturbing it",
            expected.display()
        )),
        None => Outcome::Fail(format!("unexpected healthz output: {}", stderr.trim())),
    }
}
