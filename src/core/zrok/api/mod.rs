//! Typed client for the zrok v2 controller REST API (`{endpoint}/api/v2`).
//!
//! Transport rules (verified against a zrok2 v2.0.4 controller): `X-TOKEN` carries the account
//! token; bodies are sent as `application/zrok.v1+json` (any other content type gets a 500 "no
//! consumer registered"); `Accept` is `application/zrok.v1+json` (with `Accept: application/json`
//! alone the controller's handler panics and drops the connection); `DELETE /unshare` and
//! `DELETE /unaccess` carry JSON bodies. Handler errors come as bare JSON strings or empty bodies,
//! framework errors as `{"code","message"}`.
//!
//! Every call has a timeout; response bodies are size-limited; tokens never appear in `Debug` output
//! or error messages beyond a short prefix.
//!
//! - `client`: [`ZrokClient`], sending a call and reading its answer, the version calls;
//! - `error`: [`ApiError`] and the controller's error bodies;
//! - `shares`, `accesses`, `overview`: the calls and answer types of each resource.

/// `impl Debug` showing the listed fields in this order, those marked `: token` only by their
/// prefix; `$finish` is `finish` or `finish_non_exhaustive`.
macro_rules! debug_with_tokens {
    (@value $v:expr, token) => {
        &$crate::core::zrok::api::Tok(&$v)
    };
    (@value $v:expr) => {
        &$v
    };
    ($ty:ident { $($field:ident $(: $token:ident)?),* $(,)? }, $finish:ident) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), debug_with_tokens!(@value self.$field $(, $token)?)))*
                    .$finish()
            }
        }
    };
}

mod accesses;
mod client;
mod error;
mod overview;
mod shares;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::core::redact::token_prefix;

pub use accesses::{Access, AccessGrant};
pub use client::ZrokClient;
pub use error::ApiError;
pub use overview::{EnvironmentInfo, EnvironmentOverview, Frontend, Overview};
pub use shares::{Share, ShareAccess, ShareQuery};

/// The media type of the zrok v2 API.
pub(crate) const MEDIA_TYPE: &str = "application/zrok.v1+json";
/// The version this client reports in `POST /clientVersionCheck` (the controller's default pattern
/// accepts `^(refs/(heads|tags)/)?v2\.0`).
pub(crate) const CLIENT_VERSION: &str = concat!("v2.0.4 [mcpz ", env!("CARGO_PKG_VERSION"), "]");
/// Default per-call timeout.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body accepted.
pub(crate) const MAX_BODY: usize = 16 << 20;

/// Share modes, backend modes and permission modes as the API spells them.
pub(crate) mod modes {
    pub(crate) const SHARE_PRIVATE: &str = "private";
    pub(crate) const BACKEND_PROXY: &str = "proxy";
    pub(crate) const PERMISSION_OPEN: &str = "open";
    pub(crate) const PERMISSION_CLOSED: &str = "closed";
    pub(crate) const AUTH_NONE: &str = "none";
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Shows a token as its prefix in `Debug` output.
struct Tok<'a>(&'a str);
impl fmt::Debug for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&token_prefix(self.0))
    }
}
