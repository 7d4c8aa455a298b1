//! Guards the install step: `scripts/install.sh` lays out the libraries,
//! headers, pkg-config file and CMake package so that the C++ example
//! builds with `find_package(logstore)` and a C program with `pkg-config`.

use std::path::{Path, PathBuf};
use std::process::Command;

const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Where `cargo test` put the libraries it built with this test.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

/// Runs `cmd`, failing the test with its output unless it succeeds;
/// returns its standard output.
fn ok(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Whether `tool` runs; in CI (`CI` set) its absence is a failure.
fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{tool} is required in CI");
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

/// Installs into a fresh prefix from the libraries this test run built.
fn install() -> tempfile::TempDir {
    let prefix = tempfile::tempdir().unwrap();
    ok(
        Command::new(Path::new(CRATE_DIR).join("scripts/install.sh"))
            .arg(prefix.path())
            .env("LOGSTORE_LIB_DIR", lib_dir()),
    );
    for file in [
        "lib/liblogstore.so",
        "lib/liblogstore.a",
        "include/logstore.h",
        "include/logstore.hpp",
        "lib/pkgconfig/logstore.pc",
        "lib/cmake/logstore/logstoreConfig.cmake",
        "lib/cmake/logstore/logstoreConfigVersion.cmake",
    ] {
        assert!(prefix.path().join(file).is_file(), "{file} not installed");
    }
    prefix
}

/// Configures, builds and runs the C++ example against `prefix`; returns
/// the `ldd` listing of the executable.
fn build_and_run_example(prefix: &Path, static_lib: bool) -> String {
    let build = tempfile::tempdir().unwrap();
    let source = Path::new(CRATE_DIR).join("examples/cpp");
    ok(Command::new("cmake")
        .arg("-S")
        .arg(&source)
        .arg("-B")
        .arg(build.path())
        .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()))
        .arg(format!(
            "-DLOGSTORE_EXAMPLE_STATIC={}",
            if static_lib { "ON" } else { "OFF" }
        )));
    ok(Command::new("cmake").arg("--build").arg(build.path()));
    let exe = build.path().join("logstore_example");
    let data = tempfile::tempdir().unwrap();
    let out = ok(Command::new(&exe)
        .arg(data.path().join("log"))
        .env_remove("LD_LIBRARY_PATH"));
    assert_eq!(out, "next position: 2\n1: world\nreplayed 1 record(s)\n");
    ok(Command::new("ldd").arg(&exe))
}

#[test]
fn cpp_example_builds_with_find_package_and_runs() {
    if !have("cmake") {
        return;
    }
    let prefix = install();
    let ldd = build_and_run_example(prefix.path(), false);
    let installed = format!("{}/lib/liblogstore.so", prefix.path().display());
    assert!(ldd.contains(&installed), "{ldd}");
    let ldd = build_and_run_example(prefix.path(), true);
    assert!(!ldd.contains("liblogstore"), "{ldd}");
}

#[test]
fn c_program_builds_with_pkg_config_and_runs() {
    if !have("pkg-config") {
        return;
    }
    let prefix = install();
    let pkg = |flag: &str| -> Vec<String> {
        let out = ok(Command::new("pkg-config")
            .arg(flag)
            .arg("logstore")
            .env("PKG_CONFIG_PATH", prefix.path().join("lib/pkgconfig")));
        out.split_whitespace().map(String::from).collect()
    };
    let exe = prefix.path().join("test_logstore_c");
    ok(Command::new("gcc")
        .args(["-std=c11", "-D_DEFAULT_SOURCE"])
        .args(pkg("--cflags"))
        .arg(Path::new(CRATE_DIR).join("tests/c/test_logstore.c"))
        .args(pkg("--libs"))
        .arg(format!(
            "-Wl,-rpath,{}",
            prefix.path().join("lib").display()
        ))
        .args(["-lpthread", "-o"])
        .arg(&exe));
    let ldd = ok(Command::new("ldd").arg(&exe));
    assert!(
        ldd.contains(&format!("{}/lib/liblogstore.so", prefix.path().display())),
        "{ldd}"
    );
    let scratch = tempfile::tempdir().unwrap();
    let out = ok(Command::new(&exe)
        .arg(scratch.path())
        .env_remove("LD_LIBRARY_PATH"));
    assert!(out.contains("checks passed"), "{out}");
}
