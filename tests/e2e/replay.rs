//! Replay of committed histories against the current workflow code.
