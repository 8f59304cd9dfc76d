//! The mandala renderer (skeleton).

pub use mandala_model::RENDER_VERSION;
