//! What a running check gets: the target, its own fault scope and folder, seeded randomness,
//! and the recorder.

use std::sync::Arc;

use rand::SeedableRng as _;
use serde_json::Value;

use std::future::Future;
use std::time::Duration;

use crate::api::{Api, CallStats, id};
use crate::check::{Capability, Failure};
use crate::record::Recorder;
use crate::target::{Admin, Target};

/// The context of one check.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The target.
    pub target: Arc<Target>,
    /// The check's id (`area/name`).
    pub check: String,
    /// The run's seed.
    pub seed: u64,
    /// This check's calls: how many, how many retries, and whether retries ran out.
    pub stats: Arc<CallStats>,
    recorder: Option<Arc<Recorder>>,
}

impl Ctx {
    /// A context for `check`.
    pub fn new(
        target: Arc<Target>,
        check: String,
        seed: u64,
        recorder: Option<Arc<Recorder>>,
    ) -> Self {
        Self {
            target,
            check,
            seed,
            stats: Arc::default(),
            recorder,
        }
    }

    /// The fault scope of this check (`x-acd-mock-scope`).
    pub fn scope(&self) -> String {
        self.check.replace('/', "-")
    }

    /// The API, with this check's fault scope on every request.
    pub fn api(&self) -> Api {
        Api {
            scope: Some(self.scope()),
            transport: self.target.transport.for_check(self.stats.clone()),
            ..self.target.api.clone()
        }
    }

    /// A fresh folder for this check inside the run folder.
    pub async fn folder(&self) -> Result<String, Failure> {
        let name = self.scope();
        let node = self.api().folder(&self.target.run_folder, &name).await?;
        Ok(id(&node))
    }

    /// The admin API (fault checks need the `fault_injection` capability).
    pub fn admin(&self) -> Result<Admin, Failure> {
        self.target
            .admin
            .as_ref()
            .map(|a| a.for_check(self.stats.clone()))
            .ok_or_else(|| Failure::skip("the target has no admin API"))
    }

    /// Run `probe` (a read of a listing or search after a write, and its assertions) until it
    /// passes or `--settle` runs out, polling every 250 ms (eventual consistency, §8.8); its
    /// last failure. With `consistent_listings` (the embedded clean mock) it runs once.
    pub async fn settled<T, F, Fut>(&self, mut probe: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let Some(settle) = self.target.settle else {
            return probe().await;
        };
        let deadline = tokio::time::Instant::now() + settle;
        loop {
            match probe().await {
                Ok(v) => return Ok(v),
                Err(f) if f.skipped => return Err(f),
                Err(f) if tokio::time::Instant::now() >= deadline => {
                    return Err(Failure::new(
                        format!("{} (waited {settle:?} for the listing)", f.expected),
                        f.got,
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// Add a fault rule scoped to this check; returns its id.
    pub async fn fault(&self, mut rule: Value) -> Result<String, Failure> {
        rule["scope"] = Value::String(self.scope());
        if rule.get("id").is_none() {
            let n: u32 = rand::random();
            rule["id"] = Value::String(format!("{}-{n:08x}", self.scope()));
        }
        self.admin()?.add_rule(rule).await
    }

    /// Fail unless the rule fired at least `min` times.
    pub async fn fired_at_least(&self, rule: &str, min: u64) -> Result<u64, Failure> {
        let fired = self.admin()?.fired(rule).await?;
        if fired < min {
            return Err(Failure::new(
                format!("fault rule {rule} to fire at least {min} time(s)"),
                format!("it fired {fired} time(s)"),
            ));
        }
        Ok(fired)
    }

    /// Randomness seeded from the run's seed and the check's name.
    pub fn rng(&self) -> rand::rngs::StdRng {
        let mut h: u64 = self.seed ^ 0x9e37_79b9_7f4a_7c15;
        for b in self.check.bytes() {
            h = h.rotate_left(5) ^ u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        rand::rngs::StdRng::seed_from_u64(h)
    }

    /// `len` bytes of seeded data.
    pub fn data(&self, len: usize) -> Vec<u8> {
        use rand::Rng as _;
        let mut rng = self.rng();
        let mut out = vec![0u8; len];
        rng.fill_bytes(&mut out);
        out
    }

    /// Take `bytes` from the run's upload budget, or skip the check.
    pub fn budget(&self, bytes: u64) -> Result<(), Failure> {
        if self.target.reserve(bytes) {
            Ok(())
        } else {
            Err(Failure::skip(format!(
                "--max-bytes leaves no room for {bytes} more bytes"
            )))
        }
    }

    /// Record a response for `--record` / `--compare` (redacted when stored).
    pub fn record(&self, label: &str, value: &Value) {
        if let Some(r) = &self.recorder {
            r.record(&self.check, label, value);
        }
    }

    /// Record only the shape of an account-wide response (totals, the trash), whose values
    /// depend on what else ran.
    pub fn record_shape(&self, label: &str, value: &Value) {
        if let Some(r) = &self.recorder {
            r.record_shape(&self.check, label, value);
        }
    }

    /// Whether the target has a capability.
    pub fn has(&self, capability: Capability) -> bool {
        self.target.capabilities.contains(&capability)
    }
}
