//! Command-line front ends. Binaries parse arguments here and call into `core`.
