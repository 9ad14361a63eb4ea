//! The layout rules of `src/` (issue 13), checked so they stay true: no
//! import cycle between modules, no file over 800 lines and no function
//! over 120 lines unless the exception below says why.
//!
//! The parse is deliberately plain (paths after `crate::`/`super::`, comments
//! removed): it reads this crate's own style, not arbitrary Rust. A module
//! declaring its child (`mod x;`) is not an import; a child using its parent
//! through `super::` is, and so is any `crate::` path in code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 800;
const MAX_FN_LINES: usize = 120;

/// Files allowed past [`MAX_FILE_LINES`], each with its reason.
const LONG_FILES: &[(&str, &str)] = &[];

/// Functions allowed past [`MAX_FN_LINES`] (`file:name`), each with its reason.
const LONG_FNS: &[(&str, &str)] = &[];

/// Cycles allowed, as the sorted module list of the strongly connected
/// component.
const ALLOWED_CYCLES: &[&[&str]] = &[];

type Module = Vec<String>;

struct Source {
    file: PathBuf,
    text: String,
    /// The module whose children `self::`/relative paths name.
    base: Module,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn module_files() -> BTreeMap<Module, Source> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "bin") {
                    stack.push(path);
                }
                continue;
            }
            // main.rs is the binary's root (its `crate::` is not the library's).
            if path.extension().is_none_or(|e| e != "rs") || path == src_dir().join("main.rs") {
                continue;
            }
            let rel = path.strip_prefix(src_dir()).expect("under src");
            let mut module: Module = rel
                .with_extension("")
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            let is_dir_module = matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            );
            if is_dir_module {
                module.pop();
            }
            let base = if is_dir_module {
                module.clone()
            } else {
                module[..module.len() - 1].to_vec()
            };
            let text = std::fs::read_to_string(&path).expect("source is UTF-8");
            out.insert(
                module,
                Source {
                    file: path,
                    text,
                    base,
                },
            );
        }
    }
    out
}

/// The text without `//` comments (doc links are not imports) and without
/// string literals' contents (a path in a message is not an import).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = '\0';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_str {
                if c == '"' && prev != '\\' {
                    in_str = false;
                    out.push('"');
                }
                prev = if prev == '\\' && c == '\\' { '\0' } else { c };
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\'' {
                in_str = true;
            }
            out.push(c);
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// Whether `tree` starts with the name of a child module of `base`.
fn is_child(modules: &BTreeMap<Module, Source>, base: &[String], tree: &str) -> bool {
    let first: String = tree
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let mut child = base.to_vec();
    child.push(first);
    tree.contains("::") && modules.contains_key(&child)
}

/// The code before an inline `#[cfg(test)] mod … {` block: a unit test
/// module's `super::` is the file itself, not its parent.
fn without_inline_tests(code: &str) -> &str {
    let mut from = 0;
    while let Some(at) = code[from..].find("#[cfg(test)]") {
        let start = from + at;
        let rest = code[start + 12..].trim_start();
        if rest.starts_with("mod ") && rest.lines().next().is_some_and(|l| l.ends_with('{')) {
            return &code[..start];
        }
        from = start + 12;
    }
    code
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its paths.
fn expand_use_tree(prefix: &[String], tree: &str, out: &mut Vec<Module>) {
    let tree = tree.trim();
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in tree.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[start..]);
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if let Some(open) = part.find('{') {
            let head = part[..open].trim_end_matches("::");
            let inner = part[open + 1..].trim_end().trim_end_matches('}');
            let mut p = prefix.to_vec();
            p.extend(segments(head));
            expand_use_tree(&p, inner, out);
        } else {
            let path = part.split(" as ").next().unwrap_or(part);
            let mut p = prefix.to_vec();
            p.extend(segments(path));
            out.push(p);
        }
    }
}

fn segments(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "*" && *s != "self")
        .map(str::to_owned)
}

/// The longest prefix of `path` that is a module of this crate.
fn resolve(modules: &BTreeMap<Module, Source>, path: &[String]) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| modules.contains_key(m))
}

fn imports(modules: &BTreeMap<Module, Source>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut edges = BTreeMap::new();
    for (module, src) in modules {
        let all = code_only(&src.text);
        let code = without_inline_tests(&all);
        let mut paths = Vec::new();
        // `use crate::…;`, `use super::…;`, `use self::…;`, `use child::…;`
        for stmt in code.split(';') {
            let Some(at) = stmt.find("use ") else {
                continue;
            };
            let reexport =
                stmt[..at].trim_end().ends_with("pub") || stmt[..at].trim_end().ends_with(')');
            let tree = stmt[at + 4..].trim();
            let (root, rest): (Module, &str) = if let Some(r) = tree.strip_prefix("crate::") {
                (Vec::new(), r)
            } else if let Some(r) = tree.strip_prefix("super::") {
                (src.base[..src.base.len().saturating_sub(1)].to_vec(), r)
            } else if let Some(r) = tree.strip_prefix("self::") {
                (src.base.clone(), r)
            } else if is_child(modules, &src.base, tree) {
                (src.base.clone(), tree)
            } else {
                continue;
            };
            let mut found = Vec::new();
            expand_use_tree(&root, rest, &mut found);
            // A module re-exporting its own children (`pub use child::X`)
            // shapes its public surface; it does not depend on them.
            found.retain(|p| !(reexport && p.starts_with(module) && p.len() > module.len()));
            paths.extend(found);
        }
        // Inline `crate::a::b` paths in code.
        for (i, _) in code.match_indices("crate::") {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let tail: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(segments(&tail).collect());
        }
        let targets: BTreeSet<Module> = paths
            .iter()
            .filter_map(|p| resolve(modules, p))
            .filter(|t| t != module && !t.is_empty())
            .collect();
        edges.insert(module.clone(), targets);
    }
    edges
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            let Some((w, _)) = s.edges.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.join("::"));
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.found.push(comp);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn no_import_cycle_between_modules() {
    let modules = module_files();
    let edges = imports(&modules);
    // The parse sees the imports that are there (a check that found none
    // would pass on any tree).
    let exchange: Module = vec!["token".into(), "exchange".into()];
    assert!(
        edges[&exchange].contains(&vec!["authorize".to_owned()]),
        "token::exchange imports authorize: {:?}",
        edges[&exchange]
    );
    let total: usize = edges.values().map(BTreeSet::len).sum();
    assert!(total > 150, "only {total} imports found");
    let mut report = String::new();
    for comp in cycles(&edges) {
        if ALLOWED_CYCLES
            .iter()
            .any(|allowed| allowed.iter().eq(comp.iter()))
        {
            continue;
        }
        report.push_str(&format!("cycle: {}\n", comp.join(", ")));
        for from in &comp {
            let from_m: Module = from.split("::").map(str::to_owned).collect();
            for to in edges.get(&from_m).into_iter().flatten() {
                let to = to.join("::");
                if comp.contains(&to) {
                    report.push_str(&format!("    {from} -> {to}\n"));
                }
            }
        }
    }
    assert!(report.is_empty(), "import cycles in src/:\n{report}");
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    // The check itself must be able to fail: a two-module cycle made of
    // `crate::` paths is found, and a one-way import is not.
    let a: Module = vec!["a".into()];
    let b: Module = vec!["b".into()];
    let c: Module = vec!["c".into()];
    let mut edges = BTreeMap::new();
    edges.insert(a.clone(), BTreeSet::from([b.clone()]));
    edges.insert(b.clone(), BTreeSet::from([a.clone(), c.clone()]));
    edges.insert(c.clone(), BTreeSet::new());
    assert_eq!(cycles(&edges), vec![vec!["a".to_owned(), "b".to_owned()]]);

    let mut paths = Vec::new();
    expand_use_tree(&[], "x::{y, z::{w, v as u}}, q", &mut paths);
    assert_eq!(
        paths,
        vec![
            vec!["x".to_owned(), "y".to_owned()],
            vec!["x".into(), "z".into(), "w".into()],
            vec!["x".into(), "z".into(), "v".into()],
            vec!["q".into()],
        ]
    );
    assert_eq!(
        code_only("let s = \"crate::a\"; // crate::b\nuse crate::c;"),
        "let s = \"\"; \nuse crate::c;\n"
    );
}

#[test]
fn no_file_over_800_lines_without_a_reason() {
    let mut long = Vec::new();
    for src in module_files().values() {
        let lines = src.text.lines().count();
        let rel = src.file.strip_prefix(src_dir()).expect("under src");
        let rel = rel.to_string_lossy();
        if lines > MAX_FILE_LINES && !LONG_FILES.iter().any(|(f, _)| *f == rel) {
            long.push(format!("src/{rel}: {lines} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines: {long:#?}"
    );
}

/// Functions and their length in lines: from the `fn` line to the closing
/// brace at the same indentation (rustfmt's layout).
fn functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let mut rest = trimmed;
        for prefix in [
            "pub(crate) ",
            "pub(super) ",
            "pub ",
            "async ",
            "const ",
            "unsafe ",
        ] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        rest = rest.strip_prefix("async ").unwrap_or(rest);
        let Some(sig) = rest.strip_prefix("fn ") else {
            continue;
        };
        if line.trim_end().ends_with(';') {
            continue;
        }
        let name: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = " ".repeat(indent) + "}";
        if let Some(end) = lines[i + 1..]
            .iter()
            .position(|l| l.starts_with(&close) && l.len() - l.trim_start().len() == indent)
        {
            out.push((name, end + 2));
        }
    }
    out
}

#[test]
fn no_function_over_120_lines_without_a_reason() {
    let mut long = Vec::new();
    for src in module_files().values() {
        let rel = src.file.strip_prefix(src_dir()).expect("under src");
        let rel = rel.to_string_lossy();
        for (name, lines) in functions(&src.text) {
            let key = format!("{rel}:{name}");
            if lines > MAX_FN_LINES && !LONG_FNS.iter().any(|(f, _)| *f == key) {
                long.push(format!("src/{key}: {lines} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines: {long:#?}"
    );
}

#[test]
fn the_function_length_check_measures() {
    let text = "fn a() {\n    x;\n}\n\n    pub async fn b(\n        y: u8,\n    ) {\n    }\n";
    assert_eq!(
        functions(text),
        vec![("a".to_owned(), 3), ("b".to_owned(), 4)]
    );
}
