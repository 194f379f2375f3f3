//! The exit codes of `streamgate-cli`, distinct per kind of failure so that scripts can tell
//! a busy lock from a dead server.

use streamgate_client::Error;

/// Everything went well.
pub const OK: u8 = 0;
/// A local failure: unreadable `-d @file`, stdout closed...
pub const LOCAL_FAILURE: u8 = 1;
// 2 is clap's exit code for a usage error.
/// `fetch --fail` got an HTTP status of 400 or more (curl's `--fail` code).
pub const HTTP_ERROR: u8 = 22;
/// `lock`: the lock was not granted within `--wait` (sysexits' EX_TEMPFAIL: try again later).
pub const NOT_ACQUIRED: u8 = 75;
/// `lock`: the lock was lost while the command ran; the command was killed.
pub const LOCK_LOST: u8 = 76;
/// A gRPC error exits with this plus the status code: 103 INVALID_ARGUMENT, 104
/// DEADLINE_EXCEEDED, 107 PERMISSION_DENIED, 108 RESOURCE_EXHAUSTED, 112 UNIMPLEMENTED,
/// 114 UNAVAILABLE...
pub const GRPC_BASE: u8 = 100;
/// `lock`: the command could not be executed (shells use the same code).
pub const COMMAND_NOT_EXECUTABLE: u8 = 126;
/// `lock`: the command was not found (shells use the same code).
pub const COMMAND_NOT_FOUND: u8 = 127;
/// `lock`: the command was killed by signal N exits with this plus N (shells do the same).
pub const SIGNAL_BASE: u8 = 128;

/// The exit code for a client error.
pub fn for_error(err: &Error) -> u8 {
    if err.is_not_acquired() {
        return NOT_ACQUIRED;
    }
    // Codes run 0..=16, so the sum stays below 126.
    GRPC_BASE + u8::try_from(err.code() as i32).unwrap_or(0)
}
