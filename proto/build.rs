//! Compiles the .proto files with protox (pure Rust), so no protoc has to be installed.
//! Without the `grpc` feature there is nothing to generate (only `names` is built).

#[cfg(feature = "grpc")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/moor/raft.proto",
        "proto/moor/api.proto",
        "proto/moor/site.proto",
        "proto/moor/workflow.proto",
        "proto/moor/rollout.proto",
        "proto/moor/auth.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}

#[cfg(not(feature = "grpc"))]
fn main() {}
