//! The container shim as a standalone executable (tests use it; `runlet shim` is the same function).

fn main() {
    runlet_agent::shim_main(std::env::args_os().skip(1))
}
