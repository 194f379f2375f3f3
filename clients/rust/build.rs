//! Generates the tonic client from the repository's `proto/` with protox (no system `protoc`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // proto/ is a link to the repository's proto/ directory: `cargo package` copies the files
    // behind it, so the published crate builds on its own.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    let protos: Vec<_> = ["fetch", "lock", "sensor"]
        .iter()
        .map(|p| root.join(format!("streamgate/v1/{p}.proto")))
        .collect();
    for p in &protos {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    let fds = protox::compile(&protos, [&root])?;
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(fds)?;
    Ok(())
}
