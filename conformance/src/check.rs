//! What a check is: a name, an area, the reference section it enforces, the capabilities it
//! needs, and an async function that passes or fails with what was expected and what came back.

use std::future::Future;
use std::pin::Pin;

use crate::context::Ctx;

/// A feature a target may or may not have; a check that needs a missing one is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Names differ only in case conflict (the real service and the mock).
    CaseInsensitive,
    /// Files carry tempLinks.
    TempLink,
    /// The mock's admin API: fault rules, token minting, journal.
    FaultInjection,
    /// Synthetic large files through the admin seed API.
    Seed,
    /// The token endpoint can be driven with known client credentials.
    TokenEndpoint,
    /// The changes feed.
    Changes,
    /// Listings show a change as soon as the write is answered (the embedded clean mock); without
    /// it, checks that write and then list wait for the listing (`--settle`, reference §8.8).
    ConsistentListings,
}

impl Capability {
    /// Every capability.
    pub const ALL: &[Capability] = &[
        Capability::CaseInsensitive,
        Capability::TempLink,
        Capability::FaultInjection,
        Capability::Seed,
        Capability::TokenEndpoint,
        Capability::Changes,
        Capability::ConsistentListings,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Capability::CaseInsensitive => "case_insensitive",
            Capability::TempLink => "templink",
            Capability::FaultInjection => "fault_injection",
            Capability::Seed => "seed",
            Capability::TokenEndpoint => "token_endpoint",
            Capability::Changes => "changes",
            Capability::ConsistentListings => "consistent_listings",
        }
    }

    /// Parse a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }
}

/// Why a check failed: what it expected and what it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What the reference says should happen.
    pub expected: String,
    /// What happened.
    pub got: String,
    /// Not a failure: the check could not run here (reported SKIP with `got` as the reason).
    pub skipped: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected {}, got {}", self.expected, self.got)
    }
}

impl Failure {
    /// A failure from its two halves.
    pub fn new(expected: impl Into<String>, got: impl Into<String>) -> Self {
        Self {
            expected: expected.into(),
            got: got.into(),
            skipped: false,
        }
    }

    /// The check cannot run on this target, for `reason`.
    pub fn skip(reason: impl Into<String>) -> Self {
        Self {
            expected: String::new(),
            got: reason.into(),
            skipped: true,
        }
    }
}

/// The area of the checks that run acd-client against the target: they test the client's
/// handling of the service, not the service.
pub const CLIENT_AREA: &str = "client";

/// What a check returns.
pub type Outcome = Result<(), Failure>;

/// The future a check runs.
pub type CheckFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// One named check.
#[derive(Clone)]
pub struct Check {
    /// The area it belongs to (auth, listing, names...).
    pub area: &'static str,
    /// Its name, unique within the suite.
    pub name: &'static str,
    /// The section of `docs/reference.md` it enforces, e.g. "§6.4".
    pub reference: &'static str,
    /// Capabilities it needs.
    pub needs: &'static [Capability],
    /// The check.
    pub run: fn(Ctx) -> CheckFuture,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.area, self.name)
    }
}

impl Check {
    /// `area/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.area, self.name)
    }

    /// True for a check of acd-client against the target (area `client`).
    pub fn is_client_check(&self) -> bool {
        self.area == CLIENT_AREA
    }
}

impl Check {
    /// The area of the checks declared in the module at `module_path` (`module_path!()`): its
    /// last segment, e.g. `names` for `acd_conformance::cases::names`.
    pub fn area_of(module_path: &'static str) -> &'static str {
        module_path.rsplit("::").next().unwrap_or(module_path)
    }
}

/// The checks of a case module, in order: each an `async fn NAME(ctx: Ctx) -> Result<(),
/// Failure>` of the module, registered as `NAME ("§x.y", [Capability...])`. The check's name is
/// the function's, its area the module's ([`Check::area_of`]).
///
/// ```text
/// pub(crate) fn checks() -> Vec<Check> {
///     checks![
///         root_is_found_by_filter ("§6.1", []),
///         trashing_the_root_is_forbidden ("§6.11, §7.2", [Capability::FaultInjection]),
///     ]
/// }
/// ```
#[macro_export]
macro_rules! checks {
    ($($name:ident ($reference:expr, [$($cap:expr),* $(,)?])),* $(,)?) => {
        vec![$(
            $crate::check::Check {
                area: $crate::check::Check::area_of(module_path!()),
                name: stringify!($name),
                reference: $reference,
                needs: &[$($cap),*],
                run: |ctx| Box::pin($name(ctx)),
            }
        ),*]
    };
}

/// Fail unless a condition holds: `ensure!(cond, "expected", "got {}", x)`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $expected:expr, $($got:tt)+) => {
        if !$cond {
            return Err($crate::check::Failure::new($expected, format!($($got)+)));
        }
    };
}

/// Fail unless two values are equal.
#[macro_export]
macro_rules! ensure_eq {
    ($got:expr, $expected:expr, $what:expr) => {
        // `match` keeps temporaries in the expressions alive for the comparison.
        match (&$got, &$expected) {
            (got, expected) => {
                if got != expected {
                    return Err($crate::check::Failure::new(
                        format!("{} = {:?}", $what, expected),
                        format!("{:?}", got),
                    ));
                }
            }
        }
    };
}
