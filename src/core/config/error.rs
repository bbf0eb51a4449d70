//! Configuration errors and warnings.
//!
//! Every message has the same shape, so people and tests can rely on it:
//!
//! ```text
//! backends[1].transport.command: required for stdio transport (config.yml:14)
//! warning: aggregator.separator: ':' is not valid in MCP tool names ... (config.yml:3)
//! YAML syntax error: did not find expected key (config.yml:7:3)
//! cannot read config file 'missing.yml': No such file or directory (os error 2)
//! ```
//!
//! Values that may be secret (environment values, header values, anything that came from a
//! `${VAR}` expansion) never appear in a message.

use std::fmt;

/// Where in the config file something is. `line` and `column` are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file name as given to [`super::load`] / [`super::parse`].
    pub source: String,
    pub line: usize,
    pub column: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "{}:{}:{}", self.source, self.line, c),
            None => write!(f, "{}:{}", self.source, self.line),
        }
    }
}

/// One configuration error.
///
/// Display: `<field path>: <message> (<file>:<line>)`; the path is left out for errors about the
/// whole file, the location when there is none (file not readable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Field path like `backends[1].transport.command`; empty for file-level errors.
    pub field: String,
    pub message: String,
    pub location: Option<Location>,
}

impl ConfigError {
    pub(crate) fn new(
        field: impl Into<String>,
        message: impl Into<String>,
        location: Option<Location>,
    ) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
            location,
        }
    }

    /// The line (1-based) the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        self.location.as_ref().map(|l| l.line)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(loc) = &self.location {
            write!(f, " ({loc})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// All errors found in a config file, in file order. Display: one error per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A problem that does not stop the gateway. `message` holds the full text without the
/// `warning: ` prefix (`aggregator.separator: ... (config.yml:3)`); Display adds the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning: {}", self.message)
    }
}
