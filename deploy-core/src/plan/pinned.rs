//! [`Plan::pinned`]: a plan pinned to what a release ran (a rollback, a
//! promotion). The steps say what they become ([`Step::pin_images`]); the
//! plan drops those left out and names them in its header.
//!
//! [`Step::pin_images`]: crate::Step::pin_images

use super::Plan;
use crate::release::{Pinned, Pinning};

impl Plan {
    /// This plan pinned to what `pinning`'s release ran: each step's
    /// [`Step::pin_images`] applied, the steps left out dropped (and named
    /// in the header), placements computed again.
    ///
    /// # Examples
    ///
    /// See [`Pinning`].
    #[must_use]
    pub fn pinned(mut self, mut pinning: Pinning) -> Plan {
        let mut left_out = Vec::new();
        let mut kept = Vec::new();
        for mut step in std::mem::take(&mut self.steps) {
            match step.step.pin_images(&pinning.pins()) {
                Pinned::Unchanged => kept.push(step),
                Pinned::Replaced(new) => {
                    step.step = new;
                    kept.push(step);
                }
                Pinned::LeftOut(why) => {
                    pinning
                        .left_out
                        .push(format!("{} {}: {why}", step.id, step.step.kind()));
                    left_out.push(step.id);
                }
            }
        }
        for step in &mut kept {
            step.needs.retain(|n| !left_out.contains(n));
        }
        self.steps = kept;
        self.placements = super::build::place(&self.hosts, &self.steps);
        self.pinning = Some(pinning);
        self
    }

    /// What this plan is pinned to, if it is (a rollback, a promotion).
    ///
    /// # Examples
    ///
    /// See [`Pinning`].
    pub fn pinning(&self) -> Option<&Pinning> {
        self.pinning.as_ref()
    }
}
