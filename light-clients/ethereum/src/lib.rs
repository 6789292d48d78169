//! Pure Ethereum verification for Ferry (work in progress).
