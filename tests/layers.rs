//! The architecture, checked: the core's layers import only the layers
//! below them, the core imports no adapter, and no source file grows past
//! what a reader takes in at once.
//!
//! The layers of `src/core`, from the bottom (see `src/core/mod.rs`):
//! `doc` → `model` → `policy` → `engine` → `history` → `alerting` →
//! `commands` → `text`. A layer may use any layer before it in this list,
//! never one after it; the adapters (`synapse`, `daemon`, `bot`, `app`,
//! `cli`, the history store, the chart, the clock) are never used by the
//! core. Test modules (`tests.rs`, `#[cfg(test)] mod tests`) are left out:
//! they may word what they check with `text`.
//!
//! The check reads the code as text: every `crate::core::<layer>` path
//! outside comments, and `super::` paths that leave a layer's folder.

use std::fs;
use std::path::{Path, PathBuf};

/// The core's layers, bottom first.
const LAYERS: &[&str] = &[
    "doc", "model", "policy", "engine", "history", "alerting", "commands", "text",
];

/// Modules of the crate that are adapters or the edge.
const ADAPTERS: &[&str] = &[
    "synapse", "daemon", "bot", "app", "cli", "history", "chart", "clock", "private",
];

/// Longest source file, in lines before its tests.
const MAX_LINES: usize = 700;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `path` is a test module of its own.
fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n == "tests.rs" || n.to_string_lossy().ends_with("_tests.rs"))
}

/// The code of `text` before its inline test module, without comments.
fn code(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod tests {").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names following `prefix` in `code`, e.g. the layers of `crate::core::`.
fn names_after<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
    code.match_indices(prefix)
        .filter(|(i, _)| {
            !code[..*i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        })
        .map(|(i, _)| {
            let rest = &code[i + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn each_layer_of_the_core_imports_only_the_layers_below_it() {
    let core = src().join("core");
    let mut wrong = Vec::new();
    for (rank, layer) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        rust_files(&core.join(layer), &mut files);
        assert!(!files.is_empty(), "src/core/{layer} has no file");
        for file in files.iter().filter(|f| !is_test_file(f)) {
            let code = code(&fs::read_to_string(file).unwrap());
            let shown = file.strip_prefix(src()).unwrap().display().to_string();
            for used in names_after(&code, "crate::core::") {
                match LAYERS.iter().position(|l| *l == used) {
                    Some(r) if r > rank => {
                        wrong.push(format!("{shown} uses {used}, a layer above {layer}"))
                    }
                    Some(_) => {}
                    None => wrong.push(format!("{shown} uses crate::core::{used}, not a layer")),
                }
            }
            for used in names_after(&code, "crate::") {
                if ADAPTERS.contains(&used) {
                    wrong.push(format!("{shown} uses the adapter crate::{used}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_core_declares_exactly_its_layers() {
    let text = fs::read_to_string(src().join("core/mod.rs")).unwrap();
    let code = code(&text);
    let mut declared = names_after(&code, "pub mod ");
    declared.sort_unstable();
    let mut layers = LAYERS.to_vec();
    layers.sort_unstable();
    assert_eq!(declared, layers, "src/core/mod.rs declares the layers");
}

#[test]
fn no_source_file_is_longer_than_a_reader_takes_in() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter(|f| !is_test_file(f))
        .filter_map(|f| {
            let text = fs::read_to_string(f).unwrap();
            let end = text.find("#[cfg(test)]").unwrap_or(text.len());
            let lines = text[..end].lines().count();
            (lines > MAX_LINES).then(|| format!("{}: {lines} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "longer than {MAX_LINES} lines before their tests:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_check_sees_a_layer_used_from_below() {
    let code = code(
        "use crate::core::text::x;\n// crate::core::commands\nfn f() { crate::core::doc::y() }\n#[cfg(test)]\nmod tests {\n use crate::core::alerting;\n}\n",
    );
    assert_eq!(names_after(&code, "crate::core::"), ["text", "doc"]);
    assert_eq!(
        names_after("synapse_warden::core::x", "crate::core::"),
        Vec::<&str>::new()
    );
}
