//! Centralized sampling: each rule's reservoir (traces per second for all of its clients
//! together) is split into per-client quotas, and the counters clients report are kept in
//! 10-second windows for GetSamplingStatisticSummaries.
//!
//! AWS does not publish its allocator. Ours: a client is active for 30 s after its last report;
//! the reservoir is water-filled across active clients by their demand (requests per second
//! in their last report), and what is left over is spread evenly, so the quotas of one rule
//! always add up to exactly its ReservoirSize. Ties and remainders rotate every interval, so
//! no client is always the one left short. This state is soft: after a restart it is rebuilt
//! within one reporting interval.

use std::collections::{BTreeMap, HashMap, VecDeque};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{XRayError, XRayResult};
use crate::rules::SamplingRuleRecord;
use crate::time::Seconds;

/// Seconds between a client's reports, as told to clients.
pub const REPORT_INTERVAL: i64 = 10;
/// How long a quota is valid.
pub const QUOTA_TTL_SECONDS: f64 = 300.0;
/// A client that has not reported for this long gets no share.
pub const ACTIVE_SECONDS: f64 = 30.0;
/// Reports older than this are refused.
pub const MAX_REPORT_AGE_SECONDS: f64 = 300.0;
/// Windows of statistics kept per rule (10 minutes).
const WINDOWS_KEPT: usize = 60;

/// `SamplingStatisticsDocument`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct StatisticsDocument {
    pub rule_name: String,
    #[serde(rename = "ClientID")]
    pub client_id: String,
    #[serde(deserialize_with = "crate::time::required")]
    pub timestamp: Seconds,
    pub request_count: i64,
    pub sampled_count: i64,
    #[serde(default)]
    pub borrow_count: i64,
}

/// `SamplingTargetDocument`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct TargetDocument {
    pub rule_name: String,
    pub fixed_rate: f64,
    pub reservoir_quota: i64,
    #[serde(rename = "ReservoirQuotaTTL")]
    pub reservoir_quota_ttl: Seconds,
    pub interval: i64,
}

/// `UnprocessedStatistics`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct Unprocessed {
    pub rule_name: String,
    pub error_code: String,
    pub message: String,
}

/// `SamplingStatisticSummary`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct StatisticSummary {
    pub rule_name: String,
    pub timestamp: Seconds,
    pub request_count: i64,
    pub borrow_count: i64,
    pub sampled_count: i64,
}

struct Client {
    last_report: Seconds,
    /// Requests per second in the last report.
    demand: f64,
}

#[derive(Default)]
struct RuleState {
    clients: BTreeMap<String, Client>,
    windows: VecDeque<StatisticSummary>,
}

/// Sampling state of every environment and rule.
#[derive(Default)]
pub struct Sampling {
    rules: Mutex<HashMap<(String, String), RuleState>>,
}

fn check_document(document: &StatisticsDocument) -> XRayResult<()> {
    let valid_id = document.client_id.len() == 24
        && document
            .client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric());
    if !valid_id {
        return Err(XRayError::invalid(format!(
            "ClientID {:?} must be 24 characters",
            document.client_id
        )));
    }
    if document.request_count < 0 || document.sampled_count < 0 || document.borrow_count < 0 {
        return Err(XRayError::invalid(format!(
            "the counts reported for rule {} must not be negative",
            document.rule_name
        )));
    }
    Ok(())
}

impl Sampling {
    /// GetSamplingTargets: records the reports and answers each reported rule's quota.
    pub fn targets(
        &self,
        environment: &str,
        documents: &[StatisticsDocument],
        rules: &[SamplingRuleRecord],
        now: Seconds,
    ) -> XRayResult<(Vec<TargetDocument>, Vec<Unprocessed>)> {
        if documents.len() > 25 {
            return Err(XRayError::invalid(format!(
                "at most 25 SamplingStatisticsDocuments; got {}",
                documents.len()
            )));
        }
        documents.iter().try_for_each(check_document)?;
        let mut state = self.rules.lock();
        let mut unprocessed = Vec::new();
        let mut answered = Vec::new();
        for document in documents {
            let Some(rule) = rules
                .iter()
                .map(|r| &r.sampling_rule)
                .find(|r| r.rule_name.as_deref() == Some(document.rule_name.as_str()))
            else {
                unprocessed.push(Unprocessed {
                    rule_name: document.rule_name.clone(),
                    error_code: "RuleNotFound".into(),
                    message: format!("sampling rule {} does not exist", document.rule_name),
                });
                continue;
            };
            if now - document.timestamp > MAX_REPORT_AGE_SECONDS {
                unprocessed.push(Unprocessed {
                    rule_name: document.rule_name.clone(),
                    error_code: "StatisticsTooOld".into(),
                    message: format!(
                        "the statistics are {:.0} s old; at most {MAX_REPORT_AGE_SECONDS:.0} s are accepted",
                        now - document.timestamp
                    ),
                });
                continue;
            }
            let key = (environment.to_owned(), document.rule_name.clone());
            let rule_state = state.entry(key).or_default();
            rule_state.record(document, now);
            answered.push((document.client_id.clone(), rule.clone()));
        }
        let rotation = (now / REPORT_INTERVAL as f64) as usize;
        let targets = answered
            .into_iter()
            .map(|(client, rule)| {
                let name = rule.rule_name.clone().unwrap_or_default();
                let rule_state = state
                    .get_mut(&(environment.to_owned(), name.clone()))
                    .expect("recorded above");
                rule_state.forget_inactive(now);
                let quotas = allocate(rule.reservoir_size, &rule_state.demands(), rotation);
                let index = rule_state.clients.keys().position(|c| *c == client);
                TargetDocument {
                    rule_name: name,
                    fixed_rate: rule.fixed_rate,
                    reservoir_quota: index.map_or(0, |i| quotas[i]),
                    reservoir_quota_ttl: (now + QUOTA_TTL_SECONDS).floor(),
                    interval: REPORT_INTERVAL,
                }
            })
            .collect();
        Ok((targets, unprocessed))
    }

    /// GetSamplingStatisticSummaries: every rule's recent 10-second windows, newest first.
    pub fn summaries(&self, environment: &str) -> Vec<StatisticSummary> {
        let state = self.rules.lock();
        let mut summaries: Vec<StatisticSummary> = state
            .iter()
            .filter(|((env, _), _)| env == environment)
            .flat_map(|(_, rule)| rule.windows.iter().cloned())
            .collect();
        summaries.sort_by(|a, b| {
            b.timestamp
                .total_cmp(&a.timestamp)
                .then(a.rule_name.cmp(&b.rule_name))
        });
        summaries
    }
}

impl RuleState {
    fn record(&mut self, document: &StatisticsDocument, now: Seconds) {
        self.clients.insert(
            document.client_id.clone(),
            Client {
                last_report: now,
                demand: document.request_count as f64 / REPORT_INTERVAL as f64,
            },
        );
        let window_start = (document.timestamp / 10.0).floor() * 10.0;
        if self.windows.back().map(|w| w.timestamp) != Some(window_start) {
            self.windows.push_back(StatisticSummary {
                rule_name: document.rule_name.clone(),
                timestamp: window_start,
                request_count: 0,
                borrow_count: 0,
                sampled_count: 0,
            });
            if self.windows.len() > WINDOWS_KEPT {
                self.windows.pop_front();
            }
        }
        let window = self.windows.back_mut().expect("pushed above");
        window.request_count += document.request_count;
        window.borrow_count += document.borrow_count;
        window.sampled_count += document.sampled_count;
    }

    fn forget_inactive(&mut self, now: Seconds) {
        self.clients
            .retain(|_, client| now - client.last_report <= ACTIVE_SECONDS);
    }

    fn demands(&self) -> Vec<f64> {
        self.clients.values().map(|c| c.demand).collect()
    }
}

/// Splits `reservoir` into integer quotas, one per client, that add up to exactly `reservoir`:
/// first up to each client's demand (water-filling, so a quiet client does not hold quota a busy
/// one needs), then the rest evenly. `rotation` picks who gets remainders.
pub fn allocate(reservoir: i64, demands: &[f64], rotation: usize) -> Vec<i64> {
    let count = demands.len();
    let mut quotas = vec![0_i64; count];
    if count == 0 {
        return quotas;
    }
    let needs: Vec<i64> = demands.iter().map(|d| d.ceil().max(0.0) as i64).collect();
    let mut remaining = reservoir.max(0);
    let order: Vec<usize> = (0..count).map(|i| (i + rotation) % count).collect();
    loop {
        let unmet: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| quotas[i] < needs[i])
            .collect();
        if unmet.is_empty() || remaining == 0 {
            break;
        }
        let share = remaining / unmet.len() as i64;
        if share == 0 {
            for &i in unmet.iter().take(remaining as usize) {
                quotas[i] += 1;
            }
            remaining = 0;
            break;
        }
        for &i in &unmet {
            let give = share.min(needs[i] - quotas[i]);
            quotas[i] += give;
            remaining -= give;
        }
    }
    let even = remaining / count as i64;
    let extra = (remaining % count as i64) as usize;
    for (position, &i) in order.iter().enumerate() {
        quotas[i] += even + i64::from(position < extra);
    }
    quotas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_always_add_up_to_the_reservoir() {
        for reservoir in [0, 1, 5, 7, 100] {
            for demands in [
                vec![],
                vec![0.0],
                vec![1.0, 1.0, 1.0],
                vec![50.0, 0.5, 3.0, 0.0],
            ] {
                for rotation in 0..4 {
                    let quotas = allocate(reservoir, &demands, rotation);
                    assert_eq!(quotas.len(), demands.len());
                    if !demands.is_empty() {
                        assert_eq!(
                            quotas.iter().sum::<i64>(),
                            reservoir,
                            "{reservoir} {demands:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn busy_clients_get_what_quiet_ones_do_not_need() {
        // 10/s to share; one client sees 1 request a second, the other 20.
        assert_eq!(allocate(10, &[1.0, 20.0], 0), vec![1, 9]);
        // Equal demand splits evenly, and the odd one rotates.
        assert_eq!(allocate(5, &[9.0, 9.0], 0), vec![3, 2]);
        assert_eq!(allocate(5, &[9.0, 9.0], 1), vec![2, 3]);
    }
}
