//! The ledger in Cloud Firestore, through its REST API.
//!
//! Google publishes no Firestore data client for Rust, and the community
//! gRPC clients bring a large generated API surface; this backend needs six
//! REST calls, made with the same `reqwest` and `google-cloud-auth` the
//! worker already uses. The same code runs against the Firestore emulator
//! that ships with gcloud (`FIRESTORE_EMULATOR_HOST`, no credentials).
//!
//! Layout, in the database named by `FIRESTORE_DATABASE`:
//! - `mandala_queue/{user}`: one document per user with live jobs. `jobs`
//!   holds the entries as JSON (nothing queries inside them); beside it the
//!   sums the estimate and the sweeper query: `n` and `started` (jobs),
//!   `waiting` and `running` (work units), `exp` (the last token expiry, ms), `notice` (the next
//!   waiting notice, ms) and `expire_at`, a timestamp for a TTL policy that
//!   deletes records nobody finished.
//! - `mandala_workers/{id}`: each worker instance's speed report.
//!
//! Compare-and-swap uses the document's `updateTime` as its version:
//! each write is a `:commit` whose precondition is that `updateTime` (or
//! `exists: false` for a new record), and Firestore refuses it if the
//! document changed meanwhile.
//! Totals are one aggregation query (COUNT and SUMs over live records),
//! billed as one read per thousand records.

use futures::future::{BoxFuture, FutureExt as _};
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Backend, LedgerError, Version, Versioned};
use crate::entry::UserQueue;
use crate::estimate::{Totals, WorkerStat};

const NAME: &str = "firestore";
const GOOGLE: &str = "https://firestore.googleapis.com";
const USERS: &str = "mandala_queue";
const WORKERS: &str = "mandala_workers";
/// `notice` of a record with nothing to announce: after every real time.
const NEVER: i64 = i64::MAX;

/// Firestore as the ledger's store.
pub struct FirestoreBackend {
    /// `{endpoint}/v1/projects/P/databases/D/documents`.
    documents: Url,
    credentials: Credentials,
    http: reqwest::Client,
}

impl std::fmt::Debug for FirestoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirestoreBackend")
            .field("documents", &self.documents.as_str())
            .finish_non_exhaustive()
    }
}

fn unavailable(message: impl Into<String>) -> LedgerError {
    LedgerError::Unavailable {
        backend: NAME,
        message: message.into(),
    }
}

fn corrupt(message: impl Into<String>) -> LedgerError {
    LedgerError::Corrupt {
        backend: NAME,
        message: message.into(),
    }
}

/// Checks `projects/P/databases/D`.
pub fn parse_database(name: &str) -> Result<String, String> {
    let parts: Vec<&str> = name.trim().split('/').collect();
    match parts.as_slice() {
        ["projects", p, "databases", d] if !p.is_empty() && !d.is_empty() => {
            Ok(name.trim().to_owned())
        }
        _ => Err(
            "expected projects/PROJECT/databases/DATABASE (the default database is `(default)`)"
                .into(),
        ),
    }
}

impl FirestoreBackend {
    /// `database` is `projects/P/databases/D`; `emulator` is `host:port` of
    /// the Firestore emulator (no credentials), otherwise Google with
    /// Application Default Credentials.
    pub fn connect(database: &str, emulator: Option<&str>) -> Result<Self, LedgerError> {
        let database = parse_database(database).map_err(unavailable)?;
        let (endpoint, credentials) = match emulator {
            Some(host) => (
                format!("http://{}", host.trim().trim_start_matches("http://")),
                google_cloud_auth::credentials::anonymous::Builder::new().build(),
            ),
            None => (
                GOOGLE.to_owned(),
                google_cloud_auth::credentials::Builder::default()
                    .build()
                    .map_err(|e| unavailable(format!("no credentials: {e}")))?,
            ),
        };
        let documents = Url::parse(&format!("{endpoint}/v1/{database}/documents"))
            .map_err(|e| unavailable(format!("bad endpoint {endpoint}: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .connect_timeout(std::time::Duration::from_secs(2))
            .build()
            .map_err(|e| unavailable(format!("cannot build an HTTP client: {e}")))?;
        Ok(FirestoreBackend {
            documents,
            credentials,
            http,
        })
    }

    /// `projects/P/databases/D/documents/{collection}/{id}`, as writes name it.
    fn doc_name(&self, collection: &str, id: &str) -> String {
        let path = self.documents.path();
        let start = path.find("projects/").unwrap_or(0);
        format!("{}/{collection}/{}", &path[start..], doc_id(id))
    }

    fn doc_url(&self, collection: &str, id: &str) -> Url {
        let mut url = self.documents.clone();
        if let Ok(mut s) = url.path_segments_mut() {
            s.extend([collection, &doc_id(id)]);
        }
        url
    }

    fn method_url(&self, method: &str) -> Url {
        // `…/documents:runQuery` is a custom method on the parent path.
        let mut url = self.documents.clone();
        let path = format!("{}:{method}", url.path());
        url.set_path(&path);
        url
    }

    /// One call, repeated while Firestore says it is overloaded or briefly
    /// unavailable (429, 503: its documented advice is to retry with
    /// backoff). The caller's deadline bounds the whole; every call here is
    /// safe to repeat, because each write carries its precondition: a
    /// repeated commit that had landed fails it, and the caller re-reads.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), LedgerError> {
        let mut pause = RETRY_FIRST;
        loop {
            let (status, value) = self.send_once(method.clone(), url.clone(), body).await?;
            if !matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            ) || pause > RETRY_LAST
            {
                return Ok((status, value));
            }
            tracing::debug!(%status, pause_ms = pause.as_millis() as u64, "firestore asked us to back off");
            tokio::time::sleep(jittered(pause)).await;
            pause *= 2;
        }
    }

    async fn send_once(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), LedgerError> {
        let headers = match self.credentials.headers(http::Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => data,
            Ok(CacheableResource::NotModified) => http::HeaderMap::new(),
            Err(e) => return Err(unavailable(format!("cannot get credentials: {e}"))),
        };
        let mut request = self.http.request(method, url).headers(headers);
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let value = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, value))
    }
}

/// The first pause after a 429 or 503, doubled on each repeat.
const RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(20);
/// No pause longer than this: the caller's deadline is short (the answer
/// to Discord waits on it), and past it the call has failed anyway.
const RETRY_LAST: std::time::Duration = std::time::Duration::from_millis(320);

/// `pause` plus up to half again, so clients that were refused together
/// do not come back together.
fn jittered(pause: std::time::Duration) -> std::time::Duration {
    let nanos = mandala_model::clock::subsec_nanos();
    pause + pause.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

/// Document ids must not contain `/`; Discord ids are digits, anything else
/// is hex-encoded so it cannot reach another path.
fn doc_id(id: &str) -> String {
    let plain = !id.is_empty()
        && !id.starts_with('x')
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        id.to_owned()
    } else {
        format!("x{}", hex::encode(id))
    }
}

fn error_status(body: &Value) -> &str {
    body["error"]["status"].as_str().unwrap_or("")
}

fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Object(m) => m
            .get("integerValue")
            .and_then(|i| {
                i.as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| i.as_i64())
            })
            .or_else(|| {
                m.get("doubleValue")
                    .and_then(Value::as_f64)
                    .map(|d| d as i64)
            }),
        _ => None,
    }
}

fn double(v: &Value) -> Option<f64> {
    v.get("doubleValue")
        .and_then(Value::as_f64)
        .or_else(|| integer(v).map(|i| i as f64))
}

fn int_value(i: u64) -> Value {
    json!({ "integerValue": i.min(i64::MAX as u64).to_string() })
}

fn timestamp_value(ms: u64) -> Value {
    let ts = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned());
    json!({ "timestampValue": ts })
}

fn run_query_documents(body: &Value) -> Vec<&Value> {
    body.as_array()
        .map(|rows| rows.iter().filter_map(|r| r.get("document")).collect())
        .unwrap_or_default()
}

impl Backend for FirestoreBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn read<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Versioned, LedgerError>> {
        async move {
            let (status, body) = self
                .send(Method::GET, self.doc_url(USERS, user), None)
                .await?;
            if status == StatusCode::NOT_FOUND {
                return Ok(Versioned {
                    queue: UserQueue::default(),
                    version: Version::Absent,
                });
            }
            if !status.is_success() {
                return Err(unavailable(format!(
                    "reading a queue record: {status} {}",
                    error_status(&body)
                )));
            }
            let version = body["updateTime"]
                .as_str()
                .ok_or_else(|| corrupt("document without updateTime"))?
                .to_owned();
            let jobs = body["fields"]["jobs"]["stringValue"]
                .as_str()
                .unwrap_or("{}");
            let queue: UserQueue = serde_json::from_str(jobs)
                .map_err(|e| corrupt(format!("queue record of {user}: {e}")))?;
            Ok(Versioned {
                queue,
                version: Version::At(version),
            })
        }
        .boxed()
    }

    fn write<'a>(
        &'a self,
        user: &'a str,
        queue: &'a UserQueue,
        expected: &'a Version,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<bool, LedgerError>> {
        async move {
            // `:commit` rather than PATCH with `currentDocument.*` query
            // parameters: the emulator ignores a precondition in the query
            // string, and the body form is the same API for both.
            let precondition = match expected {
                Version::Absent => json!({ "exists": false }),
                Version::At(t) => json!({ "updateTime": t }),
            };
            let name = self.doc_name(USERS, user);
            let write = if queue.jobs.is_empty() {
                if *expected == Version::Absent {
                    return Ok(true);
                }
                json!({ "delete": name, "currentDocument": precondition })
            } else {
                let sums = queue.sums(now_ms);
                let jobs = serde_json::to_string(queue)
                    .map_err(|e| corrupt(format!("cannot encode a queue record: {e}")))?;
                let notice = sums
                    .next_notice_ms
                    .map_or(NEVER, |t| i64::try_from(t).unwrap_or(NEVER));
                let fields = json!({
                    "jobs": { "stringValue": jobs },
                    "n": int_value(sums.jobs),
                    "started": int_value(sums.running_jobs),
                    "waiting": int_value(sums.waiting_units),
                    "running": int_value(sums.running_units),
                    "exp": int_value(sums.expires_ms),
                    "notice": { "integerValue": notice.to_string() },
                    "expire_at": timestamp_value(sums.keep_until_ms),
                });
                json!({
                    "update": { "name": name, "fields": fields },
                    "currentDocument": precondition,
                })
            };
            let (status, body) = self
                .send(
                    Method::POST,
                    self.method_url("commit"),
                    Some(&json!({ "writes": [write] })),
                )
                .await?;
            if status.is_success() {
                return Ok(true);
            }
            // A changed or vanished document: the caller reads again.
            let conflict = matches!(
                (status, error_status(&body)),
                (
                    StatusCode::CONFLICT | StatusCode::NOT_FOUND | StatusCode::PRECONDITION_FAILED,
                    _
                ) | (_, "FAILED_PRECONDITION" | "ALREADY_EXISTS" | "ABORTED")
            );
            if conflict {
                Ok(false)
            } else {
                Err(unavailable(format!(
                    "writing a queue record: {status} {}",
                    error_status(&body)
                )))
            }
        }
        .boxed()
    }

    fn totals(&self, now_ms: u64) -> BoxFuture<'_, Result<Totals, LedgerError>> {
        async move {
            let query = json!({
                "structuredAggregationQuery": {
                    "structuredQuery": {
                        "from": [{ "collectionId": USERS }],
                        "where": { "fieldFilter": {
                            "field": { "fieldPath": "exp" },
                            "op": "GREATER_THAN",
                            "value": int_value(now_ms),
                        }},
                    },
                    "aggregations": [
                        { "alias": "users", "count": {} },
                        { "alias": "jobs", "sum": { "field": { "fieldPath": "n" } } },
                        { "alias": "started", "sum": { "field": { "fieldPath": "started" } } },
                        { "alias": "waiting", "sum": { "field": { "fieldPath": "waiting" } } },
                        { "alias": "running", "sum": { "field": { "fieldPath": "running" } } },
                    ],
                }
            });
            let (status, body) = self
                .send(
                    Method::POST,
                    self.method_url("runAggregationQuery"),
                    Some(&query),
                )
                .await?;
            if !status.is_success() {
                return Err(unavailable(format!(
                    "summing the queue: {status} {}",
                    error_status(&body)
                )));
            }
            let fields = body
                .as_array()
                .and_then(|rows| rows.iter().find_map(|r| r.get("result")))
                .map(|r| &r["aggregateFields"])
                .ok_or_else(|| corrupt("aggregation answer without a result"))?;
            let get = |k: &str| integer(&fields[k]).map_or(0, |v| v.max(0) as u64);
            Ok(Totals {
                users: get("users"),
                jobs: get("jobs"),
                running_jobs: get("started"),
                waiting_units: get("waiting"),
                running_units: get("running"),
            })
        }
        .boxed()
    }

    fn workers(&self, since_ms: u64) -> BoxFuture<'_, Result<Vec<WorkerStat>, LedgerError>> {
        async move {
            let query = json!({
                "structuredQuery": {
                    "from": [{ "collectionId": WORKERS }],
                    "where": { "fieldFilter": {
                        "field": { "fieldPath": "seen" },
                        "op": "GREATER_THAN",
                        "value": int_value(since_ms),
                    }},
                    "limit": 1000,
                }
            });
            let (status, body) = self
                .send(Method::POST, self.method_url("runQuery"), Some(&query))
                .await?;
            if !status.is_success() {
                return Err(unavailable(format!(
                    "reading worker reports: {status} {}",
                    error_status(&body)
                )));
            }
            let stats = run_query_documents(&body)
                .into_iter()
                .filter_map(|doc| {
                    let f = &doc["fields"];
                    let id = doc["name"].as_str()?.rsplit('/').next()?.to_owned();
                    Some(WorkerStat {
                        id,
                        slots: u32::try_from(integer(&f["slots"])?).ok()?,
                        us_per_unit: double(&f["us_per_unit"])?,
                        overhead_us: double(&f["overhead_us"])?,
                        lateness: double(&f["lateness"]).unwrap_or(1.0),
                        seen_ms: u64::try_from(integer(&f["seen"])?).ok()?,
                    })
                })
                .collect();
            Ok(stats)
        }
        .boxed()
    }

    fn put_worker<'a>(&'a self, stat: &'a WorkerStat) -> BoxFuture<'a, Result<(), LedgerError>> {
        async move {
            let fields = json!({
                "slots": int_value(u64::from(stat.slots)),
                "us_per_unit": { "doubleValue": stat.us_per_unit },
                "overhead_us": { "doubleValue": stat.overhead_us },
                "lateness": { "doubleValue": stat.lateness },
                "seen": int_value(stat.seen_ms),
                // Reports of instances long gone are deleted by the TTL policy.
                "expire_at": timestamp_value(stat.seen_ms + 24 * 3600 * 1000),
            });
            let (status, body) = self
                .send(
                    Method::PATCH,
                    self.doc_url(WORKERS, &stat.id),
                    Some(&json!({ "fields": fields })),
                )
                .await?;
            if status.is_success() {
                Ok(())
            } else {
                Err(unavailable(format!(
                    "writing a worker report: {status} {}",
                    error_status(&body)
                )))
            }
        }
        .boxed()
    }

    fn due_notices(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<String>, LedgerError>> {
        async move {
            // Both bounds on the one field need no composite index. The
            // lower one leaves out records nobody rewrote before all their
            // tokens died (see `DEAD_AFTER_MS`), so they cannot crowd the
            // live ones out of the limit; the TTL policy deletes them.
            let field = |op: &str, ms: u64| {
                json!({ "fieldFilter": {
                    "field": { "fieldPath": "notice" },
                    "op": op,
                    "value": int_value(ms),
                }})
            };
            let query = json!({
                "structuredQuery": {
                    "select": { "fields": [{ "fieldPath": "__name__" }] },
                    "from": [{ "collectionId": USERS }],
                    "where": { "compositeFilter": {
                        "op": "AND",
                        "filters": [
                            field("GREATER_THAN", now_ms.saturating_sub(super::DEAD_AFTER_MS)),
                            field("LESS_THAN_OR_EQUAL", now_ms),
                        ],
                    }},
                    "limit": limit,
                }
            });
            let (status, body) = self
                .send(Method::POST, self.method_url("runQuery"), Some(&query))
                .await?;
            if !status.is_success() {
                return Err(unavailable(format!(
                    "looking for overdue jobs: {status} {}",
                    error_status(&body)
                )));
            }
            Ok(run_query_documents(&body)
                .into_iter()
                .filter_map(|doc| Some(decode_id(doc["name"].as_str()?.rsplit('/').next()?)))
                .collect())
        }
        .boxed()
    }
}

/// Undoes [`doc_id`].
fn decode_id(id: &str) -> String {
    id.strip_prefix('x')
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_leave_their_collection() {
        assert_eq!(doc_id("80351110224678912"), "80351110224678912");
        let odd = doc_id("../x/y");
        assert!(!odd.contains('/'), "{odd}");
        assert_eq!(decode_id(&odd), "../x/y");
        assert_eq!(decode_id("80351110224678912"), "80351110224678912");
        assert_eq!(decode_id(&doc_id("xab")), "xab");
    }

    #[test]
    fn database_names_are_checked() {
        assert!(parse_database("projects/p/databases/(default)").is_ok());
        assert!(parse_database("p/(default)").is_err());
    }
}
