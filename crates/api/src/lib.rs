//! The pure model of runlet: every rule about what a valid object is, and every pure computation the
//! API server and controllers share. No I/O, no async.
//!
//! - [`field`]: field-error values and their exact Kubernetes text.
//! - [`names`]: RFC 1123 names and label syntax.
//! - [`selector`]: label selectors (parse, match, format) and field selectors.
//! - [`duration`]: kubectl's `HumanDuration`.
//! - [`expand`]: Kubernetes `$(VAR)` expansion, bounded.
//! - [`event`]: the `core/v1` Event object a component records.
//! - [`intervals`]: Indexed Job index-interval strings (`0-2,5,7,8`).
//! - [`job`]: Job defaulting and validation (create, update, status).
//! - [`cronjob`]: CronJob defaulting and validation; [`cron`]: the schedule syntax and its next activation.
//! - [`pod`]: Pod defaulting and validation.
//! - [`namespace`]: Namespace validation.
//! - [`config`]: ConfigMap and Secret validation.
//! - [`runtime_class`]: RuntimeClass validation and what it does to the pods that name one.
//! - [`table`]: server-side table columns and cells for `kubectl get`.
//! - [`labels`]: well-known label, annotation and finalizer keys.
//! - [`meta`]: `ObjectMeta` validation and Go-style value formatting shared by every kind.
//! - [`quantity`]: resource quantities (`500m`, `1Gi`) as exact numbers.
//! - [`vocab`]: Kubernetes' vocabulary as types (condition statuses and types, pod phases, event types).
//! - [`taints`]: node taints, pod tolerations and the tolerations every new pod gets by default.
//! - [`yaml`]: YAML read as Kubernetes reads it (YAML 1.1 octal numbers).

pub mod config;
pub mod cron;
pub mod cronjob;
pub mod duration;
pub mod event;
pub mod expand;
pub mod field;
pub mod intervals;
pub mod job;
pub mod labels;
pub mod meta;
pub mod names;
pub mod namespace;
pub mod pod;
pub mod quantity;
pub mod runtime_class;
pub mod selector;
pub mod table;
pub mod taints;
pub mod vocab;
pub mod yaml;

pub use runlet_codec as codec;
