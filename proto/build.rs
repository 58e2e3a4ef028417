//! Compiles the .proto files with protox (pure Rust), so no protoc has to be installed.
//! Without the `grpc` feature there is nothing to generate (only `names` is built).
//!
//! Each package becomes one flat module of `lib.rs` (`crate::rollout`, `crate::hooks`), but
//! prost refers to a message of another package by its nested path
//! (`super::super::rollout::v1::…`). So the packages that import another (`hooks.proto`
//! imports `rollout.proto`) are compiled in a second pass that maps the imported package to
//! its module (`extern_path`), into a directory of their own, from which only their own file
//! is copied next to the others.

/// A .proto file that imports another package: (file, its package, the imported packages
/// and the modules that hold them).
#[cfg(feature = "grpc")]
type Importing = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

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
    let importing: [Importing; 1] = [(
        "proto/moor/hooks.proto",
        "moor.hooks.v1",
        &[(".moor.rollout.v1", "crate::rollout")],
    )];
    for p in protos.iter().chain(importing.iter().map(|(p, _, _)| p)) {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    let out = std::env::var("OUT_DIR")?;
    for (file, package, externs) in importing {
        let dir = format!("{out}/{package}");
        std::fs::create_dir_all(&dir)?;
        let mut config = tonic_prost_build::configure()
            .build_server(true)
            .build_client(true)
            .out_dir(&dir);
        for (proto_path, rust_path) in externs {
            config = config.extern_path(*proto_path, *rust_path);
        }
        config.compile_fds(protox::compile([file], ["proto"])?)?;
        std::fs::copy(format!("{dir}/{package}.rs"), format!("{out}/{package}.rs"))?;
    }
    Ok(())
}

#[cfg(not(feature = "grpc"))]
fn main() {}
