//! Records the target triple the binary is built for: `onyx self update` picks the release archive
//! whose name carries it.
// Cargo reads a build script's directives from its stdout.
#![allow(clippy::print_stdout)]
fn main() {
    println!(
        "cargo:rustc-env=ONYX_BUILD_TARGET={}",
        std::env::var("TARGET").expect("cargo sets TARGET for build scripts")
    );
    println!("cargo:rerun-if-changed=build.rs");
}
