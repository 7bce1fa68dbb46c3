//! The checks, one module per area. Each module's `checks()` lists its checks in order.

pub mod account;
pub mod auth;
pub mod case;
pub mod changes;
pub mod client;
pub mod clock;
pub mod committed;
pub mod discovery;
pub mod filters;
pub mod folders;
pub mod listing;
pub mod moves;
pub mod names;
pub mod overwrite;
pub mod pending;
pub mod phantoms;
pub mod range;
pub mod root;
pub mod shapes;
pub mod templink;
pub mod transfer;
pub mod trash;

use crate::check::Check;

/// Every check of the suite, grouped by area.
pub fn all() -> Vec<Check> {
    [
        auth::checks(),
        discovery::checks(),
        root::checks(),
        listing::checks(),
        filters::checks(),
        names::checks(),
        case::checks(),
        folders::checks(),
        transfer::checks(),
        range::checks(),
        overwrite::checks(),
        trash::checks(),
        moves::checks(),
        committed::checks(),
        phantoms::checks(),
        pending::checks(),
        changes::checks(),
        clock::checks(),
        account::checks(),
        templink::checks(),
        shapes::checks(),
        client::checks(),
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    /// Every file in `src/cases/` is a module of this file and its checks are in [`super::all`]:
    /// a case module left out would otherwise never run.
    #[test]
    fn every_case_module_is_registered() {
        let source = include_str!("mod.rs");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cases");
        let mut modules = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.map(|e| e.path()).unwrap_or_default();
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            // A file module `name.rs`, or a directory module `name/mod.rs` (a directory
            // next to `name.rs` holds that module's submodules, registered by it).
            let file_module = path.extension().is_some_and(|e| e == "rs") && name != "mod";
            if file_module || path.join("mod.rs").is_file() {
                modules.push(name.to_string());
            }
        }
        assert!(modules.len() > 10, "case modules found: {modules:?}");
        for name in &modules {
            assert!(
                source.contains(&format!("pub mod {name};")),
                "src/cases/{name}.rs is not declared in src/cases/mod.rs"
            );
            assert!(
                source.contains(&format!("        {name}::checks(),")),
                "the checks of src/cases/{name}.rs are not in cases::all()"
            );
        }
    }
}
