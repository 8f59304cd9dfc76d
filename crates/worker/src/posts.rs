//! Channel posts made once: a channel webhook's `POST` is not idempotent,
//! so a post is claimed in the store before it is made, and two deliveries
//! of one message never both post ([`claim`]).
//!
//! A post is claimed by a create-only record in the store before it is
//! made (`posts/<id>.posting-<n>.json`), and recorded after it
//! (`posts/<id>.json`, with the message's id; [`marker`]). A delivery that
//! finds the post recorded edits that message; one that finds a claim
//! without a record does not post: another delivery is posting, or posted
//! and its answer was lost. It asks again later ([`Failure::Unknown`]);
//! once the claim is older than any delivery lasts, the post's fate stays
//! unknown and the job is let go without posting. A claim whose post
//! surely failed is released (`posts/<id>.failed-<n>.json`): the next one
//! may post.

use std::collections::BTreeMap;
use std::time::Duration;

use mandala_model::clock::now_ms;

use crate::failure::{Cause, Failure};
use crate::outcome::Outcome;
use crate::reply::last_word::Why;
use crate::reply::target::Target;
use crate::state::Shared;
use crate::store::{NewObject, PutOutcome};

/// How many times a channel post may be claimed and fail for sure before
/// the job stops trying.
const MAX_POST_CLAIMS: u32 = 16;

/// Where the id of the message a webhook job posted is kept, by Pub/Sub
/// message id (stable across redeliveries).
pub(crate) fn marker(message_id: &str) -> String {
    let safe: String = message_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(100)
        .collect();
    format!("posts/{safe}.json")
}

/// Next to a post record (`posts/<id>.json`): `posts/<id>.<what>-<n>.json`.
fn beside(marker: &str, what: &str, n: u32) -> String {
    let stem = marker.strip_suffix(".json").unwrap_or(marker);
    format!("{stem}.{what}-{n}.json")
}

/// A claim this delivery holds on making a channel post.
pub(crate) struct PostClaim {
    /// The post record it belongs to ([`marker`]).
    marker: String,
    /// Which claim: the ones before it ended in posts that surely failed.
    n: u32,
}

/// What a channel webhook's send may do.
pub(crate) enum Post {
    /// The job posted before: edit that message.
    Edit(Target),
    /// This delivery may post.
    Mine(PostClaim),
}

/// The content of a claim: whose, and since when.
#[derive(serde::Serialize, serde::Deserialize)]
struct ClaimRecord {
    owner: String,
    at_ms: u64,
}

fn json_object(name: String, value: &serde_json::Value) -> NewObject {
    NewObject {
        name,
        bytes: value.to_string().into(),
        content_type: "application/json".to_owned(),
        metadata: BTreeMap::new(),
    }
}

/// The message a webhook job posted, if its post was recorded.
async fn posted(shared: &Shared, target: &Target, marker: &str) -> Result<Option<Target>, Failure> {
    let record = shared
        .store
        .get(marker)
        .await
        .map_err(|e| Failure::transient(Cause::PostRecord(e), Why::Store))?;
    Ok(record
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.bytes).ok())
        .and_then(|v| v["message_id"].as_str().map(str::to_owned))
        .and_then(|id| target.posted_message(&id)))
}

/// A claim's record; an unreadable one counts as very old.
async fn read_claim(shared: &Shared, name: &str) -> Result<Option<ClaimRecord>, Failure> {
    let found = shared
        .store
        .get(name)
        .await
        .map_err(|e| Failure::transient(Cause::PostClaimRead(e), Why::Store))?;
    Ok(found.map(|o| {
        serde_json::from_slice(&o.bytes).unwrap_or(ClaimRecord {
            owner: String::new(),
            at_ms: 0,
        })
    }))
}

/// Decides whether this delivery may post a channel webhook's message
/// (see the module's documentation).
pub(crate) async fn claim(shared: &Shared, target: &Target, marker: &str) -> Result<Post, Failure> {
    if let Some(edit) = posted(shared, target, marker).await? {
        return Ok(Post::Edit(edit));
    }
    let owner = format!(
        "{:016x}-{}",
        crate::reply::discord::random_u64(),
        std::process::id()
    );
    for n in 0..MAX_POST_CLAIMS {
        let name = beside(marker, "posting", n);
        let mut claim = read_claim(shared, &name).await?;
        if claim.is_none() {
            if try_claim(shared, &name, &owner).await? {
                return Ok(Post::Mine(PostClaim {
                    marker: marker.to_owned(),
                    n,
                }));
            }
            // Someone was first — or this very write landed and its answer
            // was lost.
            claim = read_claim(shared, &name).await?;
            if claim.as_ref().is_some_and(|c| c.owner == owner) {
                return Ok(Post::Mine(PostClaim {
                    marker: marker.to_owned(),
                    n,
                }));
            }
        }
        let failed = shared
            .store
            .exists(&beside(marker, "failed", n))
            .await
            .map_err(store_failed)?;
        if failed {
            continue;
        }
        // Claimed, not surely failed: posting now, or posted.
        if let Some(edit) = posted(shared, target, marker).await? {
            return Ok(Post::Edit(edit));
        }
        return Err(claimed_elsewhere(shared, claim.map_or(0, |c| c.at_ms)));
    }
    Err(Failure::silent(
        Outcome::ReplyDropped,
        Cause::PostFailedTooOften(MAX_POST_CLAIMS),
    ))
}

fn store_failed(e: crate::store::StoreError) -> Failure {
    Failure::transient(Cause::PostClaim(e), Why::Store)
}

/// Writes claim `name` for `owner`, create-only: whether it was created.
async fn try_claim(shared: &Shared, name: &str, owner: &str) -> Result<bool, Failure> {
    let record = serde_json::json!({ "owner": owner, "at_ms": now_ms() });
    let put = shared
        .store
        .put(json_object(name.to_owned(), &record))
        .await
        .map_err(store_failed)?;
    Ok(put == PutOutcome::Created)
}

/// Another delivery claimed the post at `claimed_ms` and recorded nothing:
/// ask again while it may still be at it, then let the job go unposted.
fn claimed_elsewhere(shared: &Shared, claimed_ms: u64) -> Failure {
    let age = Duration::from_millis(now_ms().saturating_sub(claimed_ms));
    // No delivery that claimed the post is still at it after this.
    let settled = 2 * shared.job_deadline;
    if age < settled {
        Failure::unknown(Cause::PostClaimedElsewhere(age))
    } else {
        Failure::silent(Outcome::ReplyUnknown, Cause::PostFateUnknown(age))
    }
}

/// Records the posted message's id, create-only: the first delivery that
/// posted wins. Failing here only means a redelivery cannot edit the
/// message; the claim keeps it from posting again.
pub(crate) async fn record(shared: &Shared, marker: &str, message_id: &str) {
    let record = serde_json::json!({ "message_id": message_id });
    if let Err(e) = shared
        .store
        .put(json_object(marker.to_owned(), &record))
        .await
    {
        tracing::warn!(error = %e, "could not record the posted message; a redelivery will not post again, nor edit it");
    }
}

/// Releases a claim whose post surely was not made.
pub(crate) async fn release(shared: &Shared, claim: &PostClaim) {
    let record = serde_json::json!({ "at_ms": now_ms() });
    let name = beside(&claim.marker, "failed", claim.n);
    if let Err(e) = shared.store.put(json_object(name, &record)).await {
        tracing::warn!(error = %e, "could not release a failed channel post; the job will not post again");
    }
}
