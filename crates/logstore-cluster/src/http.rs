//! HTTP transport (to come).
