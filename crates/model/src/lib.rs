//! Wire types shared by every Mandala Bot process.
//!
//! Everything that crosses a process boundary is defined here, once: the
//! Discord interaction subset the ingress receives and the responses it
//! sends, the [`RenderSpec`] a user asks for and the [`ResolvedSpec`] the
//! renderer draws, the [`Job`] that travels through Pub/Sub, the
//! [`PushEnvelope`] a push subscription POSTs, and the button state stored in
//! a component's `custom_id`. The crate does no I/O and has no async: it is
//! serde types, validation and pure functions.
//!
//! Layout:
//! - [`bounds`]: every limit a user input is checked against, in one place.
//! - [`colour`], [`palette`]: colours and the named palettes.
//! - [`spec`]: the user-facing [`RenderSpec`] and its validation errors.
//! - [`resolve`]: [`ResolvedSpec`], the deterministic filling of a spec from its seed.
//! - [`cost`]: a spec's predicted render effort, for the queue estimate.
//! - [`stream`]: the seeded random stream whose output is stable across versions and platforms.
//! - [`job`], [`push`]: the job message and the Pub/Sub push envelope around it;
//!   [`shape`]: the names a type knows, to tell a newer job from a broken one.
//! - [`reply_job`]: what the render stage hands the reply stage in the split design.
//! - [`wait`]: how a wait is said to a user (`ready in ~4 s`).
//! - [`grid`]: four candidates in one image, and the cells' specs.
//! - [`drawing`]: one mandala or a grid, as the worker stores and draws it.
//! - [`button`]: the compact `custom_id` encoding of every button's state.
//! - [`remix`]: the Remix form: an image's options in a modal, and back.
//! - [`portrait`]: a user's own mandala, for the user context menu.
//! - [`discord`]: interactions, responses, messages, the `/mandala` command definition;
//!   [`Snowflake`], the type a Discord id (application, interaction, user,
//!   channel) has in a job, a ticket or a reply job, unchecked text on the
//!   wire as before, so it cannot be mixed up with a token or a label.
//! - [`i18n`]: every string a user reads, in English, German, French, Spanish,
//!   Brazilian Portuguese and Japanese.

pub mod bounds;
pub mod button;
pub mod clock;
pub mod colour;
pub mod cost;
pub mod discord;
pub mod drawing;
pub mod grid;
pub mod i18n;
pub mod job;
pub mod palette;
pub mod portrait;
pub mod push;
pub mod remix;
pub mod reply_job;
pub mod resolve;
pub mod shape;
pub mod spec;
pub mod stream;
pub mod wait;

pub use button::{ButtonAction, ButtonState, Next};
pub use colour::Rgb;
pub use cost::Cost;
pub use discord::Snowflake;
pub use drawing::Drawing;
pub use grid::{GridKind, ResolvedGrid};
pub use job::{InteractionReply, Job, JobError, Recorded, Reply, Requester, Salvaged, Ticket};
pub use push::{DecodeError, PushEnvelope, PushMessage};
pub use reply_job::{ReplyJob, StoredImage};
pub use resolve::{LayerSpec, RENDER_VERSION, ResolvedSpec, SpecHash};
pub use spec::{Background, Format, PaletteChoice, RenderSpec, SpecError, Style, StyleChoice};
