//! Payment outages and refusals.
