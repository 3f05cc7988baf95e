//! The Rust broker's registered-backend mode (`--serve`) in the only
//! topology it supports: backend and broker in one process (spec §4.18).
//! This runner hosts `serve_registered_backend` — the function the binary's
//! `--serve` calls — next to an echo backend answering the identity probe
//! with this process's identity, and, for the handoff variant, a handoff
//! acceptor speaking the crate's offer/ACK wire (`backend_lib::wire`).
//! rp-connect, a separate process, is the client.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use running_process::broker::backend_handle::DaemonProcess;
use running_process::broker::backend_lib::wire::{read_handoff_offer, respond_to_handoff_offer};
use running_process::broker::protocol::{AdminVerb, Endpoint};
use running_process::broker::server::{
    serve_registered_backend, BrokerServeConfig, HandoffTokenStore, HANDOFF_TOKEN_BYTES,
};

use crate::cpp_client::{check_echo, check_refusal};
use crate::harness::{admin, install_service, private_dir, rp_connect, Binaries};
use crate::report::{Outcome, Report};

const GROUP: &str = "cpp-client-vs-rust-serve-colocated";

/// One in-process Rust broker in `--serve` mode. Its threads live until the
/// runner exits (the serial serve loop has no stop).
struct Colocated {
    endpoint: String,
    errors: mpsc::Receiver<String>,
}

fn start(bins: &Binaries, dir: &Path, handoff: bool) -> Result<Colocated, String> {
    let services = dir.join("services");
    // The registry key at Hello time hashes the service definition's
    // binary, so it must be this process's executable (spec §4.18).
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    install_service(bins, &services, "echo", &me, &["--isolation", "shared"])?;

    let backend_path = dir.join("be.sock").display().to_string();
    let listener =
        UnixListener::bind(&backend_path).map_err(|e| format!("bind {backend_path}: {e}"))?;
    let endpoint = Endpoint {
        namespace_id: "shared".into(),
        path: backend_path.clone(),
    };
    let daemon = DaemonProcess::current_process(endpoint, Some(30)).map_err(|e| e.to_string())?;
    let mux = Arc::new(rp_interop::echo::echo_mux(daemon));
    thread::spawn(move || rp_interop::echo::serve_forever(listener, mux));

    let socket = dir.join("b.sock").display().to_string();
    let mut config = BrokerServeConfig::unbounded(socket.clone(), "echo", "1.0.0", backend_path)
        .with_service_definition_dir(services);
    if handoff {
        let handoff_path = dir.join("ho.sock");
        let listener =
            UnixListener::bind(&handoff_path).map_err(|e| format!("bind handoff: {e}"))?;
        thread::spawn(move || accept_handoffs(listener));
        config = config.with_handoff_endpoint(handoff_path.display().to_string());
    }
    let (tx, errors) = mpsc::channel();
    thread::spawn(move || {
        let outcome = match serve_registered_backend(config) {
            Ok(()) => "serve loop returned".to_string(),
            Err(e) => format!("serve failed: {e}"),
        };
        let _ = tx.send(outcome);
    });
    let broker = Colocated {
        endpoint: socket,
        errors,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if Path::new(&broker.endpoint).exists()
            && admin(&broker.endpoint, AdminVerb::Healthz, false).is_ok()
        {
            return Ok(broker);
        }
        if let Ok(e) = broker.errors.try_recv() {
            return Err(e);
        }
        if Instant::now() > deadline {
            return Err("the in-process Rust broker did not come up".into());
        }
        thread::sleep(Duration::from_millis(25));
    }
}

impl Colocated {
    /// A serve-loop death, reported with the case that caused it (the
    /// serial loop ends on any per-connection error, spec §3.17).
    fn died(&self) -> Option<String> {
        self.errors.try_recv().ok()
    }
}

/// Backend side of the handoff: the 16 token bytes and the client's fd
/// arrive first (SCM_RIGHTS), then the offer frame; the token is accepted
/// (seeded as pending, as upstream's own end-to-end test does) and the
/// adopted connection becomes an echo connection.
fn accept_handoffs(listener: UnixListener) {
    for stream in listener.incoming().flatten() {
        thread::spawn(move || {
            let _ = serve_one_handoff(stream);
        });
    }
}

fn serve_one_handoff(mut stream: UnixStream) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let (client_fd, _sideband_token) = receive_fd_and_token(stream.as_raw_fd())?;
    let offer = read_handoff_offer(&mut stream).map_err(io::Error::other)?;
    let now = Instant::now();
    let mut pending = HandoffTokenStore::new();
    let bytes = <[u8; HANDOFF_TOKEN_BYTES]>::try_from(offer.token.as_slice())
        .map_err(|_| io::Error::other("offered token is not 16 bytes"))?;
    let expected = pending
        .issue_with_random128(now, || Ok(bytes))
        .map_err(io::Error::other)?;
    let acceptance = respond_to_handoff_offer(&mut stream, &mut pending, expected, offer, now)
        .map_err(io::Error::other)?;
    if acceptance.is_accepted() {
        // The broker relays the handoff-ready EVENT on this connection after
        // our ACK, so nothing is written before the client speaks: echo.
        rp_interop::echo::echo_rest(UnixStream::from(client_fd))?;
    }
    Ok(())
}

fn receive_fd_and_token(socket: RawFd) -> io::Result<(OwnedFd, [u8; HANDOFF_TOKEN_BYTES])> {
    let mut token = [0_u8; HANDOFF_TOKEN_BYTES];
    let mut iov = libc::iovec {
        iov_base: token.as_mut_ptr().cast(),
        iov_len: token.len(),
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    let mut control = vec![0_u8; space];
    // SAFETY: msghdr is plain data; every pointer set below outlives recvmsg.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = control.len();
    // SAFETY: `message` describes live buffers of the stated sizes.
    let received = unsafe { libc::recvmsg(socket, &mut message, libc::MSG_CMSG_CLOEXEC) };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the control buffer was filled by recvmsg above.
    let header = unsafe { libc::CMSG_FIRSTHDR(&message) };
    if header.is_null() {
        return Err(io::Error::other(
            "no SCM_RIGHTS descriptor with the handoff token",
        ));
    }
    // SAFETY: header points into `control`; the kernel wrote one int there.
    let fd = unsafe {
        if (*header).cmsg_level != libc::SOL_SOCKET || (*header).cmsg_type != libc::SCM_RIGHTS {
            return Err(io::Error::other("unexpected control message"));
        }
        std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<libc::c_int>())
    };
    // SAFETY: the descriptor was just received and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if received as usize != HANDOFF_TOKEN_BYTES {
        return Err(io::Error::other(format!(
            "sideband carried {received} bytes, expected 16"
        )));
    }
    Ok((fd, token))
}

pub fn run(bins: &Binaries, work: &Path, report: &mut Report) {
    let plain_cases = ["reconnect-route-echo", "refusal-version-not-registered"];
    if plain_cases.iter().any(|c| report.wants(GROUP, c)) {
        match start(bins, &private_dir(&work.join("k1")), false) {
            Ok(broker) => {
                report.run(GROUP, "reconnect-route-echo", || {
                    // Our client advertises CAP_HANDLE_PASSING, so the Rust
                    // broker issues a token but, with no handoff endpoint,
                    // just closes: the client must fall back to backend_pipe.
                    let input = b"our client, Rust --serve, reconnect\n";
                    let run = rp_connect(bins, Some(&broker.endpoint), "echo", "1.0.0", input, &[]);
                    with_death(check_echo(&run, input, "broker-negotiated"), &broker)
                });
                report.run(GROUP, "refusal-version-not-registered", || {
                    let run = rp_connect(bins, Some(&broker.endpoint), "echo", "9.9.9", b"", &[]);
                    with_death(
                        check_refusal(&run, &broker.endpoint, "echo", "9.9.9"),
                        &broker,
                    )
                });
            }
            Err(e) => {
                for case in plain_cases {
                    report.record(GROUP, case, Outcome::Fail(e.clone()), Default::default());
                }
            }
        }
    }
    if report.wants(GROUP, "handoff-route-echo") {
        let outcome = match start(bins, &private_dir(&work.join("k2")), true) {
            Ok(broker) => {
                let input = b"our client, handed off by the Rust broker\n";
                let run = rp_connect(bins, Some(&broker.endpoint), "echo", "1.0.0", input, &[]);
                with_death(check_echo(&run, input, "handle-passed"), &broker)
            }
            Err(e) => Outcome::Fail(e),
        };
        report.record(GROUP, "handoff-route-echo", outcome, Default::default());
    }
}

fn with_death(outcome: Outcome, broker: &Colocated) -> Outcome {
    match (outcome, broker.died()) {
        (Outcome::Fail(detail), Some(death)) => {
            Outcome::Fail(format!("{detail}; Rust broker: {death}"))
        }
        (Outcome::Pass, Some(death)) => {
            Outcome::Fail(format!("the Rust serve loop ended: {death}"))
        }
        (outcome, _) => outcome,
    }
}
