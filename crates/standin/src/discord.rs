//! The Discord REST API stand-in (not built yet).
