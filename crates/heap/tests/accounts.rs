//! The allocator counts a thread's memory in its account, and only while it works for it.

use std::hint::black_box;

use combray_heap::{count_this_thread_in, counted_in, Account, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator<std::alloc::System> = CountingAllocator(std::alloc::System);

const MIB: usize = 1024 * 1024;

#[test]
fn work_is_counted_while_it_holds_memory_and_what_it_hands_on_leaves_the_account() {
    let account = Account::new();
    let mut inside = 0;
    let handed_on = counted_in(&account, || {
        let scratch = black_box(vec![1u8; 8 * MIB]);
        inside = account.bytes();
        drop(scratch);
        black_box(vec![2u8; 3 * MIB])
    });
    assert!(inside >= 8 * MIB, "{inside}");
    assert!(account.take_peak() >= 8 * MIB);
    assert!(account.bytes() < MIB, "{}", account.bytes());
    // Freed elsewhere, after the work: nothing more is taken off.
    drop(handed_on);
    assert!(account.bytes() < MIB, "{}", account.bytes());
    assert_eq!(account.take_peak(), account.bytes());
}

#[test]
fn other_threads_and_other_accounts_are_not_counted() {
    let account = Account::new();
    let other = Account::new();
    counted_in(&account, || {
        let elsewhere = std::thread::spawn(|| black_box(vec![0u8; 4 * MIB]).len());
        assert_eq!(elsewhere.join().ok(), Some(4 * MIB));
        counted_in(&other, || black_box(vec![0u8; 2 * MIB]).len());
    });
    assert!(account.take_peak() < MIB, "{}", account.take_peak());
    assert!(other.take_peak() >= 2 * MIB);
    assert!(other.bytes() < MIB);
}

#[test]
fn a_thread_counted_for_life_keeps_counting_until_reset() {
    let account = Account::new();
    let held = {
        let account = account.clone();
        std::thread::spawn(move || {
            count_this_thread_in(account);
            black_box(vec![0u8; 5 * MIB])
        })
        .join()
        .expect("thread")
    };
    // Less what the thread's own teardown freed.
    assert!(account.bytes() > 5 * MIB - 4096, "{}", account.bytes());
    drop(held);
    account.reset();
    assert_eq!(account.bytes(), 0);
}

#[test]
fn held_bytes_count_until_the_guard_goes() {
    let account = Account::new();
    let held = account.hold(7 * MIB);
    assert_eq!(account.bytes(), 7 * MIB);
    drop(held);
    assert_eq!(account.bytes(), 0);
    assert_eq!(account.take_peak(), 7 * MIB);
}
