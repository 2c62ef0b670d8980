//! The house rules, checked on the source tree: small files, one-way
//! imports (no circles; the planner below control), the protocol crate free
//! of zenoh/burn/rapier, the driver kit free of burn/rapier/the runtime, and
//! one definition of the control tick.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace root (this crate's parent).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ has a parent")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The crates' library and binary sources (not their `tests/` folders).
fn source_dirs() -> Vec<PathBuf> {
    ["protocol", "driver", "sim", "models", "runtime"]
        .iter()
        .map(|c| root().join(c).join("src"))
        .collect()
}

/// A file of tests: under a `tests/` folder, or named `tests.rs`.
fn is_test_file(p: &Path) -> bool {
    p.components().any(|c| c.as_os_str() == "tests")
        || p.file_name().is_some_and(|n| n == "tests.rs")
}

/// The file's code before its `#[cfg(test)]` module, without comments.
fn code_of(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap();
    let code = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    code.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_source_file_is_over_600_lines() {
    let mut long = Vec::new();
    for dir in source_dirs() {
        for f in rust_files(&dir) {
            if is_test_file(&f) {
                continue;
            }
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            if n > 600 {
                long.push(format!("{} ({n} lines)", f.display()));
            }
        }
    }
    assert!(long.is_empty(), "files over 600 lines: {long:#?}");
}

#[test]
fn the_protocol_crate_depends_on_no_transport_model_or_simulator() {
    let manifest = std::fs::read_to_string(root().join("protocol/Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&manifest).unwrap();
    let deps = manifest["dependencies"].as_table().unwrap();
    for heavy in ["zenoh", "burn", "rapier3d", "umwelt-runtime", "umwelt-sim"] {
        assert!(
            !deps.contains_key(heavy),
            "umwelt-protocol depends on {heavy}"
        );
    }
    // The dependency list itself, so that a new one is a deliberate choice.
    let names: BTreeSet<&str> = deps.keys().map(String::as_str).collect();
    assert!(!names.is_empty());
}

#[test]
fn the_driver_kit_depends_on_no_model_simulator_or_runtime() {
    // A Rust driver author pulls in umwelt-driver alone: the protocol and
    // zenoh, nothing of the runtime's weight.
    let manifest = std::fs::read_to_string(root().join("driver/Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&manifest).unwrap();
    for section in ["dependencies", "dev-dependencies"] {
        let deps = manifest[section].as_table().unwrap();
        for heavy in [
            "burn",
            "rapier3d",
            "umwelt-runtime",
            "umwelt-sim",
            "umwelt-models",
        ] {
            assert!(
                !deps.contains_key(heavy),
                "umwelt-driver's {section} include {heavy}"
            );
        }
    }
    let deps = manifest["dependencies"].as_table().unwrap();
    let names: BTreeSet<&str> = deps.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["thiserror", "tracing", "umwelt-protocol", "zenoh"])
    );
}

#[test]
fn the_planner_never_imports_control_or_anything_above_it() {
    let plan = root().join("runtime/src/plan");
    for f in rust_files(&plan) {
        let code = std::fs::read_to_string(&f).unwrap();
        for above in [
            "crate::control",
            "crate::offline",
            "crate::nodes",
            "crate::cli",
        ] {
            assert!(
                !code.contains(above),
                "{} uses {above}: the planner sits below control",
                f.display()
            );
        }
    }
}

#[test]
fn the_tick_decision_is_written_once() {
    // The safety filter is applied to a controller's proposal in exactly
    // one place, `control::tick::decide`; the loop and in-process episodes
    // both call it.
    let src = root().join("runtime/src");
    let mut filters = Vec::new();
    let mut callers = BTreeSet::new();
    for f in rust_files(&src) {
        let code = code_of(&f);
        let rel = f.strip_prefix(&src).unwrap().display().to_string();
        if code.contains("safety.filter(") {
            filters.push(rel.clone());
        }
        if code.contains("tick::decide(") {
            callers.insert(rel);
        }
    }
    assert_eq!(filters, ["control/tick.rs"]);
    assert!(callers.contains("control/run_loop.rs"), "{callers:?}");
    assert!(callers.contains("offline/episode.rs"), "{callers:?}");
}

/// A crate's module graph: module path (as `a::b`) -> modules it uses.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let module_of = |f: &Path| -> Vec<String> {
        let rel = f.strip_prefix(src).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if matches!(
            parts.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            parts.pop();
        }
        parts
    };
    let files: Vec<PathBuf> = rust_files(src)
        .into_iter()
        .filter(|f| !f.starts_with(src.join("bin")) && !is_test_file(f))
        .collect();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(f)).collect();
    // The longest prefix of `path` that is a module file.
    let resolve = |path: &[String]| -> Option<Vec<String>> {
        (1..=path.len())
            .rev()
            .map(|k| path[..k].to_vec())
            .find(|p| modules.contains(p))
    };
    let mut graph = BTreeMap::new();
    for f in &files {
        let me = module_of(f);
        let is_dir_module = matches!(
            f.file_name().and_then(|n| n.to_str()),
            Some("mod.rs" | "lib.rs" | "main.rs")
        );
        // `super` of a file `a/b.rs` is `a`; of `a/mod.rs` it is the crate.
        let parent: Vec<String> = if is_dir_module {
            me[..me.len().saturating_sub(1)].to_vec()
        } else {
            me[..me.len() - 1].to_vec()
        };
        let code = code_of(f);
        let mut deps = BTreeSet::new();
        for (anchor, base) in [("crate::", Vec::new()), ("super::", parent.clone())] {
            let mut rest = code.as_str();
            while let Some(i) = rest.find(anchor) {
                let before = rest[..i].chars().last();
                rest = &rest[i + anchor.len()..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                // `crate::a::b::{c, d}`: the path, then each lower-case item.
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                let mut path: Vec<String> = base.clone();
                path.extend(
                    rest[..end]
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
                let mut targets = vec![path.clone()];
                if rest[end..].starts_with('{')
                    && let Some(close) = rest[end..].find('}')
                {
                    for item in rest[end + 1..end + close].split(',') {
                        let item = item.trim().split("::").next().unwrap_or("").trim();
                        if item.starts_with(|c: char| c.is_ascii_lowercase()) && item != "self" {
                            let mut p = path.clone();
                            p.push(item.to_string());
                            targets.push(p);
                        }
                    }
                }
                for t in targets {
                    if let Some(m) = resolve(&t)
                        && m != me
                    {
                        deps.insert(m.join("::"));
                    }
                }
            }
        }
        graph.insert(me.join("::"), deps);
    }
    graph
}

/// The graph's cycles (strongly connected components of two or more).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm; the graphs are small, recursion is fine.
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn the_cycle_finder_finds_a_planted_circle() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
    .collect();
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
}

#[test]
fn the_module_graph_sees_the_control_loops_imports() {
    let g = module_graph(&root().join("runtime/src"));
    let run_loop = &g["control::run_loop"];
    assert!(run_loop.contains("control::tick"), "{run_loop:?}");
    assert!(run_loop.contains("control::loop_inbox"), "{run_loop:?}");
    let build = &g["control::build"];
    assert!(
        build.contains("plan::learned") || build.contains("plan"),
        "{build:?}"
    );
}

#[test]
fn no_crate_has_an_import_circle() {
    for src in source_dirs() {
        let g = module_graph(&src);
        assert!(g.len() > 2, "{} looks empty", src.display());
        let found = cycles(&g);
        assert!(
            found.is_empty(),
            "import circles in {}: {found:?}",
            src.display()
        );
    }
}
