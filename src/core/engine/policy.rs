//! Upstream's argument-aware path policy (`backends[].policy.paths`): a governed tool's path
//! argument must resolve (symlinks followed) inside one of its rule's roots, or the call is
//! refused as a tool error naming the policy, without reaching the backend.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use rmcp::model::{JsonObject, Tool};

use crate::core::config;

/// One backend's resolved policy (roots and the base for relative paths resolved once, at
/// start). Empty: nothing governed.
#[derive(Debug, Default, Clone)]
pub(crate) struct PathPolicy {
    base: PathBuf,
    rules: HashMap<String, Vec<Rule>>,
}

#[derive(Debug, Clone)]
struct Rule {
    argument: String,
    roots: Vec<PathBuf>,
}

impl PathPolicy {
    /// Resolve `backend`'s rules: every root must be an existing directory; relative paths in
    /// calls are taken from the backend's `working_dir`, else the gateway's.
    pub(crate) fn resolve(backend: &config::Backend) -> Result<PathPolicy, String> {
        if backend.policy.is_empty() {
            return Ok(PathPolicy::default());
        }
        let base = match &backend.transport {
            config::Transport::Stdio {
                working_dir: Some(d),
                ..
            } => d.clone(),
            _ => std::env::current_dir()
                .map_err(|e| format!("call policy working directory: {e}"))?,
        };
        let base =
            existing_dir(&base).map_err(|e| format!("call policy working directory: {e}"))?;
        let mut rules: HashMap<String, Vec<Rule>> = HashMap::new();
        for r in &backend.policy {
            let mut roots = Vec::new();
            for root in &r.roots {
                roots.push(existing_dir(Path::new(root)).map_err(|e| {
                    format!(
                        "call policy tool '{}' argument '{}' root '{root}': {e}",
                        r.tool, r.argument
                    )
                })?);
            }
            rules.entry(r.tool.clone()).or_default().push(Rule {
                argument: r.argument.clone(),
                roots,
            });
        }
        Ok(PathPolicy { base, rules })
    }

    pub(crate) fn governs(&self, tool: &str) -> bool {
        self.rules.contains_key(tool)
    }

    /// A governed tool the backend does not advertise is an error: a typo must never mean
    /// "no policy".
    pub(crate) fn validate_tools(&self, tools: &[Tool]) -> Result<(), String> {
        let mut names: Vec<&String> = self.rules.keys().collect();
        names.sort();
        for n in names {
            if !tools.iter().any(|t| t.name == n.as_str()) {
                return Err(format!(
                    "call policy tool '{n}' is not advertised by the backend"
                ));
            }
        }
        Ok(())
    }

    /// `Err(why)` when the call of `tool` (the backend's name) with `args` breaks a rule.
    pub(crate) fn check(&self, tool: &str, args: Option<&JsonObject>) -> Result<(), String> {
        let Some(rules) = self.rules.get(tool) else {
            return Ok(());
        };
        for rule in rules {
            let arg = &rule.argument;
            let value = args.and_then(|a| a.get(arg)).ok_or_else(|| {
                format!("call policy tool '{tool}': required path argument '{arg}' is missing")
            })?;
            let p = value.as_str().filter(|s| !s.is_empty()).ok_or_else(|| {
                format!(
                    "call policy tool '{tool}': path argument '{arg}' must be a non-empty string"
                )
            })?;
            let resolved = self
                .candidate(p)
                .map_err(|e| format!("call policy tool '{tool}' argument '{arg}': {e}"))?;
            if !rule.roots.iter().any(|r| resolved.starts_with(r)) {
                return Err(format!(
                    "call policy tool '{tool}' argument '{arg}': path '{p}' resolves outside allowed roots"
                ));
            }
        }
        Ok(())
    }

    /// Where `p` really is: symlinks followed; a path that does not exist yet is its existing
    /// parent (resolved) plus its name. An existing path that cannot be resolved (a dangling
    /// symlink, say) is refused.
    fn candidate(&self, p: &str) -> Result<PathBuf, String> {
        let joined = self.base.join(p);
        match std::fs::canonicalize(&joined) {
            Ok(r) => Ok(r),
            Err(e) => {
                if std::fs::symlink_metadata(&joined).is_ok() {
                    return Err(format!("path cannot be resolved: {e}"));
                }
                let name = match joined.components().next_back() {
                    Some(Component::Normal(n)) => n.to_owned(),
                    _ => return Err(format!("path cannot be resolved: {e}")),
                };
                let parent = joined
                    .parent()
                    .ok_or_else(|| format!("path cannot be resolved: {e}"))?;
                let parent = std::fs::canonicalize(parent)
                    .map_err(|e| format!("path and its parent cannot be resolved: {e}"))?;
                Ok(parent.join(name))
            }
        }
    }
}

fn existing_dir(p: &Path) -> Result<PathBuf, String> {
    let r = std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if !r.is_dir() {
        return Err(format!("{} is not a directory", p.display()));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(root: &Path, base: &Path) -> PathPolicy {
        let b = config::Backend {
            id: "fs".into(),
            name: None,
            transport: config::Transport::Stdio {
                command: "x".into(),
                args: vec![],
                env: Default::default(),
                env_policy: Default::default(),
                working_dir: Some(base.to_path_buf()),
            },
            tools: config::ToolFilter::none(),
            policy: vec![config::PathRule {
                tool: "read_file".into(),
                argument: "path".into(),
                roots: vec![root.display().to_string()],
            }],
        };
        PathPolicy::resolve(&b).unwrap()
    }

    fn args(p: &str) -> JsonObject {
        serde_json::json!({ "path": p })
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn paths_inside_the_roots_pass_and_escapes_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::fs::write(d.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(d.path().join("gone"), root.join("dangling")).unwrap();
        let p = policy(&root, &root);
        for ok in ["a.txt", "sub", "sub/new.txt", "./sub/../a.txt", "new.txt"] {
            assert!(p.check("read_file", Some(&args(ok))).is_ok(), "{ok}");
        }
        let abs = root.join("a.txt").display().to_string();
        assert!(p.check("read_file", Some(&args(&abs))).is_ok());
        for bad in [
            "../secret",
            "link",
            "dangling",
            "/etc/passwd",
            "sub/../../secret",
            "nodir/x",
        ] {
            let e = p.check("read_file", Some(&args(bad))).unwrap_err();
            assert!(e.starts_with("call policy tool 'read_file'"), "{bad}: {e}");
        }
        let e = p.check("read_file", None).unwrap_err();
        assert!(e.contains("'path' is missing"), "{e}");
        let num = serde_json::json!({"path": 3}).as_object().unwrap().clone();
        assert!(p
            .check("read_file", Some(&num))
            .unwrap_err()
            .contains("non-empty string"));
        // Other tools are not governed.
        assert!(p.check("list_directory", Some(&args("../secret"))).is_ok());
        assert!(!p.governs("list_directory") && p.governs("read_file"));
    }

    #[test]
    fn a_missing_root_or_an_unadvertised_tool_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let mut b = config::Backend {
            id: "fs".into(),
            name: None,
            transport: config::Transport::Zrok {
                share_token: "t".into(),
            },
            tools: config::ToolFilter::none(),
            policy: vec![config::PathRule {
                tool: "read_file".into(),
                argument: "path".into(),
                roots: vec![d.path().join("nope").display().to_string()],
            }],
        };
        assert!(PathPolicy::resolve(&b).unwrap_err().contains("root"));
        b.policy[0].roots = vec![d.path().display().to_string()];
        let p = PathPolicy::resolve(&b).unwrap();
        let e = p.validate_tools(&[]).unwrap_err();
        assert!(e.contains("'read_file' is not advertised"), "{e}");
    }
}
