//! An echo backend the Rust broker can verify.
//!
//! The Rust broker checks every backend with a 0xB232 identity probe on the
//! backend endpoint (a v1 frame carrying a 32-byte nonce). The crate's
//! `BackendEndpointMux` tells such a frame apart from application bytes;
//! everything that is not a probe is echoed back unchanged.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::thread;

use running_process::broker::backend_handle::DaemonProcess;
use running_process::broker::backend_sdk::{BackendEndpointMux, LegacyClassification, MuxPoll};

/// The mux type used here: any first byte other than the v1 framing byte
/// is application data.
pub type EchoMux = BackendEndpointMux<fn(&[u8]) -> LegacyClassification>;

fn classify(buffer: &[u8]) -> LegacyClassification {
    match buffer.first() {
        None => LegacyClassification::NeedMoreBytes,
        Some(1) => LegacyClassification::NotLegacy,
        Some(_) => LegacyClassification::Legacy,
    }
}

/// Builds the mux that answers probes as `daemon`.
pub fn echo_mux(daemon: DaemonProcess) -> EchoMux {
    BackendEndpointMux::new(daemon, &[], classify as fn(&[u8]) -> LegacyClassification)
}

/// Serves one connection until the peer closes it: probes get the identity
/// answer, anything else is echoed.
pub fn serve_connection(mut stream: UnixStream, mux: &EchoMux) -> io::Result<()> {
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = [0_u8; 64 * 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        pending.extend_from_slice(&chunk[..n]);
        loop {
            match mux.poll(&pending) {
                Ok(MuxPoll::NeedMoreBytes) => break,
                Ok(MuxPoll::ProbeAnswered { reply, consumed }) => {
                    stream.write_all(&reply)?;
                    pending.drain(..consumed);
                }
                Ok(MuxPoll::Legacy) => {
                    // Plain bytes: from here on this is an echo connection.
                    stream.write_all(&pending)?;
                    return echo_rest(stream);
                }
                Ok(MuxPoll::Payload { .. }) | Err(_) => {
                    return Err(io::Error::other("unexpected frame on the echo backend"));
                }
            }
            if pending.is_empty() {
                break;
            }
        }
    }
}

/// Echoes until end of stream.
pub fn echo_rest(mut stream: UnixStream) -> io::Result<()> {
    let mut chunk = [0_u8; 64 * 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&chunk[..n])?;
    }
}

/// Accepts forever on `listener`, one thread per connection.
pub fn serve_forever(listener: UnixListener, mux: Arc<EchoMux>) {
    for stream in listener.incoming().flatten() {
        let mux = Arc::clone(&mux);
        thread::spawn(move || {
            let _ = serve_connection(stream, &mux);
        });
    }
}
