//! A loopback proxy that forwards everything to the server untouched and counts the bytes of
//! request and reply bodies as they travel (compressed, gzip or zstd, as on the wire). The demo
//! puts one in front of each phone so its report gives real transfer figures without touching
//! the client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};

use crate::error::{CliError, CliResult};

/// Bytes and requests seen by a [`CountingProxy`].
#[derive(Debug, Default)]
pub struct Traffic {
    pub up: AtomicU64,
    pub down: AtomicU64,
    pub requests: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TrafficSnapshot {
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub requests: u64,
}

impl Traffic {
    pub fn snapshot(&self) -> TrafficSnapshot {
        TrafficSnapshot {
            bytes_up: self.up.load(Ordering::SeqCst),
            bytes_down: self.down.load(Ordering::SeqCst),
            requests: self.requests.load(Ordering::SeqCst),
        }
    }
}

impl std::ops::Sub for TrafficSnapshot {
    type Output = TrafficSnapshot;
    fn sub(self, o: TrafficSnapshot) -> TrafficSnapshot {
        TrafficSnapshot {
            bytes_up: self.bytes_up.saturating_sub(o.bytes_up),
            bytes_down: self.bytes_down.saturating_sub(o.bytes_down),
            requests: self.requests.saturating_sub(o.requests),
        }
    }
}

/// Headers that describe one hop, not the message.
const HOP: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
];

pub struct CountingProxy {
    pub url: String,
    pub traffic: Arc<Traffic>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl CountingProxy {
    pub fn start(target: &str) -> CliResult<CountingProxy> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let url = format!("http://{}", listener.local_addr()?);
        // No decompression (of any encoding the workspace's reqwest can decode): bodies pass
        // through byte for byte and are counted as sent.
        let http = reqwest::Client::builder()
            .no_gzip()
            .no_zstd()
            .no_brotli()
            .no_deflate()
            .no_proxy()
            .build()
            .map_err(|e| CliError::new(format!("proxy client: {e}")))?;
        let traffic = Arc::new(Traffic::default());
        let counted = traffic.clone();
        let target = target.trim_end_matches('/').to_owned();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (http, target, traffic) = (http.clone(), target.clone(), counted.clone());
                async move {
                    traffic.requests.fetch_add(1, Ordering::SeqCst);
                    traffic.up.fetch_add(body.len() as u64, Ordering::SeqCst);
                    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                    let mut request = http.request(method, format!("{target}{path}")).body(body);
                    for (k, v) in headers.iter() {
                        if !HOP.contains(&k.as_str()) {
                            request = request.header(k, v);
                        }
                    }
                    let response = match request.send().await {
                        Ok(r) => r,
                        Err(_) => return (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::new()),
                    };
                    let status = response.status();
                    let mut out = HeaderMap::new();
                    for (k, v) in response.headers() {
                        if !HOP.contains(&k.as_str()) {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                    match response.bytes().await {
                        Ok(bytes) => {
                            traffic.down.fetch_add(bytes.len() as u64, Ordering::SeqCst);
                            (status, out, bytes)
                        }
                        Err(_) => (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::new()),
                    }
                }
            },
        );
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(CountingProxy {
            url,
            traffic,
            runtime: Some(runtime),
        })
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
