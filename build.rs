//! Compiles `proto/` with protox (pure Rust, so no system `protoc` is needed) and writes the
//! file descriptor set that the reflection services serve.

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &[
    "proto/streamgate/v1/fetch.proto",
    "proto/streamgate/v1/lock.proto",
    "proto/streamgate/v1/sensor.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("streamgate_descriptor.bin"),
        fds.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(false)
        // Fetch bodies stay `Bytes` from the decoder to reqwest and from reqwest to the
        // encoder: no copy of a body on the server's own path.
        .bytes(".streamgate.v1.FetchRequest.body")
        .bytes(".streamgate.v1.FetchResponse.body")
        .compile_fds(fds)?;
    Ok(())
}
