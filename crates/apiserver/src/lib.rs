//! The Kubernetes REST API of runlet: discovery and OpenAPI v3 schemas, CRUD with Kubernetes semantics over the
//! revisioned store, list/watch with selectors, the four patch formats, server-side tables, the `status`, `scale`
//! and `log` subresources, bearer-token auth and TLS.
//!
//! The API server is the only component that touches the store; controllers and agents are its clients.
//!
//! Layout: [`server`] (routes, auth, TLS) → [`rest`] (request parsing and dispatch) → [`ops`] (what a create,
//! update or delete means) → [`strategy`] (per-kind defaulting and validation, via `runlet-api`) → the store.

pub mod auth;
pub mod body;
mod chunk;
pub mod discovery;
pub mod error;
pub mod events_ttl;
mod filter;
pub mod limits;
pub mod logs;
pub mod meta;
pub mod namespaces;
pub mod negotiate;
pub mod observe;
pub mod openapi;
pub mod ops;
mod patching;
pub mod pki;
mod podlog;
pub mod protobuf;
pub mod resources;
mod rest;
pub mod runtime_classes;
mod scale;
pub mod server;
pub mod shared_pki;
pub mod state;
pub mod strategy;
mod strict;
mod table;
mod watch;

pub use error::ApiError;
pub use state::ApiState;
