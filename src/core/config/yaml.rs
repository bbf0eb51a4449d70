//! A small YAML document tree that keeps line/column marks, built from `yaml-rust2` events.
//!
//! Scalars are kept as text (plus whether they were plain, i.e. unquoted), so the decoder can
//! apply `${VAR}` expansion first and type conversion afterwards. Duplicate keys, aliases (with a
//! size limit against "billion laughs"), merge keys (`<<`), nesting depth and multiple documents
//! are handled here. The builder is iterative: no recursion on input depth.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// Deepest nesting accepted (a gateway config needs about 6).
const MAX_DEPTH: usize = 64;
/// Most nodes accepted, counting alias expansions.
const MAX_NODES: usize = 100_000;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    /// 1-based line and column of the node's start.
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Null,
    Scalar { text: String, plain: bool },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub key_line: usize,
    pub value: Node,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Null => "null",
            Kind::Scalar { text, plain } => {
                if !*plain {
                    "a string"
                } else if is_bool(text) {
                    "a boolean"
                } else if text.parse::<f64>().is_ok() {
                    "a number"
                } else {
                    "a string"
                }
            }
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

fn is_bool(s: &str) -> bool {
    matches!(s, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
}

/// Errors found while building: (field path, message, line, column).
pub(crate) struct BuildError {
    pub field: String,
    pub message: String,
    pub line: usize,
    pub col: Option<usize>,
}

impl BuildError {
    /// A problem with the document as a whole (no field path).
    pub(crate) fn at(line: usize, col: Option<usize>, message: impl Into<String>) -> Self {
        BuildError {
            field: String::new(),
            message: message.into(),
            line,
            col,
        }
    }

    /// A problem at the key `field` on `line`.
    fn field(field: String, line: usize, message: impl Into<String>) -> Self {
        BuildError {
            field,
            message: message.into(),
            line,
            col: None,
        }
    }
}

pub(crate) enum Parsed {
    /// Empty document (or only comments).
    Empty,
    Doc(Node),
}

enum Frame {
    Seq {
        node: Node,
        items: Vec<Node>,
        anchor: usize,
        path: String,
    },
    Map {
        node: Node,
        entries: Vec<Entry>,
        /// Key waiting for its value: (key, line, plain). `None` key text = invalid key, skip value.
        pending: Option<(Option<String>, usize, bool)>,
        /// Keys written with `<<` (merge), in order.
        merges: Vec<Node>,
        anchor: usize,
        path: String,
        first_seen: HashMap<String, usize>,
    },
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn node_count(n: &Node) -> usize {
    // Iterative to avoid recursion on depth (depth is bounded anyway).
    let mut count = 0;
    let mut stack = vec![n];
    while let Some(n) = stack.pop() {
        count += 1;
        match &n.kind {
            Kind::Seq(items) => stack.extend(items.iter()),
            Kind::Map(entries) => stack.extend(entries.iter().map(|e| &e.value)),
            _ => {}
        }
    }
    count
}

/// Parses `text` into a tree. Errors: syntax errors (fatal, one) or structural errors (all found).
pub(crate) fn parse(text: &str) -> Result<Parsed, Vec<BuildError>> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut nodes = 0usize;
    let mut errors: Vec<BuildError> = Vec::new();

    loop {
        let (event, mark) = match parser.next_token() {
            Ok(x) => x,
            Err(e) => {
                let m = e.marker();
                return Err(vec![BuildError::at(
                    m.line().max(1),
                    Some(m.col() + 1),
                    format!("YAML syntax error: {}", e.info()),
                )]);
            }
        };
        let line = mark.line().max(1);
        let col = mark.col() + 1;
        let here = |kind| Node { kind, line, col };

        let value: Node = match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => continue,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    errors.push(BuildError::at(
                        line,
                        None,
                        "more than one YAML document ('---'); a config file holds exactly one",
                    ));
                    return Err(errors);
                }
                continue;
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some((n, size)) => {
                    nodes += size;
                    if nodes > MAX_NODES {
                        return Err(vec![BuildError::at(line, Some(col), format!("document too large: more than {MAX_NODES} values after expanding aliases"))]);
                    }
                    let mut n = n.clone();
                    n.line = line;
                    n.col = col;
                    n
                }
                None => {
                    return Err(vec![BuildError::at(
                        line,
                        Some(col),
                        "YAML syntax error: unknown anchor",
                    )])
                }
            },
            Event::Scalar(text, style, anchor, tag) => {
                nodes += 1;
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let plain = style == TScalarStyle::Plain && !is_str_tag;
                let kind = if plain && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Kind::Null
                } else {
                    Kind::Scalar { text, plain }
                };
                let n = here(kind);
                if anchor > 0 {
                    anchors.insert(anchor, (n.clone(), 1));
                }
                n
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                nodes += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(vec![BuildError::at(
                        line,
                        Some(col),
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                    )]);
                }
                let path = match stack.last() {
                    None => String::new(),
                    Some(Frame::Seq { items, path, .. }) => format!("{path}[{}]", items.len()),
                    Some(Frame::Map { pending, path, .. }) => match pending {
                        Some((Some(k), _, _)) => child_path(path, k),
                        _ => path.clone(),
                    },
                };
                let is_seq = matches!(event, Event::SequenceStart(..));
                stack.push(if is_seq {
                    Frame::Seq {
                        node: here(Kind::Null),
                        items: Vec::new(),
                        anchor,
                        path,
                    }
                } else {
                    Frame::Map {
                        node: here(Kind::Null),
                        entries: Vec::new(),
                        pending: None,
                        merges: Vec::new(),
                        anchor,
                        path,
                        first_seen: HashMap::new(),
                    }
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (mut node, anchor) = match stack.pop() {
                    Some(Frame::Seq {
                        mut node,
                        items,
                        anchor,
                        ..
                    }) => {
                        node.kind = Kind::Seq(items);
                        (node, anchor)
                    }
                    Some(Frame::Map {
                        mut node,
                        mut entries,
                        merges,
                        anchor,
                        path,
                        ..
                    }) => {
                        for m in merges {
                            apply_merge(&mut entries, m, &path, &mut errors);
                        }
                        node.kind = Kind::Map(entries);
                        (node, anchor)
                    }
                    None => continue,
                };
                if anchor > 0 {
                    let size = node_count(&node);
                    anchors.insert(anchor, (node.clone(), size));
                }
                node.line = node.line.max(1);
                node
            }
        };

        // Attach `value` to its parent.
        match stack.last_mut() {
            None => {
                if root.is_none() {
                    root = Some(value);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map {
                entries,
                pending,
                merges,
                path,
                first_seen,
                ..
            }) => match pending.take() {
                None => match value.kind {
                    Kind::Scalar { text, plain } => {
                        *pending = Some((Some(text), value.line, plain))
                    }
                    Kind::Null => *pending = Some((Some(String::new()), value.line, true)),
                    _ => {
                        errors.push(BuildError::field(
                            path.clone(),
                            value.line,
                            "mapping keys must be plain strings, not lists or mappings",
                        ));
                        *pending = Some((None, value.line, false));
                    }
                },
                Some((None, _, _)) => {}
                Some((Some(key), key_line, key_plain)) => {
                    if key == "<<" && key_plain {
                        merges.push(value);
                    } else if let Some(first) = first_seen.get(&key) {
                        errors.push(BuildError::field(
                            child_path(path, &key),
                            key_line,
                            format!("duplicate key (first defined on line {first})"),
                        ));
                    } else {
                        first_seen.insert(key.clone(), key_line);
                        entries.push(Entry {
                            key,
                            key_line,
                            value,
                        });
                    }
                }
            },
        }
        if nodes > MAX_NODES {
            return Err(vec![BuildError::at(
                line,
                Some(col),
                format!("document too large: more than {MAX_NODES} values"),
            )]);
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(match root {
        None => Parsed::Empty,
        Some(n) => Parsed::Doc(n),
    })
}

/// YAML merge key (`<<: *base` or `<<: [*a, *b]`): keys already present win; earlier maps in a
/// list win over later ones.
fn apply_merge(entries: &mut Vec<Entry>, merge: Node, path: &str, errors: &mut Vec<BuildError>) {
    let (line, col) = (merge.line, merge.col);
    let sources: Vec<Node> = match merge.kind {
        Kind::Seq(items) => items,
        kind => vec![Node { kind, line, col }],
    };
    for src in sources {
        match src.kind {
            Kind::Map(src_entries) => {
                for e in src_entries {
                    if !entries.iter().any(|x| x.key == e.key) {
                        entries.push(e);
                    }
                }
            }
            _ => errors.push(BuildError::field(
                child_path(path, "<<"),
                line,
                "merge key '<<' needs a mapping or a list of mappings",
            )),
        }
    }
}
