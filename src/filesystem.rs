//! `mcp-filesystem`: a small stdio MCP server giving confined access to files.
//!
//! Tools:
//! - `read_file {path}`: the file's text. Refused (tool error) if it is larger
//!   than the read limit (default 10 MiB), not a regular file, or not valid
//!   UTF-8: binary files are not returned, neither raw nor base64.
//! - `write_file {path, content}`: create or truncate a file with `content`.
//!   The parent directory must already exist.
//! - `list_directory {path}`: one line per entry, sorted by name, as the
//!   official filesystem server does: `[DIR] name` or `[FILE] name` (anything
//!   that is not a directory, symlinks included, is `[FILE]`).
//!
//! Confinement: a relative path resolves against the first root; an absolute
//! path must lie inside one of the roots. `.` and `..` are resolved
//! lexically, then every symlink on the way is followed (for a path that does
//! not exist yet: its longest existing ancestor) and the real location must
//! still be inside a root. Anything else is refused with a tool error
//! (`is_error: true`) that names the path; requests never fail at the
//! JSON-RPC level because of a path. A final symlink that cannot be resolved
//! (dangling) is refused too, since writing through it would create its
//! target wherever it points.
//!
//! Limits: the check and the use are separate system calls, so a process that
//! can swap directories for symlinks inside a root while a call runs can race
//! it; files are opened with `O_NOFOLLOW` so the last component at least
//! cannot be swapped for a symlink. Roots are fixed at start.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool, tool_handler, tool_router, ErrorData as McpError, ServerHandler, ServiceExt};
use serde::Deserialize;

/// Default largest file `read_file` returns: 10 MiB.
pub const DEFAULT_MAX_READ_BYTES: u64 = 10 * 1024 * 1024;

/// A root directory that cannot be served; displays as `<dir>: <reason>`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", dir.display())]
pub struct RootError {
    pub dir: PathBuf,
    pub reason: String,
}

/// The allowed directories and limits of one server.
#[derive(Debug, Clone)]
pub struct FsConfig {
    /// Canonical roots (symlinks resolved), in the order given.
    roots: Vec<PathBuf>,
    /// The roots as given, made absolute: used only to tell a symlink escape
    /// from a plain outside path in messages.
    given: Vec<PathBuf>,
    max_read_bytes: u64,
}

impl FsConfig {
    /// Check that every root exists and is a directory, and resolve it.
    pub fn new(dirs: &[PathBuf], max_read_bytes: u64) -> Result<Self, RootError> {
        if dirs.is_empty() {
            return Err(RootError {
                dir: PathBuf::new(),
                reason: "at least one directory is required".into(),
            });
        }
        let mut roots = Vec::with_capacity(dirs.len());
        let mut given = Vec::with_capacity(dirs.len());
        for dir in dirs {
            let err = |reason: String| RootError {
                dir: dir.clone(),
                reason,
            };
            let canon = fs::canonicalize(dir).map_err(|e| err(io_reason(&e)))?;
            let meta = fs::metadata(&canon).map_err(|e| err(io_reason(&e)))?;
            if !meta.is_dir() {
                return Err(err("not a directory".into()));
            }
            given.push(normalize(
                &std::path::absolute(dir).map_err(|e| err(io_reason(&e)))?,
            ));
            roots.push(canon);
        }
        Ok(Self {
            roots,
            given,
            max_read_bytes,
        })
    }

    /// The canonical roots, first one first.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    pub fn max_read_bytes(&self) -> u64 {
        self.max_read_bytes
    }

    fn roots_list(&self) -> String {
        let v: Vec<String> = self.roots.iter().map(|r| r.display().to_string()).collect();
        v.join(", ")
    }

    fn inside(roots: &[PathBuf], p: &Path) -> bool {
        roots.iter().any(|r| p.starts_with(r))
    }

    /// Map a caller's path to a real location inside a root, or say why not.
    ///
    /// The result has no symlinks in its existing part and no `.`/`..`.
    pub fn resolve(&self, user: &str) -> Result<PathBuf, String> {
        if user.is_empty() {
            return Err("path is empty".into());
        }
        if user.contains('\0') {
            return Err(format!("{user:?}: path contains a NUL byte"));
        }
        let p = Path::new(user);
        let joined = if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.roots[0].join(p)
        };
        let lexical = normalize(&joined);
        let denied_outside = || {
            format!(
                "access denied: {user} is outside the allowed directories ({})",
                self.roots_list()
            )
        };
        if !Self::inside(&self.roots, &lexical) && !Self::inside(&self.given, &lexical) {
            return Err(denied_outside());
        }

        // Longest existing ancestor (the entry itself, not what it points to).
        let mut existing = lexical.clone();
        let mut rest: Vec<OsString> = Vec::new();
        let meta = loop {
            match fs::symlink_metadata(&existing) {
                Ok(m) => break m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let (Some(name), Some(parent)) = (existing.file_name(), existing.parent())
                    else {
                        return Err(format!("{user}: {}", io_reason(&e)));
                    };
                    rest.push(name.to_os_string());
                    existing = parent.to_path_buf();
                }
                Err(e) => return Err(format!("{user}: {}", io_reason(&e))),
            }
        };
        let mut real = match fs::canonicalize(&existing) {
            Ok(r) => r,
            Err(e) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&existing)
                    .map(|t| t.display().to_string())
                    .unwrap_or_else(|_| "?".into());
                return Err(format!(
                    "access denied: {user}: {} is a symlink to {target} that cannot be resolved ({})",
                    existing.display(),
                    io_reason(&e)
                ));
            }
            Err(e) => return Err(format!("{user}: {}", io_reason(&e))),
        };
        for name in rest.iter().rev() {
            real.push(name);
        }
        if !Self::inside(&self.roots, &real) {
            return Err(format!(
                "access denied: {user} resolves through a symlink to {}, outside the allowed directories ({})",
                real.display(),
                self.roots_list()
            ));
        }
        Ok(real)
    }

    /// Open `path` with `opts` (never blocking on a FIFO, never following a symlink swapped in) and
    /// read its metadata from the open file; errors name `user`'s path.
    fn open_checked(
        user: &str,
        path: &Path,
        opts: &fs::OpenOptions,
    ) -> Result<(fs::File, fs::Metadata), String> {
        let file = opts
            .clone()
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| format!("{user}: {}", io_reason(&e)))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("{user}: {}", io_reason(&e)))?;
        Ok((file, meta))
    }

    /// `read_file`: the text of a regular file inside the roots.
    pub fn read_file(&self, user: &str) -> Result<String, String> {
        let path = self.resolve(user)?;
        let (file, meta) = Self::open_checked(user, &path, fs::OpenOptions::new().read(true))?;
        if meta.is_dir() {
            return Err(format!("{user}: is a directory (use list_directory)"));
        }
        if !meta.is_file() {
            return Err(format!("{user}: not a regular file"));
        }
        let limit = self.max_read_bytes;
        let too_big = |size: u64| {
            format!(
                "{user}: file is {size} bytes, larger than the read limit of {limit} bytes \
                 (--max-read-bytes)"
            )
        };
        if meta.len() > limit {
            return Err(too_big(meta.len()));
        }
        let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(limit.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| format!("{user}: {}", io_reason(&e)))?;
        if buf.len() as u64 > limit {
            return Err(too_big(buf.len() as u64));
        }
        String::from_utf8(buf).map_err(|e| {
            format!(
                "{user}: not a UTF-8 text file (invalid byte at offset {}); \
                 read_file returns text only",
                e.utf8_error().valid_up_to()
            )
        })
    }

    /// `write_file`: create or replace a file; returns the bytes written.
    pub fn write_file(&self, user: &str, content: &str) -> Result<usize, String> {
        let path = self.resolve(user)?;
        if path.is_dir() {
            return Err(format!("{user}: is a directory"));
        }
        match path.parent() {
            Some(parent) if parent.is_dir() => {}
            Some(parent) => {
                return Err(format!(
                    "{user}: parent directory {} does not exist",
                    parent.display()
                ))
            }
            None => return Err(format!("{user}: has no parent directory")),
        }
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        let (mut file, meta) = Self::open_checked(user, &path, &opts)?;
        if !meta.is_file() {
            return Err(format!("{user}: not a regular file"));
        }
        file.write_all(content.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| format!("{user}: {}", io_reason(&e)))?;
        Ok(content.len())
    }

    /// `list_directory`: `[DIR] name` / `[FILE] name` lines, sorted by name.
    pub fn list_directory(&self, user: &str) -> Result<String, String> {
        let path = self.resolve(user)?;
        let rd = fs::read_dir(&path).map_err(|e| format!("{user}: {}", io_reason(&e)))?;
        let mut entries: Vec<(String, bool)> = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| format!("{user}: {}", io_reason(&e)))?;
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            entries.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
        }
        entries.sort();
        let mut out = String::new();
        for (name, is_dir) in entries {
            let tag = if is_dir { "[DIR]" } else { "[FILE]" };
            let _ = writeln!(out, "{tag} {name}");
        }
        Ok(out)
    }
}

/// Resolve `.` and `..` without touching the file system (`..` at `/` stays).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => out.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
        }
    }
    out
}

/// An io::Error's message without Rust's " (os error N)" suffix.
fn io_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PathArgs {
    /// A path relative to the first allowed directory, or an absolute path inside one.
    pub path: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WriteArgs {
    /// A path relative to the first allowed directory, or an absolute path inside one.
    pub path: String,
    /// The new content of the file (UTF-8 text); replaces any existing content.
    pub content: String,
}

/// The rmcp server handler.
#[derive(Clone)]
pub struct FilesystemServer {
    cfg: Arc<FsConfig>,
    tool_router: ToolRouter<Self>,
}

fn outcome(r: Result<String, String>, what: &str) -> CallToolResult {
    match r {
        Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
        Err(msg) => {
            tracing::info!(tool = what, "refused: {msg}");
            CallToolResult::error(vec![ContentBlock::text(msg)])
        }
    }
}

/// Run blocking file work off the async runtime.
async fn blocking<F>(f: F) -> Result<String, String>
where
    F: FnOnce() -> Result<String, String> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(format!("internal error: {e}")))
}

#[tool_router]
impl FilesystemServer {
    pub fn new(cfg: FsConfig) -> Self {
        Self {
            cfg: Arc::new(cfg),
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Read a UTF-8 text file inside the allowed directories and return its content. \
                       Refuses files over the server's size limit and non-UTF-8 (binary) files."
    )]
    async fn read_file(
        &self,
        Parameters(args): Parameters<PathArgs>,
    ) -> Result<CallToolResult, McpError> {
        let cfg = self.cfg.clone();
        Ok(outcome(
            blocking(move || cfg.read_file(&args.path)).await,
            "read_file",
        ))
    }

    #[tool(
        description = "Create a file or replace its content, inside the allowed directories. \
                       The parent directory must exist."
    )]
    async fn write_file(
        &self,
        Parameters(args): Parameters<WriteArgs>,
    ) -> Result<CallToolResult, McpError> {
        let cfg = self.cfg.clone();
        Ok(outcome(
            blocking(move || {
                cfg.write_file(&args.path, &args.content)
                    .map(|n| format!("wrote {n} bytes to {}", args.path))
            })
            .await,
            "write_file",
        ))
    }

    #[tool(
        description = "List a directory inside the allowed directories: one line per entry, \
                       sorted by name, '[DIR] name' for directories and '[FILE] name' otherwise."
    )]
    async fn list_directory(
        &self,
        Parameters(args): Parameters<PathArgs>,
    ) -> Result<CallToolResult, McpError> {
        let cfg = self.cfg.clone();
        Ok(outcome(
            blocking(move || cfg.list_directory(&args.path)).await,
            "list_directory",
        ))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for FilesystemServer {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::default();
        info.capabilities = ServerCapabilities::builder().enable_tools().build();
        info.server_info = Implementation::new("mcp-filesystem", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(format!(
            "File access confined to these directories: {}. Relative paths resolve against the first.",
            self.cfg.roots_list()
        ));
        info
    }
}

/// Serve MCP on stdin/stdout until the client goes away.
pub async fn run_stdio(cfg: FsConfig) -> anyhow::Result<()> {
    tracing::info!(roots = %cfg.roots_list(), "mcp-filesystem serving on stdio");
    let service = FilesystemServer::new(cfg)
        .serve(crate::core::front::stdio::stdio())
        .await?;
    service.waiting().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../..")), PathBuf::from("/"));
    }

    #[test]
    fn resolve_confines() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = FsConfig::new(&[dir.path().to_path_buf()], 16).unwrap();
        let root = cfg.roots()[0].clone();
        assert_eq!(cfg.resolve("a/../b").unwrap(), root.join("b"));
        assert!(cfg.resolve("../x").unwrap_err().contains("outside"));
        assert!(cfg.resolve("/etc/passwd").unwrap_err().contains("outside"));
        assert!(cfg.resolve("").is_err());
        assert!(cfg.resolve("a\0b").is_err());
        fs::write(root.join("big"), [b'x'; 17]).unwrap();
        assert!(cfg.read_file("big").unwrap_err().contains("read limit"));
    }
}
