//! Bad requests get the contract's 4xx JSON error and change nothing.
