//! The `skiff` command-line interface.
fn main() {}
