//! Compiles every `.proto` file of `moor-proto` with protox (pure Rust, as `moor-proto`
//! does) into a descriptor set for the `proto` target, and writes the list of every message
//! they declare as one `messages!` invocation. The list is generated, not written by hand,
//! so a message added to a `.proto` file is fuzzed from its first build; a new package
//! stops the build here until it is given its module in `PACKAGES`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use prost::Message;
use prost_types::DescriptorProto;

/// Each protobuf package and the module of `moor-proto` that holds its generated code.
const PACKAGES: &[(&str, &str)] = &[
    ("moor.raft.v1", "raft"),
    ("moor.api.v1", "api"),
    ("moor.workflow.v1", "workflow"),
    ("moor.rollout.v1", "rollout"),
    ("moor.site.v1", "site"),
    ("moor.auth.v1", "auth"),
    ("moor.hooks.v1", "hooks"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let include = PathBuf::from("../proto/proto");
    let dir = include.join("moor");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "proto"));
    files.sort();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, [&include])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("moor.fds"), fds.encode_to_vec())?;

    let modules: BTreeMap<&str, &str> = PACKAGES.iter().copied().collect();
    let mut list = String::from("messages! {\n");
    for file in &fds.file {
        let package = file.package();
        let Some(module) = modules.get(package) else {
            return Err(format!(
                "{}: package {package} has no module in fuzz/build.rs PACKAGES: add the module of moor-proto that includes it",
                file.name()
            )
            .into());
        };
        for message in &file.message_type {
            add(
                &mut list,
                package,
                &format!("moor_proto::{module}"),
                "",
                message,
            )?;
        }
    }
    list.push_str("}\n");
    std::fs::write(out.join("messages.rs"), list)?;
    Ok(())
}

/// One line per message: its full protobuf name and its Rust path. prost puts the types
/// nested in `Outer` in a module `outer`; map entries are not types of their own.
fn add(
    list: &mut String,
    package: &str,
    rust_module: &str,
    prefix: &str,
    message: &DescriptorProto,
) -> Result<(), std::fmt::Error> {
    if message.options.as_ref().is_some_and(|o| o.map_entry()) {
        return Ok(());
    }
    let name = message.name();
    writeln!(
        list,
        "    \"{package}.{prefix}{name}\" => {rust_module}::{name},"
    )?;
    let nested_module = format!("{rust_module}::{}", snake_case(name));
    for nested in &message.nested_type {
        add(
            list,
            package,
            &nested_module,
            &format!("{prefix}{name}."),
            nested,
        )?;
    }
    Ok(())
}

/// prost's module name for a message's nested types: `ListResponse` → `list_response`.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
