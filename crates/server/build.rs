//! The UI's files are embedded by `rust-embed`, whose derive reads `ui/` at compile time. Cargo
//! tracks the files it includes, but not a file added to the folder; watching the folder makes
//! `cargo build` pick up new UI modules too.

fn main() {
    println!("cargo:rerun-if-changed=../../ui");
}
