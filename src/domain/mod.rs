//! The business rules of Forecourt and nothing else: no IO, no SQL, no HTTP, no clock.
//!
//! Handlers translate requests into the commands here (`lead::claim`, `lead::move_stage`,
//! `lead::staff_replied`) and translate the returned [`lead::Change`]s into storage writes
//! and jobs. Everything in this module is pure and tested beside the code.

pub mod ai;
pub mod assign;
pub mod call;
pub mod callback;
pub mod delivery;
pub mod digest;
pub mod effects;
pub mod flow;
pub mod ids;
pub mod lead;
pub mod media;
pub mod merge;
pub mod message;
pub mod phone;
pub mod photos;
pub mod report;
pub mod role;
pub mod routing;
pub mod script;
pub mod stage;
pub mod task;
pub mod text;
pub mod topic_plan;
pub mod vehicle;
pub mod when;
pub mod worktime;

pub use ids::*;
pub use lead::{Actor, Change, LeadFacts, LostReason, RuleError};
pub use message::{Channel, Direction, MessageKind};
pub use role::Role;
pub use stage::Stage;
