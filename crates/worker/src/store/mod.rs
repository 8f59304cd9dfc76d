//! Where finished images go: a content-addressed object store.
//!
//! Objects are named by the resolved spec's hash (`renders/v1/<hash>.png`),
//! so a name either does not exist or holds exactly the image its spec
//! describes. That makes every write create-only and every redelivery
//! cheap: [`Store::get`] / [`Store::exists`] first, render only on a miss.
//!
//! - [`gcs`]: Google Cloud Storage (the official crate for writes, the JSON
//!   API for reads, which also works against the emulators).
//! - [`local`]: a directory, written atomically (temp file + rename).

pub mod gcs;
pub mod local;

use std::collections::BTreeMap;

use futures::future::BoxFuture;

/// `Cache-Control` of every stored image: the name is a content hash.
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// An image to store.
#[derive(Debug, Clone)]
pub struct NewObject {
    pub name: String,
    pub bytes: bytes::Bytes,
    pub content_type: String,
    /// Custom metadata (the canonical spec, the seed, the render version).
    pub metadata: BTreeMap<String, String>,
}

/// A stored image read back.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub bytes: bytes::Bytes,
    pub content_type: String,
}

/// What a create-only write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// Someone stored it first (Cloud Storage answered 412); same name, same image.
    AlreadyExisted,
}

/// A store failure: transient or not, the push is not acknowledged, so
/// Pub/Sub redelivers it later. Its words are the store's, what failed,
/// and the error behind it (kept as its source).
#[derive(Debug, thiserror::Error)]
#[error(
    "{store}: {message}{}",
    .source.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
)]
pub struct StoreError {
    pub store: &'static str,
    /// What failed.
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    pub fn new(store: &'static str, message: impl Into<String>) -> Self {
        StoreError {
            store,
            message: message.into(),
            source: None,
        }
    }

    /// What failed (`message`) because of `source`.
    pub fn caused(
        store: &'static str,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError {
            store,
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// A content-addressed object store.
pub trait Store: Send + Sync + 'static {
    /// Whether `name` exists (without reading it).
    fn exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// The object's bytes, if it exists.
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<StoredObject>, StoreError>>;
    /// Creates the object unless it exists.
    fn put(&self, object: NewObject) -> BoxFuture<'_, Result<PutOutcome, StoreError>>;
    /// Where an object is, for people: `gs://bucket/name` or a file path.
    fn location(&self, name: &str) -> String;
}
