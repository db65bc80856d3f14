//! Rampart's pure core: rules, matching, windows, ban policy and
//! explanations. No I/O, no clock reads, no threads: the shell (the
//! `rampart` binary) reads logs, passes lines and times in, and carries
//! out the decisions that come back.
//!
//! Data flows one way: a line is parsed ([`envelope`]), matched
//! ([`engine`]), counted ([`tracker`]) and decided ([`tracker::Outcome`]);
//! [`detect::Detector`] wires these to the configuration ([`config`]) and
//! the explanation catalogue ([`explain`]).
#![deny(missing_docs)]

pub mod addr;
pub mod builtin;
pub mod config;
pub mod detect;
pub mod distinct;
pub mod duration;
pub mod engine;
pub mod envelope;
pub mod evidence;
pub mod explain;
pub mod fxhash;
pub mod jsonline;
mod keytable;
pub mod rule;
pub mod scanwatch;
pub mod session;
pub mod text;
pub mod time;
pub mod tracker;
pub mod vectors;
mod walk;
