//! rp-interop: runs the published Rust `running-process` v1 client and
//! broker (the reference implementation, pinned in Cargo.toml) against this
//! project's broker, client and echo backend.
//!
//!   rp-interop --cpp-build DIR --rust-bin DIR [--junit FILE] [--only TEXT]
//!
//! --cpp-build: our CMake build directory (broker/running-process-broker-v1,
//! tools/rp-connect, tools/rp-echo-backend); --rust-bin: the cargo output
//! directory holding the Rust running-process-broker-v1 and
//! rp-interop-echo-backend. Prints `PASS name`, `FAIL name: detail` or
//! `SKIP name: reason` per case and a closing count; exits 1 on any FAIL.

mod colocated;
mod cpp_client;
mod harness;
mod naming;
mod report;
mod rust_client;

use std::path::PathBuf;

use report::Report;

const USAGE: &str = "usage: rp-interop --cpp-build DIR --rust-bin DIR [--junit FILE] [--only TEXT]";

struct Args {
    cpp_build: PathBuf,
    rust_bin: PathBuf,
    junit: Option<PathBuf>,
    only: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut cpp_build = None;
    let mut rust_bin = None;
    let mut junit = None;
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--cpp-build" => cpp_build = Some(PathBuf::from(value()?)),
            "--rust-bin" => rust_bin = Some(PathBuf::from(value()?)),
            "--junit" => junit = Some(PathBuf::from(value()?)),
            "--only" => only = Some(value()?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        cpp_build: cpp_build.ok_or("--cpp-build is required")?,
        rust_bin: rust_bin.ok_or("--rust-bin is required")?,
        junit,
        only,
    })
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("rp-interop: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let bins = match harness::Binaries::locate(&args.cpp_build, &args.rust_bin) {
        Ok(bins) => bins,
        Err(e) => {
            eprintln!("rp-interop: {e}");
            std::process::exit(2);
        }
    };
    // Bound every Rust-client round trip well below the case timeouts.
    std::env::set_var("RUNNING_PROCESS_BROKER_CLIENT_TIMEOUT_MS", "5000");
    std::env::remove_var("RUNNING_PROCESS_DISABLE");
    std::env::remove_var("RUNNING_PROCESS_BROKER_V1_SOCKET");

    // Short: the Rust broker puts backend sockets at
    // $XDG_RUNTIME_DIR/running-process/broker/<64-char name>, which must fit
    // in sun_path (107 bytes), so every XDG_RUNTIME_DIR used here is at most
    // 19 characters: /tmp/rpiXXXXXX/<group>/x.
    let work = match harness::temp_dir("/tmp/rpiXXXXXX") {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("rp-interop: cannot make a work directory: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "rp-interop: running-process 4.10.21 (crates.io) vs {}",
        args.cpp_build.display()
    );

    let mut report = Report::new(args.only);
    // Naming first: it changes XDG_RUNTIME_DIR in this process briefly and
    // must do so before any helper thread runs.
    naming::run(&bins, &work, &mut report);
    rust_client::run(&bins, &work, &mut report);
    cpp_client::run(&bins, &work, &mut report);
    colocated::run(&bins, &work, &mut report);

    let (passed, failed, skipped) = report.counts();
    println!("interop: {passed} passed, {failed} failed, {skipped} skipped");
    if let Some(path) = &args.junit {
        if let Err(e) = report.write_junit(path) {
            eprintln!("rp-interop: cannot write {}: {e}", path.display());
        }
    }
    if std::env::var_os("RP_INTEROP_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        println!("rp-interop: kept {}", work.display());
    }
    std::process::exit(if failed > 0 { 1 } else { 0 });
}
