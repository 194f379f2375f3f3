//! `streamgate-cli lock NAME -- COMMAND...`: runs a command while a `Hold` stream keeps the
//! lock, so the lease is renewed for as long as the command runs, however long that is.

use std::time::Duration;

use clap::Args;
use serde_json::json;
use streamgate_client::HoldOptions;

use crate::exit;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct LockArgs {
    /// The lock's name.
    name: String,

    /// Lease length; the server renews it while the command runs (default: the server's, 10 s).
    #[arg(long, value_parser = humantime::parse_duration)]
    ttl: Option<Duration>,

    /// How long to queue for the lock; default: try once.
    #[arg(long, value_parser = humantime::parse_duration)]
    wait: Option<Duration>,

    /// Who holds the lock, for diagnostics (default: streamgate-cli and this process id).
    #[arg(long)]
    owner: Option<String>,

    /// Take a permit of a semaphore of N permits instead of a mutex (at most N holders).
    #[arg(long, value_name = "N", conflicts_with_all = ["read", "write"])]
    limit: Option<u32>,

    /// With --limit: how many permits to take (default 1).
    #[arg(long, requires = "limit")]
    permits: Option<u32>,

    /// Take a read share of a read-write lock (with other readers, no writer).
    #[arg(long, conflicts_with = "write")]
    read: bool,

    /// Take the write side of a read-write lock (alone).
    #[arg(long)]
    write: bool,

    /// The command and its arguments; it gets STREAMGATE_FENCING_TOKEN and STREAMGATE_LOCK_NAME.
    #[arg(last = true, required = true, num_args = 1..)]
    command: Vec<String>,
}

pub async fn run(server: &crate::Server, args: LockArgs, out: &Output) -> anyhow::Result<u8> {
    let mut options = HoldOptions::new().owner(
        args.owner
            .clone()
            .unwrap_or_else(|| format!("streamgate-cli pid {}", std::process::id())),
    );
    if let Some(ttl) = args.ttl {
        options = options.ttl(ttl);
    }
    if let Some(limit) = args.limit {
        options = options.semaphore(limit);
    }
    if let Some(permits) = args.permits {
        options = options.permits(permits);
    }
    if args.read {
        options = options.read();
    }
    if args.write {
        options = options.write();
    }
    // Unlike the library's `hold` (which waits until granted), the CLI tries once unless told
    // to wait: a script that forgot `--wait` should fail fast rather than hang.
    options = options.wait(args.wait.unwrap_or(Duration::ZERO));

    let client = server.connect().await?;
    let mut hold = client.hold(&args.name, options).await?;
    let token = hold.fencing_token();
    out.note(
        &format!("holding lock {:?} (fencing token {token})", args.name),
        json!({"event": "acquired", "name": args.name, "fencing_token": token}),
    );

    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no command given after `--`"))?;
    let spawned = tokio::process::Command::new(program)
        .args(rest)
        .env("STREAMGATE_FENCING_TOKEN", token.to_string())
        .env("STREAMGATE_LOCK_NAME", &args.name)
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let code = match e.kind() {
                std::io::ErrorKind::NotFound => exit::COMMAND_NOT_FOUND,
                _ => exit::COMMAND_NOT_EXECUTABLE,
            };
            out.note(
                &format!("cannot run {program:?}: {e}"),
                json!({"event": "spawn_failed", "command": program, "message": e.to_string()}),
            );
            release(hold, &args.name, out).await;
            return Ok(code);
        }
    };

    let code = tokio::select! {
        status = child.wait() => exit_code(status?),
        reason = hold.lost() => {
            // The command is no longer protected: stop it rather than let it write unfenced.
            out.note(
                &format!("lock {:?} lost ({reason}); killing the command", args.name),
                json!({"event": "lost", "name": args.name, "reason": reason}),
            );
            let _ = child.kill().await;
            return Ok(exit::LOCK_LOST);
        }
    };
    release(hold, &args.name, out).await;
    Ok(code)
}

/// Releases and waits for the confirmation, so that the lock is free when the CLI exits; a
/// failure only warns, as the server releases a disconnected hold anyway.
async fn release(hold: streamgate_client::HoldHandle, name: &str, out: &Output) {
    match hold.release().await {
        Ok(released) => out.note(
            &format!(
                "released lock {name:?}{}",
                if released { "" } else { " (it had expired)" }
            ),
            json!({"event": "released", "name": name, "released": released}),
        ),
        Err(e) => out.note(
            &format!("release of {name:?} failed ({e}); the server frees it on disconnect"),
            json!({"event": "release_failed", "name": name, "message": e.to_string()}),
        ),
    }
}

fn exit_code(status: std::process::ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code & 0xff).unwrap_or(exit::LOCAL_FAILURE);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return exit::SIGNAL_BASE.saturating_add(u8::try_from(signal).unwrap_or(0));
        }
    }
    exit::LOCAL_FAILURE
}
