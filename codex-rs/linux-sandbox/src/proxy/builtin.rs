//! The built-in domain allow-list proxy, which `codex` runs when
//! `features.network_proxy` or `[managed_proxy]` routes a network through
//! it. The sandbox is routed to it like to any
//! loopback proxy, except that no host port is opened: the bridge hands
//! each connection accepted on the sandbox's listener straight to
//! [`BuiltinProxy::serve`], so no other local process can use the proxy,
//! and a connection takes one loopback hop instead of two.
//!
//! It speaks plain HTTP forwarding (absolute-form requests, each forwarded
//! on its own upstream connection, so one client connection cannot reuse
//! an allowed name's connection for another name) and `CONNECT` tunnels
//! for HTTPS, whose bytes it copies without looking inside (no TLS
//! interception, so what a client sends inside a tunnel, its TLS server
//! name included, is not checked: only the tunnel's target is). Every
//! request is judged by
//! [`DomainPolicy`]: the
//! name first, then each address it resolves to; the connection goes to an
//! address that passed, never to a name resolved again, and the upstream
//! sees the checked name as `Host`. A refusal answers `403 Forbidden` with
//! the reason and prints one line naming the target.
//!
//! It runs on one thread with a current-thread tokio runtime: it serves one
//! command's connections, and lives as long as this process. A client gets
//! [`HEADER_TIMEOUT`] to send a request head; a name gets
//! [`UPSTREAM_TIMEOUT`] to resolve and connect.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use codex_sandboxing::proxy::domains::{DomainPolicy, Refusal};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

/// A response body of either kind: an upstream's, or one of ours.
type Body = BoxBody<Bytes, hyper::Error>;

/// Headers that describe one hop and are not forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// How long a client may take to send a request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long resolving a name and connecting to it may take.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(15);

/// A running built-in proxy; cloning it shares the same one.
#[derive(Clone)]
pub struct BuiltinProxy {
    runtime: tokio::runtime::Handle,
    context: Arc<Context>,
}

impl std::fmt::Debug for BuiltinProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinProxy").finish_non_exhaustive()
    }
}

impl BuiltinProxy {
    /// Starts the proxy's runtime thread. Refusals are printed to stderr
    /// after `log_prefix`.
    pub fn start(policy: DomainPolicy, log_prefix: String) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("builtin-proxy".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
        Ok(BuiltinProxy {
            runtime: handle,
            context: Arc::new(Context { policy, log_prefix }),
        })
    }

    /// Serves one client connection (HTTP/1.1, `CONNECT` included) until
    /// the client closes it.
    pub fn serve(&self, stream: std::net::TcpStream) {
        let context = Arc::clone(&self.context);
        self.runtime.spawn(async move {
            let stream = match stream
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(stream))
            {
                Ok(stream) => stream,
                Err(err) => {
                    tracing::debug!(%err, "built-in proxy cannot take a connection");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |request| {
                let context = Arc::clone(&context);
                async move { Ok::<_, Infallible>(handle(request, &context).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .preserve_header_case(true)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
            if let Err(err) = served {
                tracing::debug!(%err, "built-in proxy connection ended with an error");
            }
        });
    }
}

/// What every request handler needs.
struct Context {
    policy: DomainPolicy,
    log_prefix: String,
}

/// Why a request is not forwarded.
enum Failure {
    /// The policy refuses it (403).
    Refused(Refusal),
    /// The request is not one a forward proxy serves (400).
    BadRequest(&'static str),
    /// The name could not be resolved or connected to (502).
    Upstream(String),
}

async fn handle(request: Request<Incoming>, context: &Context) -> Response<Body> {
    let target = if request.method() == Method::CONNECT {
        request
            .uri()
            .authority()
            .map_or_else(|| request.uri().to_string(), ToString::to_string)
    } else {
        request.uri().to_string()
    };
    let method = request.method().clone();
    let result = match context.policy.check_method(method.as_str()) {
        Err(refusal) => Err(Failure::Refused(refusal)),
        Ok(()) if method == Method::CONNECT => tunnel(request, &context.policy).await,
        Ok(()) => forward(request, &context.policy).await,
    };
    result.unwrap_or_else(|failure| {
        let (status, reason, proxy_error) = match failure {
            Failure::Refused(refusal) => (
                StatusCode::FORBIDDEN,
                refusal.to_string(),
                Some(refusal.header_value()),
            ),
            Failure::BadRequest(reason) => (StatusCode::BAD_REQUEST, reason.to_owned(), None),
            Failure::Upstream(reason) => (StatusCode::BAD_GATEWAY, reason, None),
        };
        if status == StatusCode::FORBIDDEN {
            eprintln!(
                "{}: network: refused {method} {target}: {reason}",
                context.log_prefix
            );
        }
        let mut response = text_response(
            status,
            format!("codex sandbox proxy: {method} {target}: {reason}\n"),
        );
        if let Some(value) = proxy_error {
            // The header Codex's proxy marks its refusals with.
            response
                .headers_mut()
                .insert("x-proxy-error", HeaderValue::from_static(value));
        }
        response
    })
}

/// `CONNECT host:port`: checks, connects, answers 200, then copies bytes
/// both ways once the client's connection is handed over.
async fn tunnel(
    request: Request<Incoming>,
    policy: &DomainPolicy,
) -> Result<Response<Body>, Failure> {
    let authority = request
        .uri()
        .authority()
        .ok_or(Failure::BadRequest("CONNECT needs host:port"))?;
    let port = authority
        .port_u16()
        .ok_or(Failure::BadRequest("CONNECT needs an explicit port"))?;
    let mut upstream = connect_allowed(policy, authority.host(), port).await?;
    tokio::spawn(async move {
        match hyper::upgrade::on(request).await {
            Ok(upgraded) => {
                let mut client = TokioIo::new(upgraded);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
            Err(err) => tracing::debug!(%err, "CONNECT upgrade failed"),
        }
    });
    Ok(Response::new(empty_body()))
}

/// An absolute-form `http://` request: checks, connects, and sends it on
/// a connection of its own in origin form, without hop-by-hop headers.
async fn forward(
    mut request: Request<Incoming>,
    policy: &DomainPolicy,
) -> Result<Response<Body>, Failure> {
    let uri = request.uri().clone();
    if uri.scheme_str() != Some("http") {
        return Err(Failure::BadRequest(
            "only absolute http:// requests and CONNECT are proxied",
        ));
    }
    let host = uri
        .host()
        .ok_or(Failure::BadRequest("no host in the URL"))?;
    let port = uri.port_u16().unwrap_or(80);
    let upstream = connect_allowed(policy, host, port).await?;
    let origin_form = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    *request.uri_mut() = origin_form
        .parse::<Uri>()
        .map_err(|_| Failure::BadRequest("bad request path"))?;
    let headers = request.headers_mut();
    remove_hop_by_hop(headers);
    // The name that was checked is the name the server sees: a client's
    // own `Host` (say, another site on the same CDN) is replaced, as
    // RFC 9112 asks of a proxy, and never carries the URL's userinfo.
    let authority = match uri.port_u16() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let host_value = HeaderValue::from_str(&authority)
        .map_err(|_| Failure::BadRequest("the URL's host is not a valid Host header"))?;
    headers.insert(HOST, host_value);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(upstream))
        .await
        .map_err(|err| Failure::Upstream(format!("upstream handshake failed: {err}")))?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(%err, "upstream connection ended with an error");
        }
    });
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|err| Failure::Upstream(format!("upstream request failed: {err}")))?;
    // The upstream's `Connection: close` ends its own connection, not the
    // client's: each hop decides its own.
    remove_hop_by_hop(response.headers_mut());
    Ok(response.map(BodyExt::boxed))
}

/// Removes the headers that describe one hop: the fixed list, and every
/// header the `Connection` header names.
fn remove_hop_by_hop(headers: &mut hyper::HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(HeaderName::from_static(name));
    }
}

/// Checks `host` against the policy, resolves it, keeps the addresses the
/// policy allows and connects to the first that answers.
async fn connect_allowed(
    policy: &DomainPolicy,
    host: &str,
    port: u16,
) -> Result<TcpStream, Failure> {
    let allowed = policy.check_host(host).map_err(Failure::Refused)?;
    let resolved: Vec<SocketAddr> =
        tokio::time::timeout(UPSTREAM_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| Failure::Upstream(format!("resolving {host} timed out")))?
            .map_err(|err| Failure::Upstream(format!("cannot resolve {host}: {err}")))?
            .collect();
    let mut first_refusal = None;
    let mut last_error = None;
    for addr in resolved {
        if let Err(refusal) = policy.check_address(addr.ip(), allowed) {
            first_refusal.get_or_insert(refusal);
            continue;
        }
        match tokio::time::timeout(UPSTREAM_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(err)) => last_error = Some(format!("cannot connect to {addr}: {err}")),
            Err(_) => last_error = Some(format!("connecting to {addr} timed out")),
        }
    }
    Err(match (last_error, first_refusal) {
        (Some(error), _) => Failure::Upstream(error),
        (None, Some(refusal)) => Failure::Refused(refusal),
        (None, None) => Failure::Upstream(format!("{host} resolved to no address")),
    })
}

/// One of our own error answers; the client connection is closed after
/// it.
fn text_response(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(text))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn empty_body() -> Body {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

#[cfg(test)]
mod tests;
