//! The learning recipes in `configs/learn/` give exactly the options of the
//! runs that produced the shipped models (`docs/results/<task>/learn/`), so
//! `umwelt learn --recipe configs/learn/<task>.toml` learns them again.

use std::path::{Path, PathBuf};

use umwelt_runtime::offline::learn::LearnOptions;
use umwelt_runtime::offline::recipe::LearnRecipe;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Names of the entries of `dir` that `keep` accepts, sorted.
fn names(dir: &Path, keep: impl Fn(&Path) -> Option<String>) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| keep(&e.expect("dir entry").path()))
        .collect();
    v.sort();
    v
}

#[test]
fn every_shipped_model_has_a_recipe_giving_its_runs_options() {
    let results = repo().join("docs/results");
    let recipes = repo().join("configs/learn");
    let learned = names(&results, |p| {
        p.join("learn/learn.json")
            .is_file()
            .then(|| p.file_name()?.to_str().map(String::from))?
    });
    let recipe_files = names(&recipes, |p| {
        (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(String::from))?
    });
    assert_eq!(learned.len(), 8, "{learned:?}");
    assert_eq!(learned, recipe_files);
    for task in &learned {
        let recorded = std::fs::read_to_string(results.join(task).join("learn/learn.json"))
            .expect("learn.json");
        let recorded: serde_json::Value = serde_json::from_str(&recorded).expect("json");
        let mut recorded: LearnOptions =
            serde_json::from_value(recorded["options"].clone()).expect("options");
        let recipe = LearnRecipe::load(&recipes.join(format!("{task}.toml"))).expect("recipe");
        let mut options = recipe.options().expect("options");
        // A robot config is recorded as the path the run was given (from
        // the repository's root), the recipe's relative to its file: the
        // same file either way.
        let file = |p: Option<std::path::PathBuf>| {
            p.map(|p| {
                repo()
                    .join(&p)
                    .canonicalize()
                    .unwrap_or_else(|e| panic!("{task}: {}: {e}", p.display()))
            })
        };
        assert_eq!(
            file(options.robot_config.take()),
            file(recorded.robot_config.take()),
            "{task}"
        );
        assert_eq!(options, recorded, "{task}");
        // And the checkpoint it made ships (`control_config` loads each
        // against its run config).
        assert!(
            repo()
                .join(format!("models/checkpoints/{task}.uwwm"))
                .is_file(),
            "{task}"
        );
    }
}
