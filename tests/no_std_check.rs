//! The sans-IO cores stay `no_std`: build and run the `nostd-check` binary,
//! a `no_std`, `no_main` program with its own panic handler that fails to
//! link if anything it uses pulls in `std`.

use std::path::Path;
use std::process::Command;

#[test]
fn no_std_check_binary_builds_and_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nostd-check");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--manifest-path"])
        .arg(root.join("nostd-check/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "the no_std check does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = Command::new(target.join("release/cablekey-nostd-check"))
        .status()
        .expect("run the no_std check binary");
    assert_eq!(status.code(), Some(0), "the no_std check binary failed");
}
