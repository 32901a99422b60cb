//! Cancels and deadlines: the payment is voided (compensation) and the list shows it.
