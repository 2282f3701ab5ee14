//! The thin I/O layer: JSON requests over the kube-rs client, errors turned into [`CliError`]s.

use futures::{AsyncBufRead, AsyncBufReadExt, Stream, StreamExt};
use http::{Method, Request, header};
use serde_json::Value;

use crate::error::{CliError, Result};

/// What `kubectl get` sends to be answered with a server-side Table.
pub const ACCEPT_TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
const JSON: &str = "application/json";

/// The patch formats of `PATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PatchType {
    Strategic,
    Merge,
    Json,
}

impl PatchType {
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Json => "application/json-patch+json",
        }
    }
}

/// A path with a query string; empty values are left out.
pub fn with_query(path: &str, params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(k, v);
        any = true;
    }
    if any { format!("{path}?{}", query.finish()) } else { path.to_string() }
}

#[derive(Clone)]
pub struct Api {
    client: kube::Client,
    /// `host:port` of the server, for the message when it cannot be reached.
    server: String,
}

impl Api {
    pub fn new(client: kube::Client, server: String) -> Api {
        Api { client, server }
    }

    /// kubectl's words for a server that refuses connections; other errors as they are.
    fn error(&self, e: kube::Error) -> CliError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if s.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
                return CliError::Unreachable(format!(
                    "The connection to the server {} was refused - did you specify the right host or port?",
                    self.server
                ));
            }
            source = s.source();
        }
        CliError::from(e)
    }

    fn request(
        method: Method,
        uri: &str,
        accept: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Request<Vec<u8>>> {
        let mut b = Request::builder().method(method).uri(uri).header(header::ACCEPT, accept);
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        b.body(body).map_err(|e| CliError::other(format!("bad request {uri}: {e}")))
    }

    async fn send(&self, req: Request<Vec<u8>>) -> Result<Value> {
        let text = self.client.request_text(req).await.map_err(|e| self.error(e))?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| CliError::other(format!("the server sent something that is not JSON: {e}")))
    }

    /// `GET` answered with JSON.
    pub async fn get(&self, uri: &str) -> Result<Value> {
        self.send(Self::request(Method::GET, uri, JSON, None, Vec::new())?).await
    }

    /// `GET` of a list or object as a `meta.k8s.io/v1` Table.
    pub async fn get_table(&self, uri: &str) -> Result<Value> {
        self.send(Self::request(Method::GET, uri, ACCEPT_TABLE, None, Vec::new())?).await
    }

    /// `GET` whose answer is text (logs).
    pub async fn get_text(&self, uri: &str) -> Result<String> {
        let req = Self::request(Method::GET, uri, "*/*", None, Vec::new())?;
        self.client.request_text(req).await.map_err(|e| self.error(e))
    }

    /// A request with a JSON body.
    pub async fn send_json(&self, method: Method, uri: &str, content_type: &str, body: &Value) -> Result<Value> {
        let bytes = serde_json::to_vec(body).map_err(|e| CliError::other(e.to_string()))?;
        self.send(Self::request(method, uri, JSON, Some(content_type), bytes)?).await
    }

    pub async fn post(&self, uri: &str, body: &Value) -> Result<Value> {
        self.send_json(Method::POST, uri, JSON, body).await
    }

    pub async fn put(&self, uri: &str, body: &Value) -> Result<Value> {
        self.send_json(Method::PUT, uri, JSON, body).await
    }

    pub async fn patch(&self, uri: &str, patch_type: PatchType, body: &Value) -> Result<Value> {
        self.send_json(Method::PATCH, uri, patch_type.content_type(), body).await
    }

    pub async fn delete(&self, uri: &str, body: &Value) -> Result<Value> {
        self.send_json(Method::DELETE, uri, JSON, body).await
    }

    /// A streamed `GET` (log follows).
    pub async fn stream(&self, uri: &str, accept: &str) -> Result<impl AsyncBufRead + Unpin + use<>> {
        let req = Self::request(Method::GET, uri, accept, None, Vec::new())?;
        let body = self.client.request_stream(req).await.map_err(|e| self.error(e))?;
        Ok(Box::pin(body))
    }

    /// A watch: one JSON event per line until the server ends it.
    pub async fn watch(&self, uri: &str, accept: &str) -> Result<impl Stream<Item = Result<Value>> + Unpin + use<>> {
        let body = self.stream(uri, accept).await?;
        Ok(body
            .lines()
            .map(|line| match line {
                Ok(l) => {
                    serde_json::from_str::<Value>(&l).map_err(|e| CliError::other(format!("bad watch event: {e}")))
                }
                Err(e) => Err(CliError::from(e)),
            })
            .boxed())
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<Value> {
        self.get("/version").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        assert_eq!(with_query("/api/v1/pods", &[]), "/api/v1/pods");
        assert_eq!(with_query("/api/v1/pods", &[("labelSelector", ""), ("limit", "5")]), "/api/v1/pods?limit=5");
        assert_eq!(
            with_query("/p", &[("labelSelector", "job-name=pi,a in (b)"), ("watch", "true")]),
            "/p?labelSelector=job-name%3Dpi%2Ca+in+%28b%29&watch=true"
        );
    }
}
