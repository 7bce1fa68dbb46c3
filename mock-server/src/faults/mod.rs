//! Fault injection: the service's failure modes, on demand, deterministic and accounted for.
//!
//! Every request (direct or inside an intercepted tunnel) passes [`layer::apply`] after it has
//! been classified. Rules ([`rule`]) match requests and answer errors, resets, stalls, latency,
//! cut or corrupted bodies, phantom uploads and lost pages; each counts its matches and
//! firings. Stateful behaviours ([`settings`]) add rate limits, the large-download block,
//! cursor expiry, upload caps and the revoked-app mode. Every random choice comes from one
//! generator seeded by `--seed`, so the same seed and request sequence give the same faults.
//! Profiles ([`profiles`]) bundle rules and settings in TOML.

pub mod admin;
pub mod hooks;
pub mod layer;
pub mod limits;
pub mod pending;
pub mod phantom;
pub mod profiles;
pub mod respond;
pub mod rule;
pub mod settings;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde::Deserialize;

use crate::faults::rule::{Rule, RuleError, RuleState};
use crate::faults::settings::Settings;

/// A rule set and settings, as a profile or a `--faults` file holds them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// Seed for the random generator (a `--seed` flag wins).
    #[serde(default)]
    pub seed: Option<u64>,
    /// The stateful behaviours.
    #[serde(default)]
    pub settings: Settings,
    /// The rules, in the order they are tried.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// The fault state of one server.
#[derive(Debug)]
pub struct Faults {
    rules: RwLock<Vec<Arc<RuleState>>>,
    rng: Mutex<StdRng>,
    seed: u64,
    next_id: Mutex<u64>,
    settings: RwLock<Settings>,
    /// The rate limiters for the current settings.
    pub limits: limits::Limits,
    /// Listing cursors whose page was "lost" by a 429.
    pub lost_pages: Mutex<HashSet<String>>,
    /// Uploads that failed on purpose and appear later.
    pub phantoms: phantom::Phantoms,
    /// Folders listed as `PENDING` for a while after their listing lag.
    pub pending_folders: pending::PendingFolders,
}

impl Faults {
    /// A fault state with this plan on the mock's `clock`; `seed` overrides the plan's (random when neither gives one).
    pub fn new(
        plan: FaultPlan,
        seed: Option<u64>,
        clock: std::sync::Arc<crate::clock::Clock>,
    ) -> Result<Self, RuleError> {
        let seed = seed.or(plan.seed).unwrap_or_else(rand::random);
        let faults = Self {
            rules: RwLock::new(Vec::new()),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            seed,
            next_id: Mutex::new(0),
            limits: limits::Limits::new(&plan.settings, clock),
            settings: RwLock::new(plan.settings),
            lost_pages: Mutex::new(HashSet::new()),
            phantoms: phantom::Phantoms::default(),
            pending_folders: pending::PendingFolders::default(),
        };
        faults.add(plan.rules)?;
        Ok(faults)
    }

    /// The seed in use.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A copy of the current settings.
    pub fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the settings (and rebuilds the rate limiters).
    pub fn set_settings(&self, settings: Settings) {
        self.limits.reset(&settings);
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = settings;
    }

    /// Adds rules after the existing ones; all or none (ids must be unique). Returns their ids.
    pub fn add(&self, rules: Vec<Rule>) -> Result<Vec<String>, RuleError> {
        let mut list = self.rules.write().unwrap_or_else(|e| e.into_inner());
        let mut taken: HashSet<String> = list.iter().map(|r| r.rule.id.clone()).collect();
        let mut fresh = Vec::new();
        for mut rule in rules {
            if rule.id.is_empty() {
                let mut next = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    *next += 1;
                    let id = format!("rule-{next}");
                    if !taken.contains(&id) {
                        rule.id = id;
                        break;
                    }
                }
            }
            if !taken.insert(rule.id.clone()) {
                return Err(RuleError {
                    id: rule.id,
                    field: "id",
                    problem: "a rule with this id already exists".into(),
                });
            }
            fresh.push(Arc::new(RuleState::new(rule)?));
        }
        let ids = fresh.iter().map(|r| r.rule.id.clone()).collect();
        list.extend(fresh);
        Ok(ids)
    }

    /// The live rules, in order.
    pub fn rules(&self) -> Vec<Arc<RuleState>> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Removes one rule; returns whether it existed.
    pub fn remove(&self, id: &str) -> bool {
        let mut list = self.rules.write().unwrap_or_else(|e| e.into_inner());
        let before = list.len();
        list.retain(|r| r.rule.id != id);
        list.len() != before
    }

    /// Removes every rule of a scope (`None`: every rule). Returns how many went.
    pub fn clear(&self, scope: Option<&str>) -> usize {
        let mut list = self.rules.write().unwrap_or_else(|e| e.into_inner());
        let before = list.len();
        match scope {
            Some(scope) => list.retain(|r| r.rule.scope.as_deref() != Some(scope)),
            None => list.clear(),
        }
        before - list.len()
    }

    /// The next number in `[0, 1)` from the seeded generator.
    pub fn draw(&self) -> f64 {
        use rand::RngExt as _;
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random::<f64>()
    }

    /// A seeded number in `[low, high]`.
    pub fn draw_range(&self, low: u64, high: u64) -> u64 {
        use rand::RngExt as _;
        if high <= low {
            return low;
        }
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random_range(low..=high)
    }
}
