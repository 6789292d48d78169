//! Ferry: a verifying relayer for IBC-style cross-chain token transfers.
//!
//! Layout: [`config`] and [`keys`] load what the operator wrote; [`chain`] holds the chain backends
//! behind small capability traits; [`router`] relays packets over those traits; [`supervisor`] runs the
//! daemon; [`telemetry`] owns every metric; [`devnet`] starts local chains for the demo and the tests;
//! [`cli`] is the `ferry` command.

pub mod api;
pub mod attestor;
pub mod chain;
pub mod cli;
pub mod config;
pub mod console;
pub mod ibc;
pub mod keys;
pub mod lease;
pub mod progress;
pub mod router;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub mod transfer;
