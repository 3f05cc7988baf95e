//! Pieces shared by the interop runner and its helper backend.
//!
//! `echo` is a backend connection handler that the Rust broker accepts: it
//! answers the broker's 0xB232 identity probe with this process's identity
//! and echoes every other byte stream back to its sender.

pub mod echo;
