//! rmcp's [`StreamableHttpClient`] for [`HttpClient`], so
//! `StreamableHttpClientTransport::with_client(client, config)` runs over any dialer.
//!
//! Behaviour follows rmcp's own hyper-based (Unix socket) client: JSON and SSE responses, session
//! id, 401/403 challenges, 404 = session expired, response size limits (the smaller of rmcp's
//! limit and our `max_message_size`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ErrorData, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, InsufficientScopeError, StreamableHttpClient, StreamableHttpError,
    StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use sse_stream::Sse;

use super::{parse_uri, HttpClient, HttpClientError};
use crate::core::wire::sse as codec;

const EVENT_STREAM: &str = "text/event-stream";
const JSON: &str = "application/json";
const SESSION_ID: &str = "mcp-session-id";
const LAST_EVENT_ID: &str = "last-event-id";
const RESERVED: &[&str] = &["accept", SESSION_ID, LAST_EVENT_ID];

type Error = StreamableHttpError<HttpClientError>;

fn media_type_is(value: &HeaderValue, expected: &str) -> bool {
    value
        .as_bytes()
        .split(|b| *b == b';')
        .next()
        .and_then(|e| std::str::from_utf8(e).ok())
        .is_some_and(|e| e.trim_matches([' ', '\t']).eq_ignore_ascii_case(expected))
}

async fn read_bounded<S>(stream: S, declared: Option<u64>, max: usize) -> Result<Vec<u8>, Error>
where
    S: Stream<Item = Result<Bytes, hyper::Error>>,
{
    if declared.is_some_and(|n| n > max as u64) {
        return Err(StreamableHttpError::ResponseBodyTooLarge { max_size: max });
    }
    futures::pin_mut!(stream);
    let mut body = Vec::new();
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| StreamableHttpError::Client(HttpClientError::Body(e)))?
    {
        if chunk.len() > max - body.len() {
            return Err(StreamableHttpError::ResponseBodyTooLarge { max_size: max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn read_prefix<S>(stream: S, max: usize) -> Vec<u8>
where
    S: Stream<Item = Result<Bytes, hyper::Error>>,
{
    futures::pin_mut!(stream);
    let mut body = Vec::new();
    while body.len() < max {
        match stream.next().await {
            Some(Ok(chunk)) => {
                let n = chunk.len().min(max - body.len());
                body.extend_from_slice(&chunk[..n]);
            }
            Some(Err(_)) => {
                body.extend_from_slice(b"<failed to read response body>");
                break;
            }
            None => break,
        }
    }
    body.truncate(max);
    body
}

fn sse_stream(
    body: hyper::body::Incoming,
    max: usize,
) -> BoxStream<'static, Result<Sse, sse_stream::Error>> {
    codec::decode_stream(body.into_data_stream(), max)
        .map(|r| {
            r.map(Sse::from)
                .map_err(|e| sse_stream::Error::Body(Box::new(e)))
        })
        .boxed()
}

fn scope_of(header: &str) -> Option<String> {
    let lower = header.to_ascii_lowercase();
    let pos = lower.find("scope=")?;
    let rest = &header[pos + 6..];
    if let Some(q) = rest.strip_prefix('"') {
        return q.find('"').map(|end| q[..end].to_string());
    }
    let end = rest
        .find(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .unwrap_or(rest.len());
    (end > 0).then(|| rest[..end].to_string())
}

/// 401 / 403 with a `WWW-Authenticate` challenge become rmcp's auth errors.
fn auth_error(status: StatusCode, headers: &http::HeaderMap) -> Option<Error> {
    let h = headers.get(WWW_AUTHENTICATE)?;
    let Ok(h) = h.to_str() else {
        return Some(StreamableHttpError::UnexpectedServerResponse(Cow::from(
            "invalid www-authenticate header value",
        )));
    };
    match status {
        StatusCode::UNAUTHORIZED => Some(StreamableHttpError::AuthRequired(
            AuthRequiredError::new(h.to_string()),
        )),
        StatusCode::FORBIDDEN => Some(StreamableHttpError::InsufficientScope(
            InsufficientScopeError::new(h.to_string(), scope_of(h)),
        )),
        _ => None,
    }
}

/// A rejected `server/discover` without a session means "legacy server": answer it as a JSON-RPC
/// error so rmcp falls back to `initialize` (mirrors rmcp's own clients).
fn legacy_discover_response(
    message: &ClientJsonRpcMessage,
    session_was_attached: bool,
    status: StatusCode,
    body: &str,
) -> Option<StreamableHttpPostResponse> {
    if session_was_attached
        || !status.is_client_error()
        || matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
    {
        return None;
    }
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    if !matches!(request.request, ClientRequest::DiscoverRequest(_)) {
        return None;
    }
    let error = match serde_json::from_str::<ServerJsonRpcMessage>(body) {
        Ok(ServerJsonRpcMessage::Error(error)) => error.error,
        _ => ErrorData::invalid_request(
            format!("server/discover rejected with HTTP {status}: {body}"),
            None,
        ),
    };
    Some(StreamableHttpPostResponse::Json(
        ServerJsonRpcMessage::error(error, Some(request.id.clone())),
        None,
    ))
}

impl HttpClient {
    fn builder(
        &self,
        method: Method,
        uri: &str,
        auth: Option<String>,
        custom: HashMap<HeaderName, HeaderValue>,
    ) -> Result<http::request::Builder, Error> {
        let uri = parse_uri(uri).map_err(StreamableHttpError::Client)?;
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(auth) = auth {
            let mut v = HeaderValue::from_str(&format!("Bearer {auth}")).map_err(|_| {
                StreamableHttpError::Client(HttpClientError::InvalidHeader("authorization".into()))
            })?;
            v.set_sensitive(true);
            b = b.header(AUTHORIZATION, v);
        }
        for (name, value) in custom {
            if RESERVED
                .iter()
                .any(|r| name.as_str().eq_ignore_ascii_case(r))
            {
                return Err(StreamableHttpError::ReservedHeaderConflict(
                    name.to_string(),
                ));
            }
            b = b.header(name, value);
        }
        Ok(b)
    }

    async fn send(
        &self,
        b: http::request::Builder,
        body: Bytes,
    ) -> Result<http::Response<hyper::body::Incoming>, Error> {
        let req = b
            .body(Full::new(body))
            .map_err(|e| StreamableHttpError::Client(HttpClientError::Build(e)))?;
        self.request(req).await.map_err(StreamableHttpError::Client)
    }
}

impl StreamableHttpClient for HttpClient {
    type Error = HttpClientError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Error> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let max_json = limits.max_json_response_size.min(self.max_message_size);
        let max_sse = limits.max_sse_event_size.min(self.max_message_size);
        let max_err = limits.max_error_response_size;
        let json = serde_json::to_vec(&message)
            .map_err(|e| StreamableHttpError::Client(HttpClientError::Json(e)))?;
        let mut b = self
            .builder(Method::POST, &uri, auth_header, custom_headers)?
            .header(CONTENT_TYPE, JSON)
            .header(ACCEPT, format!("{EVENT_STREAM}, {JSON}"));
        let session_was_attached = session_id.is_some();
        if let Some(sid) = session_id {
            b = b.header(SESSION_ID, sid.as_ref());
        }
        let response = self.send(b, Bytes::from(json)).await?;
        let status = response.status();
        if let Some(e) = auth_error(status, response.headers()) {
            return Err(e);
        }
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && session_was_attached {
            return Err(StreamableHttpError::SessionExpired);
        }
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        let session_id = response
            .headers()
            .get(SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(sid) = &session_id {
            self.saw_session(sid);
        }
        let redirect = super::redirect_note(status, response.headers());

        if !status.is_success() {
            let is_json = content_type
                .as_ref()
                .is_some_and(|c| media_type_is(c, JSON));
            let is_auth = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
            let stream = response.into_body().into_data_stream();
            let body = if is_json && !is_auth {
                match read_bounded(stream, declared, max_json).await {
                    Ok(b) => b,
                    Err(StreamableHttpError::Client(_)) => {
                        b"<failed to read response body>".to_vec()
                    }
                    Err(e) => return Err(e),
                }
            } else {
                read_prefix(stream, max_err).await
            };
            let text = String::from_utf8_lossy(&body).into_owned();
            if is_json && !is_auth {
                if let Ok(err @ ServerJsonRpcMessage::Error(_)) =
                    serde_json::from_str::<ServerJsonRpcMessage>(&text)
                {
                    if let Some(r) =
                        legacy_discover_response(&message, session_was_attached, status, &text)
                    {
                        return Ok(r);
                    }
                    return Ok(StreamableHttpPostResponse::Json(err, session_id));
                }
            }
            let text: String = text.chars().take(max_err).collect();
            if let Some(r) = legacy_discover_response(&message, session_was_attached, status, &text)
            {
                return Ok(r);
            }
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("HTTP {status}{redirect}: {text}"),
            )));
        }

        let awaits_no_response = matches!(
            message,
            ClientJsonRpcMessage::Notification(_)
                | ClientJsonRpcMessage::Response(_)
                | ClientJsonRpcMessage::Error(_)
        );
        if declared == Some(0) && awaits_no_response {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        match content_type {
            Some(ref ct) if media_type_is(ct, EVENT_STREAM) => Ok(StreamableHttpPostResponse::Sse(
                sse_stream(response.into_body(), max_sse),
                session_id,
            )),
            Some(ref ct) if media_type_is(ct, JSON) => {
                let body =
                    read_bounded(response.into_body().into_data_stream(), declared, max_json)
                        .await?;
                match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
                    Ok(m) => Ok(StreamableHttpPostResponse::Json(m, session_id)),
                    Err(e) if awaits_no_response => {
                        tracing::debug!("unparsable JSON answer to a notification: {e}");
                        Ok(StreamableHttpPostResponse::Accepted)
                    }
                    Err(e) => Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                        format!("could not parse JSON response as ServerJsonRpcMessage: {e}"),
                    ))),
                }
            }
            _ if awaits_no_response => Ok(StreamableHttpPostResponse::Accepted),
            _ => Err(StreamableHttpError::UnexpectedContentType(
                content_type.map(|c| String::from_utf8_lossy(c.as_bytes()).into_owned()),
            )),
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Error> {
        let b = self
            .builder(Method::DELETE, &uri, auth_header, custom_headers)?
            .header(SESSION_ID, session_id.as_ref());
        let response = self.send(b, Bytes::new()).await?;
        let status = response.status();
        // Drain (bounded) so the connection can be reused.
        let _ = read_prefix(response.into_body().into_data_stream(), 64 * 1024).await;
        if status == StatusCode::METHOD_NOT_ALLOWED {
            tracing::debug!("server does not support deleting sessions");
            return Ok(());
        }
        if !status.is_success() {
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("delete_session returned {status}"),
            )));
        }
        Ok(())
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, sse_stream::Error>>, Error> {
        let max = self.max_message_size;
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            max,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, sse_stream::Error>>, Error> {
        let mut b = self
            .builder(Method::GET, &uri, auth_header, custom_headers)?
            .header(ACCEPT, format!("{EVENT_STREAM}, {JSON}"));
        if let Some(sid) = session_id {
            b = b.header(SESSION_ID, sid.as_ref());
        }
        if let Some(id) = last_event_id {
            b = b.header(LAST_EVENT_ID, id);
        }
        let response = self.send(b, Bytes::new()).await?;
        let status = response.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if let Some(e) = auth_error(status, response.headers()) {
            return Err(e);
        }
        if !status.is_success() {
            let redirect = super::redirect_note(status, response.headers());
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("get_stream returned {status}{redirect}"),
            )));
        }
        match response.headers().get(CONTENT_TYPE) {
            Some(ct) if media_type_is(ct, EVENT_STREAM) || media_type_is(ct, JSON) => {}
            other => {
                return Err(StreamableHttpError::UnexpectedContentType(
                    other.map(|c| String::from_utf8_lossy(c.as_bytes()).into_owned()),
                ))
            }
        }
        Ok(sse_stream(
            response.into_body(),
            max_sse_event_size.min(self.max_message_size),
        ))
    }
}
