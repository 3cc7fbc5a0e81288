//! Compiles `proto/hotline/v1/*.proto` into Rust with `protox` (a pure-Rust
//! protobuf compiler, so no system `protoc` is needed) and `tonic-prost-build`.
//!
//! Writes to `OUT_DIR`:
//! - `hotline.v1.rs`: prost messages plus tonic clients and servers;
//! - `hotline_v1_descriptor.bin`: the encoded `FileDescriptorSet`, imports and
//!   source info (comments) included, for tonic-reflection.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::{env, fs};

/// Name of the descriptor set file in `OUT_DIR`, without `.bin`; `src/lib.rs` includes it.
const DESCRIPTOR_SET_NAME: &str = "hotline_v1_descriptor";

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // The contract lives at the workspace root, shared with non-Rust clients.
    let proto_root = manifest_dir.join("../../proto");
    let package_dir = proto_root.join("hotline/v1");

    // Cargo scans a directory given to rerun-if-changed recursively, so added,
    // removed and edited .proto files all trigger a rebuild.
    println!("cargo:rerun-if-changed={}", package_dir.display());
    println!("cargo:rerun-if-changed=build.rs");

    let protos = proto_files(&package_dir)?;

    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(&protos)?;

    // Written by us rather than by prost-build's file_descriptor_set_path, which
    // only applies when prost-build runs protoc itself; protox's encoder also
    // keeps any custom options.
    fs::write(
        out_dir.join(format!("{DESCRIPTOR_SET_NAME}.bin")),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(compiler.file_descriptor_set())?;

    Ok(())
}

/// Lists the `.proto` files directly in `dir`, sorted so output is deterministic.
fn proto_files(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(format!("no .proto files in {}", dir.display()).into());
    }
    files.sort();
    Ok(files)
}
