//! OpenStack Swift backend (work in progress).
