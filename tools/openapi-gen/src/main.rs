//! `cargo run -p runlet-openapi-gen`: writes the OpenAPI documents into `crates/apiserver/openapi/`.

use std::path::Path;

fn main() -> std::process::ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join(runlet_openapi_gen::OUT_DIR);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("creating {}: {e}", dir.display());
        return std::process::ExitCode::FAILURE;
    }
    for doc in runlet_openapi_gen::documents() {
        let path = dir.join(runlet_openapi_gen::file_name(doc.path));
        if let Err(e) = std::fs::write(&path, runlet_openapi_gen::render(&doc.value)) {
            eprintln!("writing {}: {e}", path.display());
            return std::process::ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    std::process::ExitCode::SUCCESS
}
