//! Gives the agent's code an identity, `RUNLET_SHIM_BUILD`: a hash of this crate's sources and manifest.
//!
//! The container shim can run from a small `runlet-shim` executable next to `runlet` instead of from
//! `runlet` itself (much cheaper to start, see `runtime::shim`). A `runlet` rebuilt alone (`cargo run --bin
//! runlet`) would then sit next to an older `runlet-shim`; the agent asks the shim for this identity and uses it
//! only when both were built from the same sources.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let mut files = Vec::new();
    collect(Path::new("src"), &mut files);
    files.push(PathBuf::from("Cargo.toml"));
    files.sort();
    let mut hash = Fnv1a::default();
    for file in &files {
        hash.write(file.to_string_lossy().as_bytes());
        // A file that vanished between the listing and the read still changes the identity.
        hash.write(&fs::read(file).unwrap_or_default());
    }
    println!("cargo:rustc-env=RUNLET_SHIM_BUILD={:016x}", hash.0);
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// 64-bit FNV-1a: stable across toolchains (unlike `std`'s hasher), and enough to tell builds apart.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
