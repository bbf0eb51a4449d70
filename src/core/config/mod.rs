//! Gateway configuration (YAML), compatible with the Go original's file.
