//! Finds libsrtp2 with pkg-config and compiles the C shim against it.
//! No libsrtp2 is a hard error: the interop tests must not silently skip.

fn main() {
    let lib = pkg_config::Config::new()
        .atleast_version("2.0")
        .probe("libsrtp2")
        .unwrap_or_else(|e| {
            panic!(
                "libsrtp2 not found by pkg-config ({e}); install it (Debian: \
                 apt-get install libsrtp2-dev pkg-config) — the SRTP interop \
                 tests and benchmark need it"
            )
        });
    let mut build = cc::Build::new();
    build.file("shim.c").warnings(true).extra_warnings(true);
    for dir in &lib.include_paths {
        build.include(dir);
    }
    build.compile("cablekey_libsrtp_shim");
    println!("cargo:rerun-if-changed=shim.c");
}
