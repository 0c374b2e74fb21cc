//! Retry wrapper (work in progress).
