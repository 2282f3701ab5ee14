//! runlet's web UI, served by `runlet server` under `/ui/` on the API's own port and TLS.
//!
//! The pages are a small hand-written front end (`assets/`, plain JavaScript, no build step) embedded in the
//! binary. They read and act on the cluster through the Kubernetes API itself, forwarded in-process under
//! `/ui/api/k8s/` for a signed-in browser, so lists, watches, logs, patches and deletes behave exactly as for
//! kubectl. What the API has no call for is computed here: the Job timeline ([`timeline`], pure).
//!
//! Signing in: the login form takes the server's token, or `runlet ui` asks `POST /ui/tickets` (with the
//! token) for a one-time link. Either gives the browser a session cookie ([`grants`]); the token itself never
//! goes into a cookie or a URL.

pub mod grants;
mod routes;
pub mod timeline;

pub use routes::router;
