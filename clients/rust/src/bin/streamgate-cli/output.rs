//! Where and how the CLI prints: data on stdout, diagnostics and errors on stderr, as text or
//! as one JSON object per line.

use std::io::Write;

use serde_json::{Value, json};
use streamgate_client::{Error, code_name};

use crate::exit;

/// Whether `err` is a write to a pipe whose reader has closed it (`streamgate-cli ... | head`).
pub fn is_closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The output mode chosen by `--json`.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Writes one line of data to stdout.
    pub fn line(&self, text: &str) -> anyhow::Result<()> {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{text}")?;
        stdout.flush()?;
        Ok(())
    }

    /// Writes one JSON object to stdout, on its own line.
    pub fn json_line(&self, value: &Value) -> anyhow::Result<()> {
        self.line(&value.to_string())
    }

    /// Writes raw bytes to stdout (a fetched body).
    pub fn raw(&self, bytes: &[u8]) -> anyhow::Result<()> {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(bytes)?;
        stdout.flush()?;
        Ok(())
    }

    /// A diagnostic on stderr: text, or `{"event": .., ..}` in JSON mode.
    pub fn note(&self, text: &str, fields: Value) {
        if self.json {
            eprintln!("{fields}");
        } else {
            eprintln!("streamgate-cli: {text}");
        }
    }

    /// Prints a failure on stderr and returns the exit code it maps to.
    pub fn error(&self, err: &anyhow::Error) -> u8 {
        if let Some(e) = err.downcast_ref::<Error>() {
            if self.json {
                let v = json!({"error": {
                    "code": code_name(e.code()),
                    "code_number": e.code() as i32,
                    "message": e.message(),
                    "not_acquired": e.is_not_acquired(),
                }});
                eprintln!("{v}");
            } else {
                eprintln!("streamgate-cli: {e}");
            }
            return exit::for_error(e);
        }
        if self.json {
            eprintln!(
                "{}",
                json!({"error": {"code": "LOCAL", "message": format!("{err:#}")}})
            );
        } else {
            eprintln!("streamgate-cli: {err:#}");
        }
        exit::LOCAL_FAILURE
    }
}
