//! rp-interop-echo-backend: the backend the Rust broker launches in the
//! interop run (`--serve-launch`). It serves the endpoint named by the v1
//! backend environment (adopting the listener the broker bound for it, when
//! the broker passes one), answers the broker's identity probe and echoes
//! every client's bytes. It runs until killed.

use std::os::fd::FromRawFd;
use std::os::unix::net::UnixListener;
use std::sync::Arc;

use running_process::broker::backend_handle::DaemonProcess;
use running_process::broker::protocol::Endpoint;

const ENV_PIPE: &str = "RUNNING_PROCESS_BROKER_V1_BACKEND_PIPE";
const ENV_NAMESPACE: &str = "RUNNING_PROCESS_BROKER_V1_BACKEND_NAMESPACE";
// Since 4.10.x the Rust broker binds the backend endpoint itself ("broker-
// owned bind", on unless RUNNING_PROCESS_BROKER_OWNED_BIND is falsy) and
// passes the listening descriptor's number here.
const ENV_LISTENER_FD: &str = "RUNNING_PROCESS_BROKER_LISTENER_FD";

fn listener(path: &str) -> std::io::Result<UnixListener> {
    if let Ok(fd) = std::env::var(ENV_LISTENER_FD) {
        let fd: i32 = fd.parse().map_err(|_| {
            std::io::Error::other(format!("{ENV_LISTENER_FD}={fd} is not a number"))
        })?;
        // SAFETY: the broker made this descriptor a listening socket for us
        // and nothing else in this process owns it.
        return Ok(unsafe { UnixListener::from_raw_fd(fd) });
    }
    UnixListener::bind(path)
}

fn main() {
    let (Ok(path), Ok(namespace_id)) = (std::env::var(ENV_PIPE), std::env::var(ENV_NAMESPACE))
    else {
        eprintln!("rp-interop-echo-backend: {ENV_PIPE} and {ENV_NAMESPACE} must be set");
        std::process::exit(2);
    };
    // Bind before hashing our own executable: the broker's probe connects
    // right after the spawn and would fail on a missing socket.
    let listener = match listener(&path) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("rp-interop-echo-backend: cannot serve {path}: {err}");
            std::process::exit(1);
        }
    };
    let endpoint = Endpoint { namespace_id, path };
    let daemon = match DaemonProcess::current_process(endpoint, Some(30)) {
        Ok(daemon) => daemon,
        Err(err) => {
            eprintln!("rp-interop-echo-backend: cannot compute own identity: {err}");
            std::process::exit(1);
        }
    };
    rp_interop::echo::serve_forever(listener, Arc::new(rp_interop::echo::echo_mux(daemon)));
}
