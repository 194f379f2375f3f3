//! The crate's import graph, read from the source: FetchService's files import one another in
//! one direction only (no cycles, as `docs/architecture.md` draws it), the top-level modules
//! form no cycle, and the three services never import one another (what they share lives in
//! `rpc`, `config`, `proto` and `shutdown`).
//!
//! A module's imports are the `crate::…`, `super::…` and child-module paths in its `use`
//! items and its code (test modules and comments left out); each resolves to the deepest
//! source file it names. The parser is small on purpose: it knows `use` trees with braces and
//! nothing of macros, which this crate does not use to import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path from the crate root (`["fetch", "http", "client"]`); empty is the root.
type Module = Vec<String>;

/// Every module of the library (src/main.rs and test modules excluded) and its source.
fn modules() -> BTreeMap<Module, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect_rs(&src, &mut files);
    let mut out = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src/");
        let mut module: Module = rel
            .with_extension("")
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        match module.last().map(String::as_str) {
            Some("main") if module.len() == 1 => continue,
            Some("lib") if module.len() == 1 => module.clear(),
            Some("mod") => {
                module.pop();
            }
            _ => {}
        }
        if module.iter().any(|s| s == "tests") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        out.insert(module, code_only(&text));
    }
    out
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without its `#[cfg(test)] mod tests { … }` (always last in this crate), line
/// comments and string literals, so that only code is read.
fn code_only(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod tests"))
        {
            break;
        }
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        code.push_str(&strip_strings(line));
        code.push('\n');
    }
    code
}

fn strip_strings(line: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in line.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// The paths of a `use` tree, braces expanded: `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand_use(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let close = tree.rfind('}').expect("balanced braces in a use tree");
    let (prefix, body) = (&tree[..open], &tree[open + 1..close]);
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            expand_use(p)
                .into_iter()
                .map(move |e| format!("{prefix}{e}"))
        })
        .collect()
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path in `code` that starts with `crate::`, `super::`, `self::` or one of `children`
/// followed by `::`, as written (`super::http::Fetcher`).
fn inline_paths(code: &str, children: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0 || !(is_ident_char(bytes[i - 1]) || bytes[i - 1] == ':');
        if at_word_start && is_ident_char(bytes[i]) {
            let mut j = i;
            while j < bytes.len() && (is_ident_char(bytes[j]) || bytes[j] == ':') {
                j += 1;
            }
            let path: String = bytes[i..j].iter().collect();
            let first = path.split("::").next().unwrap_or_default();
            if path.contains("::")
                && (matches!(first, "crate" | "super" | "self") || children.contains(first))
            {
                out.push(path);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// The module `path`, written in `from`, names (the deepest known one), if it is in this crate.
fn resolve(from: &Module, path: &str, known: &BTreeMap<Module, String>) -> Option<Module> {
    let mut segments = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut at: Module = match *segments.peek()? {
        "crate" => {
            segments.next();
            Vec::new()
        }
        "super" | "self" => {
            let mut at = from.clone();
            while let Some(&s) = segments.peek() {
                match s {
                    "super" => {
                        at.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                segments.next();
            }
            at
        }
        child => {
            let mut c = from.clone();
            c.push(child.to_string());
            if !known.contains_key(&c) {
                return None;
            }
            from.clone()
        }
    };
    for s in segments {
        let mut next = at.clone();
        next.push(s.to_string());
        if known.contains_key(&next) {
            at = next;
        } else {
            break;
        }
    }
    Some(at)
}

/// Module → the modules it imports (itself left out).
fn import_graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let known = modules();
    let mut graph = BTreeMap::new();
    for (module, code) in &known {
        let children: BTreeSet<String> = known
            .keys()
            .filter(|k| k.len() == module.len() + 1 && k.starts_with(module))
            .map(|k| k[module.len()].clone())
            .collect();
        let mut paths = Vec::new();
        for item in code.split(';') {
            let item = item.trim_start();
            let item = item
                .strip_prefix("pub(crate) ")
                .or_else(|| item.strip_prefix("pub(super) "))
                .or_else(|| item.strip_prefix("pub "))
                .unwrap_or(item);
            if let Some(tree) = item.strip_prefix("use ") {
                paths.extend(expand_use(tree));
            }
        }
        paths.extend(inline_paths(code, &children));
        let targets: BTreeSet<Module> = paths
            .iter()
            .filter_map(|p| resolve(module, p, &known))
            .filter(|t| t != module)
            .collect();
        graph.insert(module.clone(), targets);
    }
    graph
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// A cycle of `graph`, if it has one, as the modules along it.
fn find_cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        m: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        marks: &mut BTreeMap<Module, Mark>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<String>> {
        match marks.get(m) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = stack
                    .iter()
                    .position(|s| s == m)
                    .expect("open is on the stack");
                let mut cycle: Vec<String> = stack[from..].iter().map(name).collect();
                cycle.push(name(m));
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(m.clone(), Mark::Open);
        stack.push(m.clone());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(m.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, graph, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

/// The graph restricted to modules under `prefix`.
fn within(
    graph: &BTreeMap<Module, BTreeSet<Module>>,
    prefix: &str,
) -> BTreeMap<Module, BTreeSet<Module>> {
    let under = |m: &Module| m.first().is_some_and(|s| s == prefix);
    graph
        .iter()
        .filter(|(m, _)| under(m))
        .map(|(m, t)| (m.clone(), t.iter().filter(|t| under(t)).cloned().collect()))
        .collect()
}

/// The graph of top-level modules: an edge where any module under one imports one under another.
fn top_level(graph: &BTreeMap<Module, BTreeSet<Module>>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut top: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, targets) in graph {
        let Some(from) = m.first() else { continue };
        for t in targets {
            if let Some(to) = t.first().filter(|to| *to != from) {
                top.entry(vec![from.clone()])
                    .or_default()
                    .insert(vec![to.clone()]);
            }
        }
    }
    top
}

#[test]
fn the_parser_sees_the_imports_it_must() {
    let graph = import_graph();
    let of = |m: &str| {
        graph
            .get(&m.split("::").map(String::from).collect::<Module>())
            .unwrap_or_else(|| panic!("module {m} not found"))
            .iter()
            .map(name)
            .collect::<BTreeSet<_>>()
    };
    // `use super::http::{Fetcher, …}` through a parent's re-export, and a braced crate path.
    assert!(
        of("fetch::service").contains("fetch::http"),
        "{:?}",
        of("fetch::service")
    );
    assert!(of("fetch::service").contains("rpc"));
    // A child file named through `super::` and the parent naming a child in code.
    assert!(of("fetch::pages::paginate::cursor").contains("fetch::pages::paginate::query"));
    assert!(of("fetch::pages::paginate").contains("fetch::pages::paginate::cursor"));
    assert!(of("server").contains("fetch"));
    assert_eq!(
        expand_use("super::{a, b::{c, d}}"),
        ["super::a", "super::b::c", "super::b::d"]
    );
}

#[test]
fn fetch_modules_import_one_another_in_one_direction_only() {
    let graph = within(&import_graph(), "fetch");
    assert!(
        graph.len() > 10,
        "the fetch modules were found: {}",
        graph.len()
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle in src/fetch: {}", cycle.join(" -> "));
    }
}

#[test]
fn top_level_modules_form_no_cycle() {
    let top = top_level(&import_graph());
    if let Some(cycle) = find_cycle(&top) {
        panic!(
            "import cycle between top-level modules: {}",
            cycle.join(" -> ")
        );
    }
}

/// The graph without the edges from a module to its own descendants: a parent that declares
/// its children and re-exports their items is structure, not a dependency, while a child that
/// reaches back into its parent, or a file into a sibling, is one.
fn dependencies(graph: &BTreeMap<Module, BTreeSet<Module>>) -> BTreeMap<Module, BTreeSet<Module>> {
    graph
        .iter()
        .map(|(m, targets)| {
            let deps = targets
                .iter()
                .filter(|t| !(t.len() > m.len() && t.starts_with(m)))
                .cloned()
                .collect();
            (m.clone(), deps)
        })
        .collect()
}

#[test]
fn no_file_imports_itself_through_others() {
    if let Some(cycle) = find_cycle(&dependencies(&import_graph())) {
        panic!("import cycle between files: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_services_do_not_import_one_another() {
    let top = top_level(&import_graph());
    let services = ["fetch", "lock", "sensor"];
    for from in services {
        let imports = top
            .get(&vec![from.to_string()])
            .cloned()
            .unwrap_or_default();
        for to in services.iter().filter(|to| **to != from) {
            assert!(
                !imports.contains(&vec![to.to_string()]),
                "{from} imports {to}; move what they share to src/rpc.rs"
            );
        }
        assert!(
            !imports.contains(&vec!["server".to_string()]),
            "{from} imports the server that assembles it"
        );
    }
    let rpc = top
        .get(&vec!["rpc".to_string()])
        .cloned()
        .unwrap_or_default();
    for service in services {
        assert!(
            !rpc.contains(&vec![service.to_string()]),
            "rpc imports {service}"
        );
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let m = |s: &str| -> Module { s.split("::").map(String::from).collect() };
    let mut graph = BTreeMap::new();
    graph.insert(m("fetch::a"), BTreeSet::from([m("fetch::b")]));
    graph.insert(m("fetch::b"), BTreeSet::from([m("fetch::c")]));
    graph.insert(m("fetch::c"), BTreeSet::from([m("fetch::a")]));
    let cycle = find_cycle(&graph).expect("a -> b -> c -> a");
    assert_eq!(cycle.first(), cycle.last());
    graph.insert(m("fetch::c"), BTreeSet::new());
    assert_eq!(find_cycle(&graph), None);
}
