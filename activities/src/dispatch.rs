//! Dispatch activities: the store of open calls riders read, and the choice of the rider an
//! offered call goes to.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::{CallReach, OpenCall, RiderId};
use identity::{Accounts, Profile, Role};
use prometheus::IntCounter;
use readmodel::{DeliveryId, ReadModel, RiderDispatch};
use telemetry::metrics::Metrics;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use workflows::model::OfferInput;

use crate::Failures;

/// Offers and withdraws calls in the dispatch store.
pub struct Dispatch {
    store: ReadModel,
    /// The riders' zones and capacity (their accounts live in the same database).
    accounts: Accounts,
    failures: Failures,
    unassigned: Option<IntCounter>,
}

impl Dispatch {
    pub fn new(store: ReadModel) -> Self {
        Self {
            accounts: Accounts::from_connection(store.connection().clone()),
            store,
            failures: Failures::default(),
            unassigned: None,
        }
    }

    /// Counts failed attempts, and calls whose offers ran out, into `metrics`.
    pub fn with_metrics(mut self, metrics: Option<&Metrics>) -> Self {
        self.failures = Failures::new(metrics);
        self.unassigned = metrics.map(|m| {
            m.counter(
                "dispatch_unassigned_calls",
                "Calls in offer mode whose offers ran out (rounds spent, or no candidate) and went to every rider",
                &[],
            )
            .with_label_values(&[] as &[&str])
        });
        self
    }

    /// The riders an offer may go to, with what ranks them.
    async fn candidates(&self, input: &OfferInput) -> Result<Vec<Candidate>, String> {
        let now = Utc::now();
        let riders = self
            .accounts
            .all(Role::Rider)
            .await
            .map_err(|e| e.to_string())?;
        let mut dispatch = self
            .store
            .riders_dispatch(None)
            .await
            .map_err(|e| e.to_string())?;
        let offers = self
            .store
            .offers_out(now, &input.call.call.delivery_id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(riders
            .into_iter()
            .filter_map(|account| {
                let Profile::Rider(profile) = account.profile else {
                    return None;
                };
                let state = dispatch.remove(account.id.as_str()).unwrap_or_default();
                Some(Candidate {
                    offers_out: offers.get(account.id.as_str()).copied().unwrap_or(0),
                    id: account.id.into(),
                    works_in: profile.zones.covers(&input.zone),
                    capacity: usize::from(profile.capacity.get()),
                    state,
                })
            })
            .collect())
    }
}

/// A rider as the ranking sees it.
#[derive(Clone, Debug)]
struct Candidate {
    id: RiderId,
    /// Its zones include the restaurant's.
    works_in: bool,
    capacity: usize,
    state: RiderDispatch,
    /// Offers of other calls waiting for its answer.
    offers_out: u32,
}

/// The rider to offer a call to: among those online, working in the zone, with a free place
/// and not in `excluded`, the one holding the fewest deliveries (offers waiting for its
/// answer count too, so a burst of calls is spread over the fleet), then the one waiting
/// longest since its last delivery (never = longest), then the smallest id.
fn best_candidate(candidates: &[Candidate], excluded: &[RiderId]) -> Option<RiderId> {
    let never = DateTime::<Utc>::MIN_UTC;
    candidates
        .iter()
        .filter(|c| {
            c.state.online
                && c.works_in
                && c.state.active.len() < c.capacity
                && !excluded.contains(&c.id)
        })
        .min_by_key(|c| {
            (
                c.state.active.len() + c.offers_out as usize,
                c.state.last_assigned_at.unwrap_or(never),
                c.id.as_str(),
            )
        })
        .map(|c| c.id.clone())
}

#[activities]
impl Dispatch {
    #[activity(definition = workflows::activities::definitions::OfferCall)]
    #[tracing::instrument(skip_all, fields(delivery_id = %call.call.delivery_id, trace_id = %telemetry::current_trace_id()))]
    pub async fn offer_call(
        self: Arc<Self>,
        _ctx: ActivityContext,
        call: OpenCall,
    ) -> Result<(), ActivityError> {
        self.store
            .offer_call(&call)
            .await
            .map_err(|e| self.failures.read_model("offer call", e))?;
        if let CallReach::Unassigned { round } = call.reach {
            tracing::info!(round, "offers ran out: the call is open to every rider");
            // A retried write counts again: the metric is for alerting, not accounting.
            if let Some(counter) = &self.unassigned {
                counter.inc();
            }
        }
        Ok(())
    }

    #[activity(definition = workflows::activities::definitions::OfferToRider)]
    #[tracing::instrument(skip_all, fields(delivery_id = %input.call.call.delivery_id, round = input.round, trace_id = %telemetry::current_trace_id()))]
    pub async fn offer_to_rider(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: OfferInput,
    ) -> Result<Option<RiderId>, ActivityError> {
        let candidates = self
            .candidates(&input)
            .await
            .map_err(|e| self.failures.retryable("rank riders", e))?;
        let Some(rider_id) = best_candidate(&candidates, &input.excluded) else {
            return Ok(None);
        };
        let offer = OpenCall {
            reach: CallReach::Offer {
                rider_id: rider_id.clone(),
                expires_at: input.expires_at,
                round: input.round,
            },
            ..input.call
        };
        self.store
            .offer_call(&offer)
            .await
            .map_err(|e| self.failures.read_model("offer call", e))?;
        tracing::info!(%rider_id, "offered the call");
        Ok(Some(rider_id))
    }

    #[activity(definition = workflows::activities::definitions::WithdrawCall)]
    #[tracing::instrument(skip_all, fields(delivery_id = %delivery_id, trace_id = %telemetry::current_trace_id()))]
    pub async fn withdraw_call(
        self: Arc<Self>,
        _ctx: ActivityContext,
        delivery_id: DeliveryId,
    ) -> Result<(), ActivityError> {
        self.store
            .withdraw_call(&delivery_id)
            .await
            .map_err(|e| self.failures.read_model("withdraw call", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rider(id: &str, active: usize, last: Option<i64>) -> Candidate {
        Candidate {
            id: id.parse().unwrap(),
            works_in: true,
            capacity: 2,
            state: RiderDispatch {
                online: true,
                active: (0..active)
                    .map(|i| format!("d-{id}-{i}").parse().unwrap())
                    .collect(),
                last_assigned_at: last.and_then(|s| DateTime::from_timestamp(s, 0)),
            },
            offers_out: 0,
        }
    }

    fn best(candidates: &[Candidate], excluded: &[&str]) -> Option<String> {
        let excluded: Vec<RiderId> = excluded.iter().map(|id| id.parse().unwrap()).collect();
        best_candidate(candidates, &excluded).map(String::from)
    }

    #[test]
    fn fewest_deliveries_first_then_longest_waiting_then_id() {
        let fleet = [
            rider("r-a", 1, None),
            rider("r-b", 0, Some(200)),
            rider("r-c", 0, Some(100)),
            rider("r-d", 0, Some(100)),
        ];
        assert_eq!(best(&fleet, &[]).as_deref(), Some("r-c"));
        assert_eq!(best(&fleet, &["r-c"]).as_deref(), Some("r-d"));
        assert_eq!(best(&fleet, &["r-c", "r-d"]).as_deref(), Some("r-b"));
        assert_eq!(best(&fleet, &["r-b", "r-c", "r-d"]).as_deref(), Some("r-a"));
        // Never assigned waits longest of all.
        let fresh = [rider("r-b", 0, Some(1)), rider("r-z", 0, None)];
        assert_eq!(best(&fresh, &[]).as_deref(), Some("r-z"));
    }

    #[test]
    fn offline_full_elsewhere_and_excluded_riders_get_no_offer() {
        let mut offline = rider("r-a", 0, None);
        offline.state.online = false;
        let full = rider("r-b", 2, None);
        let mut elsewhere = rider("r-c", 0, None);
        elsewhere.works_in = false;
        let passed = rider("r-d", 0, None);
        assert_eq!(best(&[offline, full, elsewhere, passed], &["r-d"]), None);
    }

    #[test]
    fn offers_waiting_for_an_answer_spread_a_burst_over_the_fleet() {
        let mut busy = rider("r-a", 0, None);
        busy.offers_out = 1;
        let fleet = [busy, rider("r-b", 0, Some(100))];
        assert_eq!(best(&fleet, &[]).as_deref(), Some("r-b"));
    }
}
