//! `runlet-shim`: the container supervisor alone (`runlet shim` without the rest of runlet), so that the
//! process the node agent starts for every container is small and quick to exec. Same code, same arguments.

fn main() {
    runlet_agent::shim_main(std::env::args_os().skip(1))
}
