//! Container images for runlet's `oci` runtime handler: references normalised as Docker's ([`reference`]),
//! digests ([`digest`]), image configurations ([`config`]), the node's content-addressed store with layers
//! unpacked once ([`store`], [`unpack`]), pulls from registries ([`pull`]) and imports of `docker save`
//! archives and OCI layouts ([`import`]).

pub mod config;
pub mod digest;
pub mod import;
pub mod pull;
pub mod reference;
pub mod store;
pub mod unpack;

pub use config::{ImageConfig, RunConfig};
pub use digest::Digest;
pub use pull::{Credentials, PullError, PullOptions, credentials_for, pull};
pub use reference::{Reference, ReferenceError};
pub use store::{ImageRecord, ImageStore, StoreError};
