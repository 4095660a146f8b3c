//! A memory budget for requests being ingested. A request that does not fit is answered 503
//! with `Retry-After` at once: memory stays bounded under overload and nothing queues without
//! limit.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const UNIT: usize = 1024;

/// Shared budget, counted in KiB.
#[derive(Clone)]
pub(crate) struct Admission {
    semaphore: Arc<Semaphore>,
    capacity_units: usize,
}

/// Memory held by one request; returned to the budget when dropped.
pub(crate) struct Admitted {
    _permits: Vec<OwnedSemaphorePermit>,
}

impl Admission {
    /// A budget of `capacity_bytes`.
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        let capacity_units = (capacity_bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            semaphore: Arc::new(Semaphore::new(capacity_units)),
            capacity_units,
        }
    }

    /// Takes `bytes` from the budget, or `None` when they are not free now.
    pub(crate) fn try_admit(&self, bytes: usize) -> Option<Admitted> {
        let mut admitted = Admitted {
            _permits: Vec::new(),
        };
        self.try_grow(&mut admitted, bytes).then_some(admitted)
    }

    /// Takes `bytes` more for a request that already holds some.
    pub(crate) fn try_grow(&self, admitted: &mut Admitted, bytes: usize) -> bool {
        let units = bytes.div_ceil(UNIT).max(1);
        let Ok(units) = u32::try_from(units) else {
            return false;
        };
        match Arc::clone(&self.semaphore).try_acquire_many_owned(units) {
            Ok(permit) => {
                admitted._permits.push(permit);
                true
            }
            Err(_) => false,
        }
    }

    /// Bytes currently held by requests.
    pub(crate) fn in_use_bytes(&self) -> usize {
        (self.capacity_units - self.semaphore.available_permits()) * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_what_does_not_fit_and_returns_on_drop() {
        let admission = Admission::new(10 * UNIT);
        let mut first = admission.try_admit(6 * UNIT).unwrap();
        assert!(admission.try_admit(5 * UNIT).is_none());
        assert!(!admission.try_grow(&mut first, 5 * UNIT));
        assert!(admission.try_grow(&mut first, 4 * UNIT));
        assert_eq!(admission.in_use_bytes(), 10 * UNIT);
        drop(first);
        assert_eq!(admission.in_use_bytes(), 0);
        assert!(admission.try_admit(10 * UNIT).is_some());
    }
}
