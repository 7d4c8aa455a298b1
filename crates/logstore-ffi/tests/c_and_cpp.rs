//! Guards the C and C++ interfaces as C and C++ programs see them: builds
//! the test programs in `tests/c` and `tests/cpp` with the system's gcc and
//! g++ against the libraries this crate just built, runs them on real files,
//! and runs them again under valgrind's memcheck (no leaks, no invalid
//! accesses).

use std::path::{Path, PathBuf};
use std::process::Command;

const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The directory holding the `liblogstore_ffi.{so,a}` that `cargo test`
/// built along with this test: its own directory, `deps/`. (The copies in
/// the profile directory above are refreshed only by `cargo build`.)
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().to_path_buf();
    for lib in ["liblogstore_ffi.so", "liblogstore_ffi.a"] {
        assert!(
            dir.join(lib).exists(),
            "{lib} not found in {}",
            dir.display()
        );
    }
    dir
}

enum Program {
    /// The C test, linked against the shared library.
    C,
    /// The C++ test at this language standard, linked statically.
    Cpp(u32),
}

/// Compiles `program` with warnings as errors and returns the executable.
fn build(program: Program, out_dir: &Path) -> PathBuf {
    let include = Path::new(CRATE_DIR).join("include");
    let libs = lib_dir();
    let (exe, mut cmd) = match program {
        Program::C => {
            let exe = out_dir.join("test_logstore_c");
            let mut cmd = Command::new("gcc");
            cmd.args(["-std=c11", "-D_DEFAULT_SOURCE", "-pedantic"])
                .arg(Path::new(CRATE_DIR).join("tests/c/test_logstore.c"))
                .arg(format!("-L{}", libs.display()))
                .arg(format!("-Wl,-rpath,{}", libs.display()))
                .arg("-llogstore_ffi");
            (exe, cmd)
        }
        Program::Cpp(std) => {
            let exe = out_dir.join(format!("test_logstore_cpp{std}"));
            let mut cmd = Command::new("g++");
            cmd.arg(format!("-std=c++{std}"))
                .arg("-pedantic")
                .arg(Path::new(CRATE_DIR).join("tests/cpp/test_logstore.cpp"))
                .arg(libs.join("liblogstore_ffi.a"));
            (exe, cmd)
        }
    };
    cmd.args(["-g", "-Wall", "-Wextra", "-Werror"])
        .arg(format!("-I{}", include.display()))
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe);
    let output = cmd.output().expect("the C/C++ compiler runs");
    assert!(
        output.status.success(),
        "compiling failed: {cmd:?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

/// Runs `exe` on a fresh scratch directory, optionally under valgrind,
/// and fails the test unless it exits 0.
fn run(exe: &Path, valgrind: bool) {
    let scratch = tempfile::tempdir().unwrap();
    let mut cmd = if valgrind {
        let mut cmd = Command::new("valgrind");
        cmd.args([
            "--quiet",
            "--tool=memcheck",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--error-exitcode=99",
        ])
        .arg(exe);
        cmd
    } else {
        Command::new(exe)
    };
    // cargo test's LD_LIBRARY_PATH may name an older build of the library
    // in the profile directory; the program's run path names this one.
    let output = cmd
        .arg(scratch.path())
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("the program runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    eprintln!("{}", stdout.trim_end());
}

/// Whether valgrind can be run. In CI (`CI` set) its absence is a failure:
/// `.ci/run` installs it.
fn have_valgrind() -> bool {
    let found = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "valgrind is required in CI (.ci/run installs it)"
        );
        eprintln!("SKIPPED: valgrind is not installed; memcheck runs of the C/C++ tests skipped");
    }
    found
}

fn build_and_run(program: Program) {
    let out = tempfile::tempdir().unwrap();
    let exe = build(program, out.path());
    run(&exe, false);
    if have_valgrind() {
        run(&exe, true);
    }
}

#[test]
fn c_program_passes_and_is_clean_under_memcheck() {
    build_and_run(Program::C);
}

#[test]
fn cpp17_program_passes_and_is_clean_under_memcheck() {
    build_and_run(Program::Cpp(17));
}

#[test]
fn cpp20_program_passes() {
    // The C++20 build adds the std::span overloads; the C++17 build already
    // runs under memcheck.
    let out = tempfile::tempdir().unwrap();
    run(&build(Program::Cpp(20), out.path()), false);
}

#[test]
fn c_header_compiles_as_cpp() {
    // logstore.h must be usable from C++ too (extern "C", no C-only syntax).
    let out = tempfile::tempdir().unwrap();
    let src = out.path().join("only_header.cpp");
    std::fs::write(
        &src,
        "#include <logstore.h>\nint main() { return logstore_version() == nullptr; }\n",
    )
    .unwrap();
    let status = Command::new("g++")
        .args([
            "-std=c++11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-c",
        ])
        .arg(format!("-I{CRATE_DIR}/include"))
        .arg(&src)
        .arg("-o")
        .arg(out.path().join("only_header.o"))
        .status()
        .unwrap();
    assert!(status.success());
}

/// The first code block after `heading` in the README.
fn readme_block(heading: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(CRATE_DIR).join("../../README.md")).unwrap();
    let after = readme
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no {heading}"))
        .1;
    let body = after.split_once("```").unwrap().1;
    let body = body.split_once('\n').unwrap().1;
    body.split_once("\n```").unwrap().0.to_string()
}

/// Compiles a README example and runs it in a fresh directory; returns
/// what it printed.
fn run_readme_example(heading: &str, compiler: &str, file: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join(file);
    std::fs::write(&src, readme_block(heading)).unwrap();
    let exe = dir.path().join("example");
    let libs = lib_dir();
    let mut cmd = Command::new(compiler);
    cmd.args(["-Wall", "-Wextra", "-Werror"])
        .arg(format!("-I{CRATE_DIR}/include"))
        .arg(&src)
        .arg(format!("-L{}", libs.display()))
        .arg(format!("-Wl,-rpath,{}", libs.display()))
        .args(["-llogstore_ffi", "-o"])
        .arg(&exe);
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{cmd:?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = Command::new(&exe)
        .current_dir(dir.path())
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn readme_c_example_runs() {
    let out = run_readme_example("### C", "gcc", "example.c");
    assert_eq!(out, "read 5 bytes\n0: hello\n1: a\n2: b\n");
}

#[test]
fn readme_cpp_example_runs() {
    let out = run_readme_example("### C++", "g++", "example.cpp");
    assert_eq!(out, "next: 3\n0: hello\n1: a\n2: b\n");
}

#[test]
fn the_c_test_calls_every_function_in_the_header() {
    let header = std::fs::read_to_string(Path::new(CRATE_DIR).join("include/logstore.h")).unwrap();
    let test =
        std::fs::read_to_string(Path::new(CRATE_DIR).join("tests/c/test_logstore.c")).unwrap();
    let functions: Vec<&str> = header
        .lines()
        .filter(|l| !l.starts_with([' ', '/', '*', '#', '}']) && !l.starts_with("typedef"))
        .filter_map(|l| l.split_once('(').map(|(decl, _)| decl))
        .filter_map(|decl| decl.rsplit([' ', '*']).next())
        .collect();
    assert!(functions.len() > 25, "{functions:?}");
    let missing: Vec<_> = functions
        .iter()
        .filter(|f| !test.contains(&format!("{f}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "not called by tests/c/test_logstore.c: {missing:?}"
    );
}
