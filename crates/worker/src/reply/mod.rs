//! Telling the user: the Discord message and how it is delivered.
//!
//! - [`message`]: the message body (caption, embed, buttons) and its file.
//! - [`discord`]: the REST client, with the retry schedule that decides
//!   whether a failed reply is waited out, redelivered or dropped.
//! - [`target`]: where a job's reply goes, and which webhook URLs are allowed.
//! - [`secret`]: webhook URLs kept in Secret Manager, read with a short cache.
//! - [`last_word`]: what the user sees when the image will not come.

pub mod discord;
pub mod last_word;
pub mod message;
pub mod secret;
pub mod target;
