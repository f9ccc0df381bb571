//! Compiles every message catalogue in `locales/` into the binary, so adding a language is
//! adding one file (`locales/<language>.ftl`) and a deployment can never lose one.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn main() {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let locales = Path::new(&manifest_dir).join("locales");
    println!("cargo::rerun-if-changed={}", locales.display());

    let mut files: Vec<_> = fs::read_dir(&locales)
        .expect("the locales/ folder exists")
        .map(|entry| entry.expect("locales/ can be listed").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "ftl"))
        .collect();
    files.sort();

    let mut code = String::from("pub(crate) static CATALOGUE_FILES: &[(&str, &str)] = &[\n");
    for path in &files {
        println!("cargo::rerun-if-changed={}", path.display());
        let tag = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .expect("catalogue names are UTF-8");
        writeln!(
            code,
            "    ({tag:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    code.push_str("];\n");

    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("catalogues.rs");
    fs::write(out, code).expect("OUT_DIR is writable");
}
