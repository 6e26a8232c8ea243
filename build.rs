//! The templates and the runtime are embedded with `include_dir!`, which stable Rust cannot
//! track: rebuild when anything under them changes.

fn main() {
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=runtime/src");
    println!("cargo:rerun-if-changed=runtime/Cargo.toml");
}
